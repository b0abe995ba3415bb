"""The daemon process: store, AMI links, engine, API, MQTT and metrics in one TaskGroup.

Start-up order is chosen so that what systemd and an operator see is true:

1. the store opens (an unmigrated database is refused with the command that fixes it),
   campaign files and agents from the configuration are written into it;
2. the API listeners are bound (a taken port fails the start at once) and start serving, so
   ``/healthz`` answers while the AMI links come up;
3. every ``[[asterisk]]`` link logs in and resynchronises; only then does the engine start,
   the members a previous run left in the campaigns' queues are reconciled (our agents
   adopted, others removed), the configured agents are logged into their campaigns' queues,
   and ``READY=1`` goes out.

``WATCHDOG=1`` is sent only while the loop keeps time and every AMI link is ready. SIGTERM or
SIGINT: ``STOPPING=1``, no new calls, calls in progress may finish for ``[engine]
drain_timeout`` seconds, the rest are closed and written, the agents the daemon logged in
leave the queues (QueueRemove), the store is closed, exit 0. SIGHUP:
re-read the configuration's campaign files and agents and apply them without dropping a call
(settings that need a restart, such as AMI servers or the API port, are reported, not applied).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import structlog

from dialerd.ami import (
    AsteriskServer,
    LinkCounters,
    LinkState,
    LinkStateChange,
    ServerConfig,
    ServerUpdate,
)
from dialerd.api import ApiServer, HealthChecks, TokenGrant, build_app, build_metrics_app
from dialerd.bus import MqttBus
from dialerd.config import ConfigError, DaemonConfig, load_config
from dialerd.config.models import ClassifierConfig
from dialerd.daemon.health import METRIC_STATE, LoopLag, link_errors, link_states, links_ready
from dialerd.daemon.metrics import Metrics
from dialerd.daemon.mqtt_settings import bus_settings
from dialerd.daemon.observe import CallLog, MetricsListener
from dialerd.daemon.provision import ProvisionError, provision
from dialerd.daemon.publish import BusPublisher, disposition_handler
from dialerd.daemon.sdnotify import Notifier, watchdog_interval, watchdog_loop
from dialerd.domain.clock import Clock, SystemClock
from dialerd.engine import Engine, EngineError, EngineListener, EngineSettings
from dialerd.engine.field_check import FieldCheck
from dialerd.engine.journal import journal_file
from dialerd.engine.settings import default_holder
from dialerd.engine.tasks import TaskService
from dialerd.pacing import load_pacing_kernels
from dialerd.store import (
    InstanceLock,
    InstanceTaken,
    SchemaNotCurrent,
    Store,
    StoreError,
    StoreUnavailable,
)
from dialerd.taskflow.classify import ClassifierSettings, make_classifier

log = structlog.get_logger(__name__)

EX_SOFTWARE = 70
EX_UNAVAILABLE = 69
EX_CONFIG = 78

STATUS_INTERVAL = 5.0
"""Seconds (real time) between STATUS= lines and the refresh of slow metrics."""
CONTACTS_GAUGE_SHARE = 0.05
"""At most this share of the time goes into counting a campaign's contacts for
``dialerd_contacts``: the count reads every contact of the campaign (0.24 s on average at
500,000 on PostgreSQL, growing with the campaign), so a campaign whose count takes 1 s is
counted every 20 s, one of up to about 500,000 contacts every ``STATUS_INTERVAL``."""
LOCK_CHECK_INTERVAL = 2.0
"""Seconds (real time) between two checks that the daemon still holds its instance lock (and,
once it is lost, between two attempts to take it again)."""
LOCK_HOLD_REASON = "instance lock lost"
"""Why no new calls are placed (pacing decision, campaign switched) while it is lost."""
STORE_PROBE_TIMEOUT = 2.0
"""Seconds the store's read for ``dialerd_store_up`` may take (as /healthz allows)."""
LEAVE_QUEUES_MIN = 5.0
"""Seconds (real time) the agents get at least to leave the queues at a stop (QueueRemove,
one action per membership, sent together), also when the drain used up its bound."""


