"""The API through real uvicorn on a loopback port, inside the caller's event loop and
TaskGroup; ``/healthz`` and ``/metrics`` (same listener and a separate one)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest
from api_testkit import START, FakeEngine, auth, campaign_body, make_app
from prometheus_client import CollectorRegistry, Counter

from dialerd.api import ApiServer, HealthChecks, build_metrics_app
from dialerd.domain.clock import ManualClock
from dialerd.store import Store


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def registry() -> CollectorRegistry:
    r = CollectorRegistry()
    Counter("dialerd_calls_placed", "Calls placed.", ["campaign"], registry=r).labels("sales").inc(
        5
    )
    return r


async def test_real_server_serves_and_stops_within_bound(
    store: Store, registry: CollectorRegistry
) -> None:
    engine = FakeEngine()
    app = make_app(store, engine, ManualClock(START), registry=registry)
    server = ApiServer(app, "127.0.0.1", 0, shutdown_timeout=2.0)
    port = server.bind()
    assert port > 0
    assert server.url == f"http://127.0.0.1:{port}"
    before = signal.getsignal(signal.SIGTERM)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(server.serve())
        async with asyncio.timeout(5):
            await server.started.wait()
        assert signal.getsignal(signal.SIGTERM) is before  # the daemon keeps its signals
        async with httpx.AsyncClient(base_url=server.url) as client:
            health = await client.get("/healthz")
            assert health.status_code == 200
            assert health.json()["checks"]["store"]["ok"] is True
            r = await client.post("/api/v1/campaigns", json=campaign_body(), headers=auth("admin"))
            assert r.status_code == 201, r.text
            r = await client.post("/api/v1/agents/agent-1/login", headers=auth("agent"))
            assert r.status_code == 200
            r = await client.post("/api/v1/agents/agent-2/login", headers=auth("agent"))
            assert r.status_code == 403
            assert r.json()["field"] == "agent"
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200
            assert metrics.headers["content-type"].startswith("text/plain")
            assert 'dialerd_calls_placed_total{campaign="sales"} 5.0' in metrics.text
            docs = await client.get("/docs")
            assert docs.status_code == 200
        started = time.monotonic()
        await server.shutdown()
        assert time.monotonic() - started < 3.0
    assert engine.names() == ["reload", "agent_login"]
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/healthz")


async def test_separate_metrics_listener_and_cancellation(
    store: Store, registry: CollectorRegistry
) -> None:
    app = make_app(store, None, ManualClock(START), registry=registry, serve_metrics=False)
    api = ApiServer(app, "127.0.0.1", 0, shutdown_timeout=1.0)
    metrics = ApiServer(build_metrics_app(registry), "127.0.0.1", 0, name="metrics")
    api.bind()
    metrics.bind()
    with pytest.raises(ExceptionGroup):
        async with asyncio.TaskGroup() as tg:
            tg.create_task(api.serve())
            tg.create_task(metrics.serve())
            await api.started.wait()
            await metrics.started.wait()
            async with httpx.AsyncClient() as client:
                r = await client.get(f"{metrics.url}/metrics")
                assert "dialerd_calls_placed_total" in r.text
                assert (await client.get(f"{api.url}/metrics")).status_code == 404
                missing = await client.get(f"{metrics.url}/api/v1/campaigns")
                assert missing.status_code == 404
                assert missing.json() == {"error": "Not Found", "field": None}  # as on the API
            raise RuntimeError("daemon stops: the TaskGroup cancels both listeners")
    async with httpx.AsyncClient() as client:
        for url in (api.url, metrics.url):
            with pytest.raises(httpx.ConnectError):
                await client.get(f"{url}/healthz")


async def test_shutdown_before_serve_releases_the_port(store: Store) -> None:
    server = ApiServer(make_app(store, None, ManualClock(START)), "127.0.0.1", 0)
    port = server.bind()
    await server.shutdown()
    again = ApiServer(make_app(store, None, ManualClock(START)), "127.0.0.1", port)
    assert again.bind() == port
    await again.shutdown()


async def test_port_in_use_is_an_error(store: Store) -> None:
    first = ApiServer(make_app(store, None, ManualClock(START)), "127.0.0.1", 0)
    port = first.bind()
    try:
        second = ApiServer(make_app(store, None, ManualClock(START)), "127.0.0.1", port)
        with pytest.raises(OSError):
            second.bind()
    finally:
        await first.shutdown()


# -- /healthz -------------------------------------------------------------------------------


async def _health(store: Store, checks: HealthChecks) -> httpx.Response:
    app = make_app(store, None, ManualClock(START), health=checks)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/healthz")


async def test_healthz_reports_each_check(store: Store) -> None:
    ok = await _health(store, HealthChecks(links=lambda: {"pbx1": "ready", "pbx2": "ready"}))
    assert ok.status_code == 200
    checks = ok.json()["checks"]
    assert checks["links"] == {"ok": True, "states": {"pbx1": "ready", "pbx2": "ready"}}
    assert checks["loop"]["ok"] is True
    assert checks["store"]["ok"] is True

    down = await _health(store, HealthChecks(links=lambda: {"pbx1": "ready", "pbx2": "connecting"}))
    assert down.status_code == 503
    assert down.json()["status"] == "unhealthy"
    assert down.json()["checks"]["links"]["ok"] is False

    slow = await _health(store, HealthChecks(loop_lag=lambda: 2.5, max_loop_lag=1.0))
    assert slow.status_code == 503
    assert slow.json()["checks"]["loop"] == {"ok": False, "lag_seconds": 2.5, "limit": 1.0}


async def test_healthz_store_unreachable(store: Store) -> None:
    async def broken() -> None:
        raise ConnectionRefusedError("db down")

    async def hanging() -> None:
        await asyncio.sleep(10)

    r = await _health(store, HealthChecks(store_ping=broken))
    assert r.status_code == 503
    assert r.json()["checks"]["store"] == {"ok": False, "error": "ConnectionRefusedError"}
    r = await _health(store, HealthChecks(store_ping=hanging, store_timeout=0.05))
    assert r.status_code == 503
    assert "no answer" in r.json()["checks"]["store"]["error"]


async def test_healthz_when_the_database_is_gone(store_url: str, tmp_path: Path) -> None:
    lost = await Store.open(store_url)
    try:
        await lost.close()  # drop pooled connections, then lose the file under it
        for f in await asyncio.to_thread(lambda: list(tmp_path.glob("dialerd.sqlite*"))):
            await asyncio.to_thread(f.unlink)
        r = await _health(lost, HealthChecks())
        assert r.status_code == 503
        assert r.json()["checks"]["store"]["ok"] is False
    finally:
        await lost.close()


async def test_healthz_fails_while_writes_fail_though_reads_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holding SQLite's write lock: reads (the ping) go on, the dialer's
    writes do not, and /healthz says so until a write goes through again."""
    import sqlite3

    from dialerd.domain.changes import NewContact
    from dialerd.store import StoreUnavailable, upgrade
    from dialerd.store import engine as store_engine

    url = f"sqlite+aiosqlite:///{tmp_path / 'locked.sqlite'}"
    await upgrade(url)
    monkeypatch.setattr(store_engine, "BUSY_TIMEOUT_MS", 100)
    store = await Store.open(url, connect_args={"timeout": 0.1})
    try:
        from dialerd.domain.campaign_spec import CampaignSpec

        camp = await store.create_campaign(CampaignSpec.model_validate(campaign_body()), START)
        assert (await _health(store, HealthChecks())).status_code == 200
        other = sqlite3.connect(tmp_path / "locked.sqlite", isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(StoreUnavailable):
                await store.add_contacts(camp.id, [NewContact(phone="+4930111")], START)
            r = await _health(store, HealthChecks())
            assert r.status_code == 503
            checks = r.json()["checks"]
            assert checks["store"]["ok"] is True  # reading still works
            assert checks["store_writes"]["ok"] is False
            assert "locked" in checks["store_writes"]["error"]
        finally:
            other.execute("ROLLBACK")
            other.close()
        await store.add_contacts(camp.id, [NewContact(phone="+4930111")], START)
        assert (await _health(store, HealthChecks())).status_code == 200
    finally:
        await store.close()
