"""The alert rules and the dashboard's queries in a real Prometheus scraping a running daemon.

``promtool`` checks the rules' syntax and runs them on series written by hand
(``config/prometheus/dialerd-alerts.test.yml``); it cannot tell whether the series the
daemon really exports match what the rules and panels select, or whether a rule that
parses fails when evaluated on them (a ``many-to-many`` matching error is an evaluation
error: the alert is never evaluated at all). Here the daemon runs in this process against two
simulated Asterisks, with its campaign's agents on both (the per-server pacing series exist
only then), and a Prometheus scrapes its ``/metrics`` under two instance names, as it
would two daemons exporting the same campaign, with the project's rules and every dashboard
query loaded as recording rules. Every rule must evaluate without error, and every query
must return series, except those on series that exist only once something went wrong (a
failing task, dropped MQTT events) or on MQTT, which this daemon does not use.

Skipped, with the reason, where the ``prometheus`` binary is not on PATH (``.ci/run`` unpacks
it with promtool from Debian's package into ``.ci-tools``, not installed as a service).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from daemon_component_support import config, prepare, until

from dialerd.config import load_config
from dialerd.daemon.app import Daemon
from dialerd.daemon.sdnotify import Notifier
from dialerd.domain.clock import ScaledClock
from dialerd.sim import SimAsterisk

CONFIG = Path(__file__).resolve().parents[2] / "config"
RULES = CONFIG / "prometheus" / "dialerd-alerts.yml"
DASHBOARD = CONFIG / "grafana" / "dialerd.json"
PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="prometheus not on PATH (.ci/run unpacks it from Debian's prometheus package)",
)

#: Series that exist only once something went wrong, or that only MQTT gives: a healthy
#: daemon without MQTT rightly has none, and their panels stay empty.
NO_SERIES_WHEN_HEALTHY = (
    "dialerd_task_failing",
    "dialerd_queue_missing",  # a series only for a queue found missing
    "dialerd_mqtt_events_dropped_total",
    "dialerd_mqtt_dispositions_total",
)
AGENTS = ("agent-1", "agent-2", "agent-3", "agent-4")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _panel_queries(node: Any, panel: object = None) -> Iterator[tuple[object, str]]:
    """(panel id, query) of every target of the dashboard."""
    if isinstance(node, dict):
        here = node.get("id", panel) if "targets" in node else panel
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield panel, value
            else:
                yield from _panel_queries(value, here)
    elif isinstance(node, list):
        for item in node:
            yield from _panel_queries(item, panel)


def _api(port: int, path: str, **params: str) -> Any:
    url = f"http://127.0.0.1:{port}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]


def _two_server_config(db_url: str, east: int, west: int, api_port: int) -> str:
    """The support module's config on two servers: east (its ``sim``) and west, two agents
    pinned on each, the API (and /metrics) on ``api_port``."""
    text = config(db_url, east, [(a, "alpha") for a in AGENTS])
    text = text.replace('name = "sim"', 'name = "east"')
    text = text.replace(
        "[api]\nenabled = false",
        f'[[asterisk]]\nname = "west"\nport = {west}\nusername = "dialer"\n'
        f'secret = "dialerpass"\n[api]\nhost = "127.0.0.1"\nport = {api_port}',
    )
    for i, agent in enumerate(AGENTS):
        server = "east" if i < len(AGENTS) // 2 else "west"
        text = text.replace(
            f'interface = "Local/{agent}@sim-agents"',
            f'interface = "Local/{agent}@sim-agents"\nserver = "{server}"',
        )
    return text


def _prometheus_config(tmp: Path, metrics_port: int) -> Path:
    """Scrape the daemon every second as two targets; load the project's rules and the
    dashboard's queries (Grafana's variables filled in) as recording rules."""
    filled = {"$__rate_interval": "15s", "$campaign": ".+", "$server": ".+"}
    records = []
    for i, (panel, query) in enumerate(_panel_queries(json.loads(DASHBOARD.read_text()))):
        for var, value in filled.items():
            query = query.replace(var, value)
        records.append({"record": f"dashboard:panel_{panel}:query_{i}", "expr": query})
    dashboard = tmp / "dashboard-queries.yml"
    dashboard.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    path = tmp / "prometheus.yml"
    targets = [f"127.0.0.1:{metrics_port}", f"localhost:{metrics_port}"]
    path.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(RULES), str(dashboard)],
                "scrape_configs": [
                    {"job_name": "dialerd", "static_configs": [{"targets": targets}]}
                ],
            }
        )
    )
    return path


async def test_prometheus_evaluates_every_rule_and_dashboard_query_on_the_daemons_metrics(
    tmp_path: Path,
) -> None:
    clock = ScaledClock(20.0, start=datetime.now(UTC))
    db_url = await prepare(tmp_path, "alpha", clock.now(), contacts=400)
    east, west = SimAsterisk(port=0, clock=clock, seed=1), SimAsterisk(port=0, clock=clock, seed=2)
    await east.start()
    await west.start()
    api_port, prom_port = _free_port(), _free_port()
    cfg = tmp_path / "dialerd.toml"
    cfg.write_text(_two_server_config(db_url, east.port, west.port, api_port))
    daemon = Daemon(load_config(cfg), clock=clock, notifier=Notifier(None), watchdog=0)
    prom_cfg = _prometheus_config(tmp_path, api_port)
    assert PROMETHEUS is not None
    log = (tmp_path / "prometheus.log").open("w")
    prometheus = await asyncio.create_subprocess_exec(
        PROMETHEUS,
        f"--config.file={prom_cfg}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(daemon.run())
            await until(daemon.ready.is_set)
            try:
                rules, empty = await _evaluated(prom_port)
            finally:
                daemon.request_stop()
            await task
    finally:
        prometheus.terminate()
        await asyncio.wait_for(prometheus.wait(), 30)
        log.close()
        await east.stop()
        await west.stop()

    bad = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert not bad, f"rules Prometheus could not evaluate: {bad}"
    alerts = {r["name"] for r in rules if r["type"] == "alerting"}
    assert alerts == {r["alert"] for r in yaml.safe_load(RULES.read_text())["groups"][0]["rules"]}
    assert not empty, f"dashboard queries that returned no series: {empty}"


async def _evaluated(port: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Every rule of the loaded groups once each has been evaluated, and the dashboard queries
    without series, once the daemon has placed calls on both servers (or after a minute:
    what is still empty then is reported)."""
    rules: list[dict[str, Any]] = []
    empty: list[str] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + 60.0
    while loop.time() < end:
        await asyncio.sleep(2.0)
        try:
            groups = (await asyncio.to_thread(_api, port, "rules"))["groups"]
        except OSError:
            continue  # not listening yet
        rules = [r for g in groups for r in g["rules"]]
        if not rules or any(r.get("lastEvaluation", "").startswith("0001") for r in rules):
            continue
        empty = []
        for r in rules:
            if r["type"] != "recording" or any(m in r["query"] for m in NO_SERIES_WHEN_HEALTHY):
                continue
            if not (await asyncio.to_thread(_api, port, "query", query=r["name"]))["result"]:
                empty.append(f"{r['name']}: {r['query']}")
        placed = await asyncio.to_thread(
            _api, port, "query", query="sum by (server) (dialerd_pacing_server_input)"
        )
        if not empty and len(placed["result"]) == 2:
            break
    return rules, empty
