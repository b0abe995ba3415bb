"""Engine settings: what the daemon's configuration decides for every campaign runner.

Times are in seconds of the engine's clock, so an accelerated clock speeds them up too.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dialerd.domain.compliance import ComplianceFloor
from dialerd.domain.model import RetryPolicy, default_retry_policy
from dialerd.domain.phone import dial_template_problem


def default_holder(instance: str | None = None) -> str:
    """``dialerd@<host>``, or ``dialerd@<host>/<instance>`` for one of several daemons a host
    runs on one database on purpose (``[engine] instance``)."""
    base = f"dialerd@{socket.gethostname()}"
    return f"{base}/{instance}" if instance else base


def _default_holder() -> str:
    return default_holder()


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """``holder`` names this daemon in leases: it must be unique per daemon and stable across
    its restarts, so a restarted daemon recognises (and closes) the attempts it left open
    (the daemon holds a lock on it, :meth:`dialerd.store.Store.lock_instance`).

    ``dial_template`` turns a contact's number into the Originate channel (``{number}`` as
    stored, ``{digits}`` without the leading ``+``); the default matches the simulator and the
    ``asterisk-test/`` configuration. ``server_dial_templates`` overrides it per server name
    (each Asterisk has its own trunk). Both come from the TOML file (``[engine]
    dial_template``, ``[[asterisk]] dial_template``). ``agent_servers`` maps an agent name to
    the Asterisk server its softphone is registered on (default: the first server).

    ``compliance`` is the daemon's ``[compliance]`` floor: every campaign the engine loads is
    held to it (:func:`dialerd.domain.compliance.tighten`), however the campaign was stored
    (campaign file, API, command line). None: campaigns run as stored (tests, tools).
    ``retry`` is the daemon's ``[retry]``: the retry policy of call tasks, for whatever a task
    and its campaign leave out. ``wrapup_seconds`` is the daemon's ``[engine] wrapup``: the
    wrap-up limit of a campaign that sets no ``wrapup.limit`` of its own.

    A runner that fails because the database is away is not a crash: it tries again after
    ``restart_backoff_min`` doubling up to ``store_retry_max`` (short, so the outcomes it holds
    are written soon after the database is back); a crashing runner waits
    ``restart_backoff_min`` doubling up to ``restart_backoff_max``, back to the minimum once
    it has run ``restart_backoff_reset`` seconds before crashing again.
    """

    tick_seconds: float = 1.0
    lease_ttl: float = 300.0
    holder: str = field(default_factory=_default_holder)
    dial_template: str = "Local/{number}@sim-callees"
    server_dial_templates: Mapping[str, str] = field(default_factory=dict)
    connect_context: str = "dialer-connect"
    amd_context: str = "dialer-connect-amd"
    amd_delay_seconds: float = 2.5
    restart_backoff_min: float = 1.0
    restart_backoff_max: float = 60.0
    store_retry_max: float = 10.0
    restart_backoff_reset: float = 300.0
    window_refresh_seconds: float = 60.0
    timezone_cache_seconds: float = 60.0
    max_lease_batch: int = 100
    preview_skip_delay: float = 600.0
    agent_servers: Mapping[str, str] = field(default_factory=dict)
    compliance: ComplianceFloor | None = None
    retry: RetryPolicy = field(default_factory=default_retry_policy)
    wrapup_seconds: float = 30.0
    disposition_wait: float = 3.0
    queue_check_seconds: float = 60.0
    """How often every queue the campaigns need is checked on each Asterisk server (and at once
    when its link becomes ready): a queue defined later (``module reload app_queue``) lets its
    campaign dial again within this time (:mod:`dialerd.engine.queues`)."""
    """How long a disposition's caller waits for it to be written before being told it is
    queued (kept in memory, written when the database answers)."""
    journal: Path | None = None
    """The file where outcomes the database cannot take at a stop are kept, and which the next
    start writes into the store before dialing (:mod:`dialerd.engine.journal`; the daemon's
    is in its state directory). None: no journal, such outcomes are logged and lost."""

    def __post_init__(self) -> None:
        if self.tick_seconds <= 0:
            raise ValueError("tick_seconds must be positive")
        if self.lease_ttl < 10:
            raise ValueError("lease_ttl must be at least 10 s")
        if self.restart_backoff_min <= 0 or self.restart_backoff_max < self.restart_backoff_min:
            raise ValueError("restart backoff: 0 < min <= max")
        if self.restart_backoff_reset <= 0:
            raise ValueError("restart_backoff_reset must be positive")
        if self.store_retry_max < self.restart_backoff_min:
            raise ValueError("store_retry_max must be at least restart_backoff_min")
        for key, template in (
            ("dial_template", self.dial_template),
            *((f"server_dial_templates[{k!r}]", v) for k, v in self.server_dial_templates.items()),
        ):
            problem = dial_template_problem(template)
            if problem is not None:
                raise ValueError(f"{key} {template!r} {problem}")
        if self.wrapup_seconds < 0:
            raise ValueError("wrapup_seconds must not be negative")
        if self.disposition_wait < 0:
            raise ValueError("disposition_wait must not be negative")
        if self.queue_check_seconds <= 0:
            raise ValueError("queue_check_seconds must be positive")
        if self.max_lease_batch < 1:
            raise ValueError("max_lease_batch must be at least 1")

    def dial_string(self, phone: str, server: str | None = None) -> str:
        """The Originate channel for ``phone`` on ``server`` (its own template, if any)."""
        template = self.server_dial_templates.get(server or "", self.dial_template)
        return template.format(number=phone, digits=phone.lstrip("+"))