class DaemonError(Exception):
    """The daemon cannot start or run; one line for the operator and the exit code to use."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def server_config(entry: Any, wrapup_seconds: float) -> ServerConfig:
    """One ``[[asterisk]]`` table as the AMI layer's settings (the secret unwrapped here)."""
    return ServerConfig(
        name=entry.name,
        host=entry.host,
        port=entry.port,
        username=entry.username,
        secret=entry.secret.get_secret_value(),
        connect_timeout=entry.connect_timeout,
        action_timeout=entry.action_timeout,
        dead_peer_timeout=entry.dead_peer_timeout,
        ping_interval=entry.ping_interval,
        backoff_initial=entry.reconnect_backoff_min,
        backoff_max=entry.reconnect_backoff_max,
        wrapup_seconds=wrapup_seconds,
        max_channels=entry.max_concurrent_calls,
        post_dial_delay=entry.post_dial_delay,
    )


def engine_settings(config: DaemonConfig, **overrides: Any) -> EngineSettings:
    e = config.engine
    values: dict[str, Any] = {
        "tick_seconds": e.tick,
        "lease_ttl": e.lease_ttl,
        "restart_backoff_min": e.runner_restart_backoff_min,
        "restart_backoff_max": e.runner_restart_backoff_max,
        "restart_backoff_reset": e.runner_restart_backoff_reset,
        "agent_servers": {a.name: a.server for a in config.agents if a.server is not None},
        "compliance": config.compliance.to_domain(),
        "retry": config.retry.to_domain(),
        "wrapup_seconds": e.wrapup,
        "holder": default_holder(e.instance),
        "dial_template": e.dial_template,
        "server_dial_templates": {
            a.name: a.dial_template for a in config.asterisk if a.dial_template is not None
        },
    }
    values.update(overrides)
    if "journal" not in values:
        values["journal"] = journal_file(
            e.state_directory(), config.store.display_url(), values["holder"]
        )
    return EngineSettings(**values)


