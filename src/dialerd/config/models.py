"""The daemon's one configuration file, as pydantic models.

Every table forbids unknown keys: a misspelt key is an error naming it, not a silently ignored
setting. Durations are float seconds (see :mod:`dialerd.config.types`). Secrets are
``SecretStr`` and come from the sources described in :mod:`dialerd.config.secrets`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ByteSize,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from dialerd.config.errors import FieldProblem
from dialerd.config.secrets import context_base_dir, resolve_secret
from dialerd.config.types import DialTemplate, Name, Seconds
from dialerd.domain.campaign_spec import abandonment_window, default_abandonment_windows
from dialerd.domain.compliance import ComplianceFloor
from dialerd.domain.enums import CallResult
from dialerd.domain.model import RetryPolicy, RetryRule, default_retry_policy

Port = Annotated[int, Field(ge=0, le=65535)]

DEFAULT_STATE_DIR = Path("/var/lib/dialerd")


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _find_duplicates(names: list[str]) -> list[tuple[int, str]]:
    seen: set[str] = set()
    dups = []
    for i, name in enumerate(names):
        if name in seen:
            dups.append((i, name))
        seen.add(name)
    return dups


# --------------------------------------------------------------------------------------- store


class StoreConfig(_Table):
    """Where campaigns, contacts and attempts live.

    SQLite (default) for one daemon; PostgreSQL when several daemons share campaigns. The
    password is kept out of ``url`` so the URL can be shown and logged; :meth:`dsn` joins them.
    """

    url: str = "sqlite+aiosqlite:////var/lib/dialerd/dialerd.db"
    password: SecretStr | None = None
    #: PostgreSQL: a connect, and a statement, taking longer fail as "database unavailable"
    #: (0: no bound); a connection that silently stopped answering then holds nothing up
    #: for long.
    connect_timeout: Seconds = Field(default=10.0, gt=0, le=600)
    command_timeout: Seconds = Field(default=30.0, ge=0, le=3600)

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any, info: ValidationInfo) -> Any:
        return resolve_secret(data, "password", info, default_credential="db-password")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if not scheme.startswith(("sqlite", "postgresql")):
            raise ValueError(
                "must be a sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB URL"
            )
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def dsn(self) -> str:
        """The URL to connect with, password included: hand it to the store, never to a log."""
        if self.password is None or self.is_sqlite:
            return self.url
        parts = urlsplit(self.url)
        user = parts.username or ""
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        secret = quote(self.password.get_secret_value(), safe="")
        netloc = f"{quote(user, safe='')}:{secret}@{host}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def display_url(self) -> str:
        """The URL with any password in it masked, for logs and summaries."""
        return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", self.url)


# ------------------------------------------------------------------------------------ asterisk


class AsteriskServer(_Table):
    """One Asterisk, reached over one AMI link."""

    name: Name
    host: str = "127.0.0.1"
    port: Port = 5038
    username: str = Field(min_length=1)
    secret: SecretStr
    ping_interval: Seconds = Field(default=2.5, gt=0, le=60)
    dead_peer_timeout: Seconds = Field(default=10.0, gt=0, le=300)
    action_timeout: Seconds = Field(default=5.0, gt=0, le=120)
    connect_timeout: Seconds = Field(default=5.0, gt=0, le=120)
    reconnect_backoff_min: Seconds = Field(default=0.5, gt=0, le=60)
    reconnect_backoff_max: Seconds = Field(default=30.0, gt=0, le=3600)
    max_concurrent_calls: int = Field(default=30, ge=1, le=100_000)
    #: The trunk's post-dial delay: from the dial until the callee's phone rings. Asterisk's
    #: Originate timeout includes it, so a predictive short ring (``dial.min_ring``, the
    #: legal minimum of *ringing*) gets this much more timeout on this server's calls.
    post_dial_delay: Seconds = Field(default=3.0, ge=0, le=10)
    #: The Originate channel of a number on this server (its trunk), e.g.
    #: ``PJSIP/{digits}@carrier-1``; unset: ``[engine] dial_template``.
    dial_template: DialTemplate | None = None

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any, info: ValidationInfo) -> Any:
        name = data.get("name") if isinstance(data, dict) else None
        default = f"ami-{name}" if isinstance(name, str) and name else None
        return resolve_secret(data, "secret", info, default_credential=default)

    @model_validator(mode="after")
    def _consistent(self) -> AsteriskServer:
        if self.dead_peer_timeout <= self.ping_interval:
            raise FieldProblem(
                "dead_peer_timeout",
                f"must be longer than ping_interval ({self.ping_interval:g} s), "
                "or a single late Pong would count as a dead peer",
            )
        if self.reconnect_backoff_min > self.reconnect_backoff_max:
            raise FieldProblem("reconnect_backoff_min", "must not exceed reconnect_backoff_max")
        return self


# ----------------------------------------------------------------------------------------- api

Role = Literal["admin", "supervisor", "agent", "readonly"]


class ApiToken(_Table):
    """A bearer token. An ``agent`` token acts only for the agent it names."""

    name: Name
    role: Role
    agent: Name | None = None
    token: SecretStr

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any, info: ValidationInfo) -> Any:
        return resolve_secret(data, "token", info)

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (use e.g. `openssl rand -hex 32`)")
        return value

    @model_validator(mode="after")
    def _agent_binding(self) -> ApiToken:
        if self.role == "agent" and self.agent is None:
            raise FieldProblem("agent", "an agent token must name its agent")
        if self.role != "agent" and self.agent is not None:
            raise FieldProblem("agent", f"only agent tokens are bound to an agent, not {self.role}")
        return self


class ApiConfig(_Table):
    """The REST API; ``/metrics`` is on the same listener unless ``metrics_port`` is set."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: Port = 8080
    metrics_host: str | None = None
    metrics_port: Port | None = None
    max_upload_size: ByteSize = Field(default=ByteSize(1 << 30), ge=1)
    """The largest import file ``POST .../imports`` takes (``"1GiB"``, ``"200MB"`` or bytes);
    a larger one is refused (413) while it arrives, before it fills the disk."""
    max_json_body: ByteSize = Field(default=ByteSize(4 << 20), ge=1024)
    """The largest request body of every other operation (a contact, a bulk edit, a campaign
    definition): FastAPI holds a body whole in memory, so a larger one is refused (413) from its
    ``Content-Length`` or while it arrives. The largest lists these take (100,000 contact ids
    or numbers) are about 3 MB."""
    max_json_batch_body: ByteSize = Field(default=ByteSize(32 << 20), ge=1024)
    """The same for ``POST .../contacts/batch`` (up to 10,000 contacts with their fields)."""
    tokens: list[ApiToken] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> ApiConfig:
        for i, name in _find_duplicates([t.name for t in self.tokens]):
            raise FieldProblem(f"tokens[{i}].name", f"token name {name!r} is used twice")
        for i, _ in _find_duplicates([t.token.get_secret_value() for t in self.tokens]):
            raise FieldProblem(f"tokens[{i}].token", "the same token value is given twice")
        if (
            self.metrics_port is not None
            and self.metrics_port == self.port
            and self.port != 0
            and (self.metrics_host or self.host) == self.host
        ):
            raise FieldProblem("metrics_port", "equals port: leave it out to share the listener")
        return self

    @property
    def metrics_separate(self) -> bool:
        return self.metrics_port is not None