def _database_error(exc: BaseException) -> bool:
    module = type(exc).__module__.split(".")[0]
    return isinstance(exc, OSError) or module in ("sqlalchemy", "asyncpg", "sqlite3", "aiosqlite")


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """A TaskGroup wraps the first failure in a group: hand the caller a plain error."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            exc = first_error(exc)
        if isinstance(exc, DaemonError | KeyboardInterrupt | SystemExit):
            return exc
        if isinstance(exc, StoreUnavailable):
            # the database went away while starting (provisioning, the engine's first reads)
            return DaemonError(str(exc), EX_UNAVAILABLE)
    first = group.exceptions[0]
    log.error("daemon failed", exc_info=first)
    return DaemonError(f"internal error: {type(first).__name__}: {first}", EX_SOFTWARE)


class Daemon:
    """``await Daemon(config).run()``; raises :class:`DaemonError` when it cannot run.

    ``clock`` drives the engine and the AMI layer (a ``ScaledClock`` in the demo);
    ``handle_signals`` installs SIGTERM/SIGINT/SIGHUP handlers (off when the caller owns them,
    e.g. the demo). ``ready`` is set once the daemon dials; :meth:`request_stop` and
    :meth:`request_reload` do what the signals do.
    """

    def __init__(
        self,
        config: DaemonConfig,
        *,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
        metrics: Metrics | None = None,
        handle_signals: bool = True,
        settings: dict[str, Any] | None = None,
        watchdog: float | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.notifier = notifier or Notifier.from_env()
        self.metrics = metrics or Metrics()
        self.listener = MetricsListener(self.metrics)
        self.handle_signals = handle_signals
        self._settings_overrides = settings or {}
        self._watchdog = watchdog if watchdog is not None else watchdog_interval()
        self.lag = LoopLag()
        #: Agents whose log-in failed while an AMI link was not ready: logged in once it is.
        self._pending_logins: set[str] = set()
        self.ready = asyncio.Event()
        self.store: Store | None = None
        self.engine: Engine | None = None
        self.servers: dict[str, AsteriskServer] = {}
        self.bus: MqttBus | None = None
        self.api_urls: dict[str, str] = {}
        self.stopping = False
        self._wake = asyncio.Event()
        self._stop = False
        self._reload = False
        self._ever_ready: set[str] = set()
        self._restarts: dict[str, int] = {}
        self._link_seen: dict[str, dict[str, int]] = {}
        #: campaign name -> time.monotonic() when its contacts are counted next
        self._contacts_due: dict[str, float] = {}
        self.tasks: TaskService | None = None
        #: Campaign filter/sort field names checked again as contacts arrive (the store's).
        self.fields: FieldCheck | None = None
        self._tasks_failing: set[tuple[str, str]] = set()
        self._listeners: list[EngineListener] = []
        self.lock: InstanceLock | None = None
        self._lock_clash: DaemonError | None = None
        """Another daemon took the instance lock while this one had lost it: after the
        drain, the daemon exits with this."""

    def add_listener(self, callback: EngineListener) -> None:
        """Also hand every engine event to ``callback`` (call before :meth:`run`)."""
        self._listeners.append(callback)

    # -- control ----------------------------------------------------------------------------------

    def request_stop(self) -> None:
        if self._stop:
            log.info("stop already requested; draining")
            return
        log.info("stop requested")
        self._stop = True
        self._wake.set()

    def request_reload(self) -> None:
        log.info("reload requested")
        self._reload = True
        self._wake.set()

    def healthy(self) -> bool:
        """What the watchdog pings for: the loop keeps time and every AMI link is ready."""
        return self.lag.healthy and links_ready(self.servers)

    def _stall_limit(self) -> float:
        """``[engine] stall_limit`` (real seconds) on the engine's clock, which an accelerated
        demo runs faster."""
        return self.config.engine.stall_limit * float(getattr(self.clock, "speed", 1.0))

    # -- lifecycle --------------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        load_pacing_kernels()
        installed: list[signal.Signals] = []
        if self.handle_signals:
            for sig, handler in (
                (signal.SIGTERM, self.request_stop),
                (signal.SIGINT, self.request_stop),
                (signal.SIGHUP, self.request_reload),
            ):
                loop.add_signal_handler(sig, handler)
                installed.append(sig)
        try:
            await self._run()
        except BaseExceptionGroup as group:
            raise first_error(group) from None
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    async def _run(self) -> None:
        self.notifier.status("opening the store")
        store = await self._open_store()
        self.store = store
        self.fields = FieldCheck(store)
        self.metrics.store_up.set(1)  # it answered; the status loop probes it from now on
        lock: InstanceLock | None = None
        try:
            # before anything is written or any agent logged in: a second daemon under the
            # same lease holder would close the first one's live calls as lost
            holder = engine_settings(self.config, **self._settings_overrides).holder
            try:
                lock = self.lock = await store.lock_instance(holder)
            except InstanceTaken as exc:
                raise DaemonError(str(exc), EX_UNAVAILABLE) from None
            except StoreUnavailable as exc:
                raise DaemonError(str(exc), EX_UNAVAILABLE) from None
            self.metrics.instance_lock_held.set(1)
            log.info("lease holder", holder=holder)
            await self._provision(store)
            self.servers = {
                s.name: AsteriskServer(
                    server_config(s, self.config.engine.wrapup), clock=self.clock
                )
                for s in self.config.asterisk
            }
            for server in self.servers.values():
                self.metrics.server_lines.labels(server.name).set(server.config.max_channels or 0)
                self.metrics.set_ami_state(server.name, "disconnected")
                server.add_listener(self._link_listener(server.name))
            try:
                for server in self.servers.values():
                    server.start()
                await self._serve(store)
            finally:
                for server in self.servers.values():
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(5):
                            await server.close()
        finally:
            if lock is not None:
                self.lock = None
                await lock.release()
            await store.close()
            log.info("store closed")

    async def _open_store(self) -> Store:
        url = self.config.store.dsn()
        shown = self.config.store.display_url()
        try:
            st = self.config.store
            return await Store.open(
                url,
                connect_timeout=st.connect_timeout,
                command_timeout=st.command_timeout or None,
            )
        except SchemaNotCurrent as exc:
            if self.config.source is not None:
                exc = exc.advising(f"dialerd migrate --config {self.config.source}")
            raise DaemonError(str(exc), EX_CONFIG) from None
        except StoreUnavailable as exc:  # its message names the database (password hidden)
            raise DaemonError(str(exc), EX_UNAVAILABLE) from None
        except Exception as exc:
            # Driver errors (SQLAlchemy's, asyncpg's, sqlite3's) stay inside dialerd.store's
            # vocabulary-free zone; here they only mean "cannot reach the database".
            if not _database_error(exc):
                raise
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise DaemonError(f"database {shown} unavailable: {reason}", EX_UNAVAILABLE) from None

    async def _provision(self, store: Store) -> None:
        try:
            done = await provision(store, self.config, self.clock.now(), self.fields)
        except ProvisionError as exc:
            raise DaemonError(str(exc), EX_CONFIG) from None
        log.info(
            "configuration applied to the store",
            campaigns_created=done.created,
            campaigns_updated=done.updated,
            campaigns_unchanged=done.unchanged,
            campaign_files_skipped=len(done.skipped),
            agents=len(done.agents),
        )

    async def _apis(self, store: Store, engine: Engine) -> list[ApiServer]:
        api = self.config.api
        if not api.enabled:
            return []
        health = HealthChecks(
            links=lambda: link_states(self.servers),
            link_errors=lambda: link_errors(self.servers),
            loop_lag=lambda: self.lag.lag,
            max_loop_lag=self.lag.max_lag,
            stalled=lambda: engine.stalled(self._stall_limit()),
            missing_queues=engine.missing_queues,
        )
        app = build_app(
            store,
            tokens=[TokenGrant.from_config(t) for t in api.tokens],
            engine=engine,
            clock=self.clock,
            registry=self.metrics.registry,
            serve_metrics=not api.metrics_separate,
            health=health,
            max_upload_bytes=int(api.max_upload_size),
            max_json_bytes=int(api.max_json_body),
            max_json_batch_bytes=int(api.max_json_batch_body),
            classifier=make_classifier(classifier_settings(self.config.classifier)),
            # the current floor: a reload may change [compliance]
            compliance=lambda: self.config.compliance.to_domain(),
            field_check=self.fields,
        )
        servers = [ApiServer(app, api.host, api.port, name="api")]
        if api.metrics_port is not None:
            metrics_app = build_metrics_app(self.metrics.registry)
            host = api.metrics_host or api.host
            servers.append(ApiServer(metrics_app, host, api.metrics_port, name="metrics"))
        for s in servers:
            try:
                s.bind()
            except OSError as exc:
                for other in servers:
                    with contextlib.suppress(Exception):
                        await other.shutdown(grace=0)  # closes a bound, never served socket
                raise DaemonError(
                    f"{self.config.source}: api: cannot listen on {s.host}:{s.port}: "
                    f"{exc.strerror or exc}",
                    EX_UNAVAILABLE,
                ) from None
            self.api_urls[s.name] = s.url
        return servers

    async def _serve(self, store: Store) -> None:
        engine = Engine(
            store,
            self.servers,
            self.clock,
            engine_settings(self.config, **self._settings_overrides),
        )
        self.engine = engine
        engine.add_listener(self.listener)
        engine.add_listener(CallLog())
        for callback in self._listeners:
            engine.add_listener(callback)
        if self.config.mqtt.enabled:
            self.bus = MqttBus(
                bus_settings(self.config.mqtt),
                disposition_handler(engine),
                metrics=self.metrics,
            )
            self.metrics.mqtt_started()
            engine.add_listener(BusPublisher(self.bus))
        apis = await self._apis(store, engine)
        async with asyncio.TaskGroup() as tg:
            aux: list[asyncio.Task[None]] = [tg.create_task(self.lag.run(), name="loop-lag")]
            for api in apis:
                aux.append(tg.create_task(api.serve(), name=f"api-{api.name}"))
            if self.bus is not None:
                aux.append(tg.create_task(self.bus.run(), name="mqtt"))
            if self._watchdog:
                aux.append(
                    tg.create_task(
                        watchdog_loop(self.notifier, self._watchdog, self.healthy),
                        name="watchdog",
                    )
                )
            aux.append(tg.create_task(self._status_loop(), name="status"))
            if self.fields is not None:
                aux.append(tg.create_task(self.fields.run(), name="field-check"))
            if self.lock is not None:
                aux.append(tg.create_task(self._keep_lock(store, self.lock, engine), name="lock"))
            # Non-call tasks (export, email, webhook, wait, new_contact), delayed taskflow moves
            # (promote_due), drop folders and inbound intake; its leases use "<holder>/tasks".
            tasks = TaskService(
                store, self.clock, holder=engine.settings.holder, servers=self.servers
            )
            self.tasks = tasks
            aux.append(tg.create_task(tasks.run(), name="tasks"))
            try:
                if await self._wait_links():
                    engine_task = tg.create_task(engine.run(), name="engine")
                    engine_task.add_done_callback(lambda _: self._wake.set())
                    await self._start_dialing(engine, engine_task)
                    await self._control(engine_task)
                    await self._drain(engine, engine_task)
                else:
                    self.notifier.stopping("stopped before the AMI links were ready")
                if self._lock_clash is not None:
                    raise self._lock_clash
            finally:
                for api in apis:
                    with contextlib.suppress(Exception):
                        await api.shutdown(grace=2.0)
                if self.bus is not None:
                    self.bus.close()
                for task in aux:
                    task.cancel()

    async def _keep_lock(self, store: Store, lock: InstanceLock, engine: Engine) -> None:
        """Keep the instance lock for the daemon's life.

        On PostgreSQL the lock lives in one database session: an outage, a restarted server
        or an administrator ending that session frees it while this daemon runs on, and a
        second daemon under the same lease holder could then start and close this one's calls
        as lost. So the lock is checked every ``LOCK_CHECK_INTERVAL``; once lost, no new call
        is placed (calls in progress and their outcomes go on) and it is taken again as soon
        as the database answers. If another daemon took it meanwhile, two dialers must not run
        on one holder: this one stops dialing, drains, and exits 69, as a clash at start does.
        """
        lost_at: float | None = None
        while True:
            await asyncio.sleep(LOCK_CHECK_INTERVAL)  # real time: the database's, not the calls'
            if lost_at is None:
                if await store.instance_held(lock):
                    continue
                lost_at = time.monotonic()
                engine.hold_dialing(LOCK_HOLD_REASON)
                self.metrics.instance_lock_held.set(0)
                log.warning(
                    "instance lock lost with its database session: no new calls until it is"
                    " taken again",
                    holder=lock.holder,
                )
            try:
                await store.retake_instance(lock)
            except StoreUnavailable:
                continue  # the database is still away: the runners log the outage
            except InstanceTaken as exc:
                log.error(
                    "instance lock taken by another daemon while it was lost: stopping",
                    holder=lock.holder,
                    error=str(exc),
                )
                self._lock_clash = DaemonError(
                    f"{exc} (it took the lock while this daemon's database session was lost;"
                    " this daemon drained its calls and stopped)",
                    EX_UNAVAILABLE,
                )
                self.request_stop()
                return
            except Exception as exc:  # a check that fails must not end the daemon: next time
                log.warning("instance lock not taken again", error=f"{type(exc).__name__}: {exc}")
                continue
            engine.hold_dialing(None)
            self.metrics.instance_lock_held.set(1)
            log.info(
                "instance lock taken again",
                holder=lock.holder,
                lost_seconds=round(time.monotonic() - lost_at, 1),
            )
            lost_at = None

    async def _wait_links(self) -> bool:
        """Until every AMI link is ready (True) or a stop is requested (False)."""
        shown = ""
        while not links_ready(self.servers):
            if self._stop:
                return False
            waiting = ", ".join(
                f"{name} ({state})"
                for name, state in link_states(self.servers).items()
                if state != LinkState.READY.value
            )
            if waiting != shown:  # a datagram per change, not five a second
                self.notifier.status(f"waiting for AMI: {waiting}")
                shown = waiting
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.2):
                    await self._wake.wait()
        return not self._stop

    async def _start_dialing(self, engine: Engine, engine_task: asyncio.Task[None]) -> None:
        campaigns = len(await self._store().list_campaigns())
        # The engine starts its runners right after its set-up; it has no event for that.
        while len(engine.status().campaigns) < campaigns and not engine_task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if not engine_task.done():
            await self._reconcile_queues(engine)
        await self._login_agents(engine, [a.name for a in self.config.agents])
        if engine_task.done():
            return  # the engine failed to start: _control reports it, no READY=1
        status = self.status_line()
        self.notifier.ready(status)
        self.ready.set()
        log.info("dialerd ready", status=status, **self.api_urls)

    async def _reconcile_queues(self, engine: Engine) -> None:
        """Members a previous run left in the campaigns' queues (it did not stop cleanly):
        our agents are adopted, anything else removed (``Engine.reconcile_queues``)."""
        try:
            found = await engine.reconcile_queues()
        except Exception as exc:  # a failed clean-up must not keep the daemon from dialing
            log.warning("queue members not reconciled", error=str(exc))
            return
        if found.adopted or found.removed or found.left:
            log.info(
                "queue members reconciled",
                adopted=len(found.adopted),
                removed=len(found.removed),
                left=len(found.left),
            )

    async def _login_agents(self, engine: Engine, names: list[str]) -> None:
        named = {a.name: a.campaigns for a in self.config.agents}
        for name in names:
            try:
                joined = await engine.agent_login(name)
                log.info("agent logged in", agent=name, campaigns=joined)
                missing = [c for c in named.get(name, []) if c not in joined]
                if missing:
                    log.warning(
                        "agent names campaigns it is not logged into (no such campaign, or"
                        " not running)",
                        agent=name,
                        campaigns=missing,
                    )
            except (EngineError, Exception) as exc:  # one agent's failure must not stop dialing
                retry = not links_ready(self.servers)
                if retry:  # the engine re-adds only the logins it made: try again once ready
                    self._pending_logins.add(name)
                log.warning(
                    "agent login failed", agent=name, error=str(exc), retry_when_ready=retry
                )
            else:
                self._pending_logins.discard(name)

    def _store(self) -> Store:
        assert self.store is not None
        return self.store

    async def _control(self, engine_task: asyncio.Task[None]) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if engine_task.done():
                exc = engine_task.exception() if not engine_task.cancelled() else None
                raise DaemonError(f"the engine stopped unexpectedly: {exc!r}", EX_SOFTWARE)
            if self._stop:
                return
            if self._reload:
                self._reload = False
                await self._apply_reload()
            if self._pending_logins and links_ready(self.servers) and self.engine is not None:
                await self._login_agents(self.engine, sorted(self._pending_logins))

    async def _drain(self, engine: Engine, engine_task: asyncio.Task[None]) -> None:
        self.stopping = True
        drain = self.config.engine.drain_timeout
        in_flight = engine.status().calls_in_flight
        self.notifier.stopping(f"stopping: draining {in_flight} calls (up to {drain:g} s)")
        self.notifier.extend_timeout(drain + 30.0)
        log.info("draining", calls_in_flight=in_flight, drain_timeout=drain)
        loop = asyncio.get_running_loop()
        bound = loop.time() + drain + 20.0
        try:
            # The engine's drain runs on its clock; the real-time bound is a safety net only.
            async with asyncio.timeout_at(bound):
                await engine.stop(drain)
        except TimeoutError:
            log.error("engine did not stop within the drain bound; cancelling it")
            engine_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await engine_task
        # No call is in progress now: the agents it logged in leave the queues (else Asterisk
        # keeps offering calls to members no dialer manages), within what is left of the
        # bound (at least LEAVE_QUEUES_MIN, inside the stop timeout told to systemd).
        await engine.leave_queues(max(bound - loop.time(), LEAVE_QUEUES_MIN))
        log.info("engine stopped", **self._totals())

    async def _apply_reload(self) -> None:
        engine = self.engine
        assert engine is not None and self.config.source is not None
        self.notifier.reloading()
        try:
            new = load_config(self.config.source)
        except ConfigError as exc:
            log.error("reload refused: configuration invalid", error=str(exc))
            self.notifier.ready(f"reload failed, old configuration kept: {exc}".splitlines()[0])
            return
        for section in ("store", "asterisk", "api", "mqtt", "engine", "logging"):
            if getattr(new, section) != getattr(self.config, section):
                log.warning("changed setting needs a restart; not applied", section=section)
        old_agents = {a.name for a in self.config.agents}
        new_agents = {a.name for a in new.agents}
        previous = self.config
        self.config = previous.model_copy(
            update={
                "campaigns": new.campaigns,
                "agents": new.agents,
                "compliance": new.compliance,
                "retry": new.retry,
            }
        )
        try:
            # The files are checked (and stored) first: a reload that fails changes nothing.
            await self._provision(self._store())
            for name in sorted(old_agents - new_agents):
                self._pending_logins.discard(name)
                try:
                    await engine.agent_logout(name)
                except Exception as exc:  # one agent must not stop the reload
                    log.warning(
                        "agent removed from the configuration not logged out",
                        agent=name,
                        error=str(exc),
                    )
                else:
                    log.info("agent logged out: removed from the configuration", agent=name)
            engine.set_rules(
                compliance=self.config.compliance.to_domain(), retry=self.config.retry.to_domain()
            )
            # The reload joins the agents already logged in to the queues of campaigns that
            # became theirs (in their pause state); agents not logged in yet log in now.
            await engine.reload()
            await self._login_agents(
                engine, [a.name for a in self.config.agents if not engine.logged_in(a.name)]
            )
        except (DaemonError, StoreError) as exc:
            log.error("reload failed", error=str(exc))
            self.config = previous
            engine.set_rules(
                compliance=previous.compliance.to_domain(), retry=previous.retry.to_domain()
            )
            self.notifier.ready(f"reload failed: {exc}".splitlines()[0])
            return
        log.info("reloaded", agents=len(new_agents), campaign_files=len(new.campaign_paths()))
        self.notifier.ready(self.status_line())

    # -- status and slow metrics ----------------------------------------------------------------

    def _link_listener(self, name: str) -> Callable[[ServerUpdate], None]:
        def on_update(update: ServerUpdate) -> None:
            if not isinstance(update, LinkStateChange):
                return
            self.metrics.set_ami_state(name, METRIC_STATE.get(update.state, "disconnected"))
            if update.state is LinkState.READY:
                if name in self._ever_ready:
                    self.metrics.ami_reconnects.labels(name).inc()
                self._ever_ready.add(name)
            self._wake.set()

        return on_update

    def _totals(self) -> dict[str, Any]:
        t = self.listener.totals
        return {
            "placed": t.placed,
            "answered": t.answered,
            "connected": t.connected,
            "abandoned": t.abandoned,
        }

    def status_line(self) -> str:
        """One line for systemd's STATUS= (shown by ``systemctl status``)."""
        links = ", ".join(f"{n} {s}" for n, s in link_states(self.servers).items())
        if self.engine is None:
            return f"starting; AMI: {links}"
        st = self.engine.status()
        active = sum(1 for c in st.campaigns if c.active)
        agents = self.listener.agents_by_state()
        agent_text = " ".join(f"{n} {s}" for s, n in sorted(agents.items())) or "none"
        t = self.listener.totals
        prefix = "draining" if self.stopping else "dialing"
        return (
            f"{prefix}: {len(st.campaigns)} campaigns ({active} active), "
            f"{st.calls_in_flight} calls in flight; agents: {agent_text}; "
            f"placed {t.placed}, abandoned {t.abandoned}/{t.answered} live; AMI: {links}"
        )

    async def _status_loop(self) -> None:
        """STATUS= lines and the metrics that are polled rather than evented."""
        while True:
            try:
                self.notifier.status(self.status_line())
                await self._refresh_metrics()
            except Exception as exc:  # a status line must never take the daemon down
                log.warning("status refresh failed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(STATUS_INTERVAL)  # real time: an operator's cadence

    def _task_failures(self, m: Metrics) -> None:
        """A task that keeps failing (a folder it cannot write, a dead mail server) as a
        gauge per task, so an alert can fire; the log says why once, not every tick."""
        if self.tasks is None:
            return
        failing: set[tuple[str, str]] = set()
        for runner in self.tasks.runners.values():
            failing |= {(runner.campaign_name, task) for task in runner.errors}
        for key in self._tasks_failing - failing:
            m.task_failing.labels(*key).set(0)
        for key in failing:
            m.task_failing.labels(*key).set(1)
        self._tasks_failing = failing

    def _link_counters(self, name: str, counters: LinkCounters) -> None:
        """The AMI link's own counters as Prometheus counters (they count from 0 per process)."""
        m = self.metrics
        m.ami_reconnects.labels(name)  # present at 0 before the first reconnect
        m.ami_protocol_errors.labels(name)  # and before the first error
        grown = _counter_deltas(self._link_seen.setdefault(name, {}), asdict(counters))
        if grown.get("protocol_errors"):
            m.ami_protocol_errors.labels(name).inc(grown["protocol_errors"])
        for field, reason in _ACTION_FAILURES.items():
            m.ami_action_failures.labels(name, reason).inc(grown.get(field, 0))
        for field, reason in _LINK_FAILURES.items():
            m.ami_link_failures.labels(name, reason).inc(grown.get(field, 0))

    async def _store_answers(self, store: Store) -> bool:
        """What /healthz checks of the store: a read within its timeout, and the latest write
        went through. An outage is the engine's to log (once); here it is only a gauge."""
        try:
            async with asyncio.timeout(STORE_PROBE_TIMEOUT):
                await store.list_campaigns()
        except (TimeoutError, StoreError):
            return False
        return store.writes.failing is None

    async def _refresh_metrics(self) -> None:
        m = self.metrics
        for name, server in self.servers.items():
            m.server_calls.labels(name).set(server.calls.open_count)
            self._link_counters(name, server.link.counters)
        engine = self.engine
        if self.store is None:
            return
        store_up = await self._store_answers(self.store)
        m.store_up.set(1 if store_up else 0)
        if engine is None:
            return
        self._task_failures(m)
        views = engine.status().campaigns
        for name in self.listener.forget_campaigns(v.name for v in views):
            self._restarts.pop(name, None)
            log.info("campaign gone: its metrics removed", campaign=name)
        m.set_queues_missing(engine.missing_queues())
        stalled = engine.stalled(self._stall_limit())
        for view in views:
            m.pacing_stalled.labels(view.name).set(1 if view.name in stalled else 0)
            seen = self._restarts.get(view.name, 0)
            if view.restarts > seen:
                m.runner_restarts.labels(view.name).inc(view.restarts - seen)
            self._restarts[view.name] = view.restarts
        if not store_up:
            # the contact counts would fail (or wait for the statement timeout) every
            # STATUS_INTERVAL: keep the last ones until the store is back
            return
        due: dict[str, float] = {}
        for view in views:
            began = time.monotonic()
            next_at = self._contacts_due.get(view.name)
            if next_at is not None and began < next_at:
                due[view.name] = next_at
                continue
            counts: dict[tuple[str, str], int] = {}
            rows = await self.store.overview(view.id)
            took = time.monotonic() - began
            due[view.name] = began + max(STATUS_INTERVAL, took / CONTACTS_GAUGE_SHARE)
            for row in rows:
                status = "waiting" if row.waiting_for is not None else row.status.value
                key = (row.task, status)
                counts[key] = counts.get(key, 0) + row.count
            m.set_contacts(view.name, [(t, s, n) for (t, s), n in counts.items()])
        self._contacts_due = due


#: LinkCounters field -> reason label of dialerd_ami_action_failures_total.
_ACTION_FAILURES = {
    "action_timeouts": "timeout",
    "action_errors": "error",
    "actions_lost": "link_lost",
}
#: LinkCounters field -> reason label of dialerd_ami_link_failures_total.
_LINK_FAILURES = {
    "connect_failures": "connect_failed",
    "auth_failures": "login_refused",
    "dead_peers": "dead_peer",
}


def _counter_deltas(seen: dict[str, int], now: dict[str, int]) -> dict[str, int]:
    """How much each of the link's monotonic counters grew since ``seen`` (updated)."""
    grown = {k: v - seen.get(k, 0) for k, v in now.items() if v > seen.get(k, 0)}
    seen.update(now)
    return grown


def classifier_settings(cfg: ClassifierConfig) -> ClassifierSettings:
    """``[classifier]`` of the config as the taskflow's settings (the secret unwrapped here)."""
    return ClassifierSettings(
        url=cfg.url,
        model=cfg.model,
        api_key=cfg.api_key.get_secret_value() if cfg.api_key else None,
        timeout=cfg.timeout,
    )