# ---------------------------------------------------------------------------------- classifier


class ClassifierConfig(_Table):
    """How free-text agent notes get a result class.

    Without ``url`` the built-in offline keyword rules classify (no network needed). With ``url``
    an OpenAI-compatible chat endpoint is asked; on any error the rules answer instead.
    """

    url: str | None = None
    model: str = Field(default="gpt-4o-mini", min_length=1, max_length=200)
    api_key: SecretStr | None = None
    timeout: Seconds = Field(default=5.0, gt=0, le=120)

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any, info: ValidationInfo) -> Any:
        return resolve_secret(data, "api_key", info)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must look like http(s)://HOST[:PORT]/v1/chat/completions")
        return value


# ---------------------------------------------------------------------------------------- mqtt


class MqttConfig(_Table):
    """Events out to agent desktops and dashboards, dispositions in."""

    enabled: bool = False
    url: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: SecretStr | None = None
    client_id: str = Field(default="dialerd", min_length=1, max_length=128)
    topic_prefix: str = "dialerd"
    keepalive: Seconds = Field(default=30.0, ge=5, le=3600)
    queue_size: int = Field(default=10_000, ge=1, le=10_000_000)
    reconnect_backoff_min: Seconds = Field(default=0.5, gt=0, le=60)
    reconnect_backoff_max: Seconds = Field(default=30.0, gt=0, le=3600)

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any, info: ValidationInfo) -> Any:
        return resolve_secret(data, "password", info)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("must look like mqtt://HOST:PORT or mqtts://HOST:PORT")
        try:
            _ = parts.port
        except ValueError:
            raise ValueError("has an invalid port") from None
        return value

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str) -> str:
        if any(c in value for c in "/+#\0 "):
            raise ValueError("must not contain '/', '+', '#' or spaces (it is also a topic level)")
        return value

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        if not value or any(c in value for c in "+#\0"):
            raise ValueError("must be a non-empty topic without wildcards (+, #)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MqttConfig:
        if self.reconnect_backoff_min > self.reconnect_backoff_max:
            raise FieldProblem("reconnect_backoff_min", "must not exceed reconnect_backoff_max")
        return self

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (8883 if parts.scheme == "mqtts" else 1883)

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts"


# -------------------------------------------------------------------------------------- engine


class EngineConfig(_Table):
    tick: Seconds = Field(default=1.0, ge=0.05, le=60)
    #: The Originate channel of a contact's number: ``{number}`` as stored (E.164, ``+49...``),
    #: ``{digits}`` without the ``+``; e.g. ``PJSIP/{digits}@carrier``. A server's own
    #: ``[[asterisk]] dial_template`` wins. The default dials the simulator's and
    #: asterisk-test's ``sim-callees`` context.
    dial_template: DialTemplate = "Local/{number}@sim-callees"
    drain_timeout: Seconds = Field(default=60.0, ge=0, le=3600)
    wrapup: Seconds = Field(default=30.0, ge=0, le=3600)
    lease_ttl: Seconds = Field(default=300.0, ge=10, le=86400)
    runner_restart_backoff_min: Seconds = Field(default=1.0, gt=0, le=600)
    runner_restart_backoff_max: Seconds = Field(default=60.0, gt=0, le=3600)
    #: A runner that ran this long before crashing restarts after the minimum again.
    runner_restart_backoff_reset: Seconds = Field(default=300.0, gt=0, le=86400)
    #: /healthz fails when a campaign runner has not completed a pass (events, housekeeping,
    #: a pacing decision) for this long: it is stuck, e.g. on a database that stopped answering.
    stall_limit: Seconds = Field(default=20.0, gt=0, le=3600)
    #: Names this daemon among several that one host runs on one database: the lease holder
    #: becomes ``dialerd@<host>/<instance>`` (default ``dialerd@<host>``). Keep it stable
    #: across restarts: a restarted daemon closes the calls its holder left open.
    instance: Name | None = None
    #: Where the daemon keeps what must outlive it: the journal of dispositions taken and call
    #: outcomes not written during a database outage, written into the database by the next
    #: start. Relative paths are relative to the config file. Default: systemd's
    #: ``$STATE_DIRECTORY`` (``StateDirectory=``), else ``/var/lib/dialerd``
    #: (:meth:`state_directory`).
    state_dir: Path | None = None

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> EngineConfig:
        if self.runner_restart_backoff_min > self.runner_restart_backoff_max:
            raise FieldProblem(
                "runner_restart_backoff_min", "must not exceed runner_restart_backoff_max"
            )
        if self.state_dir is not None and not self.state_dir.is_absolute():
            return self.model_copy(update={"state_dir": context_base_dir(info) / self.state_dir})
        return self

    def state_directory(self, environ: Mapping[str, str] | None = None) -> Path:
        """``state_dir``, else the first of systemd's ``$STATE_DIRECTORY``, else
        ``/var/lib/dialerd`` (the unit's ``StateDirectory=dialerd``)."""
        if self.state_dir is not None:
            return self.state_dir
        env = os.environ if environ is None else environ
        given = env.get("STATE_DIRECTORY", "").split(":", 1)[0]
        return Path(given) if given else DEFAULT_STATE_DIR


# ---------------------------------------------------------------------------- campaigns, agents


class CampaignFile(_Table):
    """Campaign definition file(s); their format belongs to the store's campaign spec.

    ``file`` names one file that must exist; ``glob`` (``campaigns/*.toml``) names a directory
    of them, so operators add a campaign by dropping a file and sending SIGHUP.
    Relative paths are relative to the daemon's config file.
    """

    file: Path | None = None
    glob: str | None = None

    @model_validator(mode="after")
    def _one(self, info: ValidationInfo) -> CampaignFile:
        if (self.file is None) == (self.glob is None):
            raise FieldProblem("file", "give exactly one of file or glob")
        base = context_base_dir(info)
        if self.file is not None:
            path = self.file if self.file.is_absolute() else base / self.file
            if not path.is_file():
                raise FieldProblem("file", f"campaign file {str(path)!r} does not exist")
            return self.model_copy(update={"file": path})
        assert self.glob is not None
        pattern = self.glob if Path(self.glob).is_absolute() else str(base / self.glob)
        return self.model_copy(update={"glob": pattern})

    def paths(self) -> list[Path]:
        """The files this entry names now (a glob is expanded at each call, e.g. on reload)."""
        if self.file is not None:
            return [self.file]
        import glob as globmod

        return sorted(Path(p) for p in globmod.glob(self.glob or "") if Path(p).is_file())


_INTERFACE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/[^\s,&]+$")


class AgentConfig(_Table):
    """An agent: a person at a softphone (``PJSIP/101``) or a simulated one (``Local/...``)."""

    name: Name
    interface: str
    campaigns: list[Name] = Field(default_factory=list)
    skills: list[Name] = Field(default_factory=list)
    server: Name | None = None

    @field_validator("interface")
    @classmethod
    def _interface(cls, value: str) -> str:
        if not _INTERFACE.match(value):
            raise ValueError("must be a channel like PJSIP/101 or Local/agent-1@sim-agents")
        return value


# --------------------------------------------------------------------------------------- retry


class RetryRuleConfig(_Table):
    delay: Seconds = Field(ge=0)
    max_attempts: int = Field(ge=1, le=100)

    def to_domain(self) -> RetryRule:
        from datetime import timedelta

        return RetryRule(delay=timedelta(seconds=self.delay), max_attempts=self.max_attempts)


def _rule(result: str) -> RetryRuleConfig:
    """The documented default of one result (:func:`dialerd.domain.model.default_retry_policy`)."""
    rule = default_retry_policy().rules[CallResult(result)]
    return RetryRuleConfig(delay=rule.delay.total_seconds(), max_attempts=rule.max_attempts)


_RETRY_RESULTS = ("busy", "no_answer", "congestion", "machine", "failed_unknown", "abandoned")


class RetryConfig(_Table):
    """Default retry policy of call tasks: what a campaign's (or its task's) ``retry`` leaves
    out comes from here, applied by the engine when the call ends (so a change reaches every
    campaign without its own setting; SIGHUP applies it).

    Results without a rule here (``connected``, ``invalid_number``) are final. ``abandoned``
    caps the attempts of a contact whose call was abandoned and delays it at least as long as
    the campaign's ``abandon_hold_off``.
    """

    max_attempts: int = Field(default=default_retry_policy().max_attempts, ge=1, le=100)
    busy: RetryRuleConfig = Field(default_factory=lambda: _rule("busy"))
    no_answer: RetryRuleConfig = Field(default_factory=lambda: _rule("no_answer"))
    congestion: RetryRuleConfig = Field(default_factory=lambda: _rule("congestion"))
    machine: RetryRuleConfig = Field(default_factory=lambda: _rule("machine"))
    failed_unknown: RetryRuleConfig = Field(default_factory=lambda: _rule("failed_unknown"))
    abandoned: RetryRuleConfig = Field(default_factory=lambda: _rule("abandoned"))

    def to_domain(self) -> RetryPolicy:
        rules = {CallResult(name): getattr(self, name).to_domain() for name in _RETRY_RESULTS}
        return RetryPolicy(rules=rules, max_attempts=self.max_attempts)


# ---------------------------------------------------------------------------------- compliance


class ComplianceConfig(_Table):
    """Rules a campaign cannot switch off silently; per-campaign settings may only tighten them.

    Abandonment windows are the campaigns' vocabulary: ``hour`` and ``day`` (the local clock
    hour and calendar day in the campaign's time zone) and ``rolling_30d`` (the last 30 days;
    ``30d``, the older spelling, is accepted for it).
    """

    calling_hours_guard: bool = True
    calling_hours_start: time = time(8, 0)
    calling_hours_end: time = time(21, 0)
    abandonment_target: float = Field(default=0.03, gt=0, le=0.5)
    abandonment_windows: list[str] = Field(
        default_factory=lambda: [str(w) for w in default_abandonment_windows()], min_length=1
    )
    connect_limit: Seconds = Field(default=2.0, gt=0, le=30)
    abandon_hold_off: Seconds = Field(default=72 * 3600.0, ge=0)
    max_calls_per_day: int | None = Field(default=None, ge=1, le=100, strict=True)
    """At most this many calls to one number in any 24 hours, counted over every campaign and
    contact record (laws such as Florida's count calls to the person's number); a campaign's
    ``dial.max_calls_per_day`` may only be lower. Unset: only the campaigns' own caps."""

    @field_validator("abandonment_windows")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for i, window in enumerate(value):
            try:
                name = abandonment_window(window)
            except ValueError as exc:
                raise FieldProblem(f"[{i}]", str(exc)) from None
            if name not in out:
                out.append(name)
        return out

    def to_domain(self) -> ComplianceFloor:
        """The floor every campaign is held to (by the engine, the API and campaign files)."""
        return ComplianceFloor(
            calling_hours_guard=self.calling_hours_guard,
            calling_hours_start=self.calling_hours_start,
            calling_hours_end=self.calling_hours_end,
            abandonment_target=self.abandonment_target,
            abandonment_windows=tuple(self.abandonment_windows),
            connect_limit=timedelta(seconds=self.connect_limit),
            abandon_hold_off=timedelta(seconds=self.abandon_hold_off),
            max_calls_per_day=self.max_calls_per_day,
        )

    @model_validator(mode="after")
    def _hours(self) -> ComplianceConfig:
        if self.calling_hours_start >= self.calling_hours_end:
            raise FieldProblem("calling_hours_end", "must be later than calling_hours_start")
        return self


# ------------------------------------------------------------------------------------- logging


class LoggingConfig(_Table):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"
    calls: bool = True
    """One ``call finished`` line per attempt (logger ``dialerd.calls``) at info level."""

    @field_validator("level", "format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


# -------------------------------------------------------------------------------------- daemon


class DaemonConfig(_Table):
    """The whole file. ``source`` is the path it was read from (set by ``load_config``)."""

    store: StoreConfig = Field(default_factory=StoreConfig)
    asterisk: list[AsteriskServer] = Field(min_length=1)
    api: ApiConfig = Field(default_factory=ApiConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    campaigns: list[CampaignFile] = Field(default_factory=list)
    agents: list[AgentConfig] = Field(default_factory=list)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    compliance: ComplianceConfig = Field(default_factory=ComplianceConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _references(self) -> DaemonConfig:
        for i, name in _find_duplicates([s.name for s in self.asterisk]):
            raise FieldProblem(f"asterisk[{i}].name", f"server name {name!r} is used twice")
        for i, name in _find_duplicates([a.name for a in self.agents]):
            raise FieldProblem(f"agents[{i}].name", f"agent name {name!r} is used twice")
        for i, iface in _find_duplicates([a.interface for a in self.agents]):
            raise FieldProblem(f"agents[{i}].interface", f"interface {iface!r} is used twice")
        for i, path in _find_duplicates([str(c.file or c.glob) for c in self.campaigns]):
            raise FieldProblem(f"campaigns[{i}]", f"{path!r} is listed twice")
        servers = {s.name for s in self.asterisk}
        for i, agent in enumerate(self.agents):
            if agent.server is not None and agent.server not in servers:
                raise FieldProblem(
                    f"agents[{i}].server",
                    f"no [[asterisk]] server is named {agent.server!r} "
                    f"(known: {', '.join(sorted(servers))})",
                )
        agents = {a.name for a in self.agents}
        for i, token in enumerate(self.api.tokens):
            if token.agent is not None and token.agent not in agents:
                raise FieldProblem(
                    f"api.tokens[{i}].agent", f"no [[agents]] entry is named {token.agent!r}"
                )
        return self

    def server(self, name: str) -> AsteriskServer:
        for s in self.asterisk:
            if s.name == name:
                return s
        raise KeyError(name)

    def campaign_paths(self) -> list[Path]:
        """Every campaign file named by ``[[campaigns]]``, once each, in the order given."""
        seen: dict[Path, None] = {}
        for entry in self.campaigns:
            for path in entry.paths():
                seen.setdefault(path, None)
        return list(seen)

    @property
    def total_lines(self) -> int:
        """Trunk lines over all servers: the ceiling of concurrent calls of the daemon."""
        return sum(s.max_concurrent_calls for s in self.asterisk)
