"""The campaign definition: what a campaign manager writes in ``config/campaigns/*.toml``.

Validated with pydantic so a mistake is reported with the file and the dotted key
(``tasks.1.type: ...``) instead of surfacing as a wrong call hours later. The same model is
stored as the campaign's settings JSON, so the engine reads back exactly what was validated.
Durations are written as ``"2h"``, ``"30m"``, ``"1h30m"``, ``"90s"``, ``"3d"`` or a number of
seconds.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from dialerd.domain.enums import CallResult, CampaignStatus, DialMode, Status, TaskType
from dialerd.domain.keys import unknown_key
from dialerd.domain.model import (
    RetryPolicy,
    RetryRule,
    TaskflowRule,
    TimePeriod,
    default_retry_policy,
)
from dialerd.domain.selection import OPERATORS, Condition, SortOrder

_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*(ms|d|h|m|s)\s*)+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|d|h|m|s)")
_QUEUE_NAME = re.compile(r"[A-Za-z0-9_.@+-]{1,79}")


def parse_duration(value: object) -> timedelta:
    """``"2h"``, ``"30m"``, ``"1h30m"``, ``"90s"``, ``"250ms"``, ``"3d"`` or seconds as a number."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '2h', '30m', '90s'")
    if isinstance(value, int | float):
        if not 0 <= value < 1e9:
            raise ValueError("a duration must be between 0 and 1e9 seconds")
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text and _DURATION.match(text):
            return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in _PART.findall(text)))
        try:
            seconds = float(text)
        except ValueError:
            seconds = -1.0
        if 0 <= seconds < 1e9:
            return timedelta(seconds=seconds)
    raise ValueError(
        f"{value!r} is not a duration: write e.g. '2h', '30m', '1h30m', '90s' or seconds"
    )


def format_duration(value: timedelta) -> str:
    """The compact form :func:`parse_duration` reads back (``"1h30m"``, ``"2.5s"``)."""
    total = value.total_seconds()
    if total == 0:
        return "0s"
    parts: list[str] = []
    for unit in ("d", "h", "m"):
        size = _UNITS[unit]
        if total >= size:
            n = int(total // size)
            parts.append(f"{n}{unit}")
            total -= n * size
    if total > 1e-9:
        parts.append(f"{round(total, 3):g}s")
    return "".join(parts)


def _non_negative(value: object) -> timedelta:
    return parse_duration(value)


Duration = Annotated[
    timedelta,
    BeforeValidator(_non_negative),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]


def _percent(value: object) -> object:
    """Accept ``0.03``, ``3`` meaning 3 % is ambiguous, so only ``"3%"`` or a fraction."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return float(value.strip()[:-1]) / 100.0
    return value


AbandonmentWindow = Literal["hour", "day", "rolling_30d"]
ABANDONMENT_WINDOWS: tuple[AbandonmentWindow, ...] = ("hour", "day", "rolling_30d")
"""The windows the engine holds the abandonment target over: the local clock hour, the local
calendar day, and the last 30 days. ``30d`` is accepted for ``rolling_30d`` (the spelling of
older daemon configurations)."""
_WINDOW_ALIASES: dict[str, AbandonmentWindow] = {"30d": "rolling_30d"}


def abandonment_window(name: str) -> AbandonmentWindow:
    """``name`` in the one vocabulary of abandonment windows; ValueError naming the choices."""
    key = name.strip().lower() if isinstance(name, str) else name
    if key in _WINDOW_ALIASES:
        return _WINDOW_ALIASES[key]
    for window in ABANDONMENT_WINDOWS:
        if key == window:
            return window
    raise ValueError(
        f"{name!r} is not an abandonment window: use hour, day or rolling_30d (or 30d)"
    )


def default_abandonment_windows() -> list[AbandonmentWindow]:
    return ["day", "rolling_30d"]


Fraction = Annotated[float, BeforeValidator(_percent), Field(gt=0.0, le=1.0)]

_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class DialSettings(_Model):
    mode: DialMode = DialMode.PROGRESSIVE
    calls_per_ready_agent: float = Field(1.0, ge=0.0, le=20.0)
    calls_per_wrapup_agent: float = Field(0.0, ge=0.0, le=20.0)
    abandonment_target: Fraction = 0.03
    abandonment_windows: list[AbandonmentWindow] = Field(
        default_factory=default_abandonment_windows, min_length=1
    )
    min_agents_predictive: int = Field(5, ge=1, le=10_000)
    min_ring: Duration = timedelta(seconds=15)
    """Predictive only: the shortest ring an unanswered call may get before dialerd gives up
    on it, when the campaign's answer delays say a call still ringing then is rarely answered
    (see dialerd.pacing.ring). At or above ``ring_timeout`` every call rings the full time."""
    preview_auto_accept: Duration | None = None
    max_concurrent_calls: int | None = Field(None, ge=1, le=100_000)
    max_calls_per_day: int | None = Field(None, ge=1, le=100)
    """At most this many calls to the contact's number in any 24 hours, whatever task it is
    in, however often it was moved, and counting the calls to the same number from other
    campaigns and other contact records (laws such as Florida's cap calls per person per day;
    the retry policy's attempts restart in each task). The daemon's ``[compliance]
    max_calls_per_day`` may lower it. Unset: no cap."""

    @field_validator("abandonment_windows", mode="before")
    @classmethod
    def _windows(cls, value: object) -> object:
        if not isinstance(value, list | tuple):
            return value
        out: list[AbandonmentWindow] = []
        for name in value:
            window = abandonment_window(name) if isinstance(name, str) else name
            if window not in out:
                out.append(window)
        return out

    @field_validator("min_ring")
    @classmethod
    def _min_ring(cls, v: timedelta) -> timedelta:
        if not timedelta(seconds=15) <= v <= timedelta(seconds=120):
            raise ValueError(
                "min_ring must be between 15 s (the legal minimum ring, FCC 64.1200(a)(6))"
                " and 120 s"
            )
        return v


class WeeklyPeriod(_Model):
    days: list[str] = Field(min_length=1)
    start: time = Field(alias="from")
    end: time = Field(alias="to")

    @field_validator("days")
    @classmethod
    def _days(cls, days: list[str]) -> list[str]:
        out: list[str] = []
        for d in days:
            key = d.strip().lower()[:3]
            if key not in _WEEKDAYS:
                raise ValueError(f"{d!r} is not a weekday (mon, tue, wed, thu, fri, sat, sun)")
            out.append(key)
        return out

    @model_validator(mode="after")
    def _order(self) -> WeeklyPeriod:
        if self.end <= self.start:
            raise ValueError(f"'to' ({self.end}) must be after 'from' ({self.start})")
        return self

    def time_periods(self) -> list[TimePeriod]:
        return [TimePeriod(_WEEKDAYS[d], self.start, self.end) for d in self.days]


class ScheduleSpec(_Model):
    status: CampaignStatus = CampaignStatus.DISABLED
    periods: list[WeeklyPeriod] = Field(default_factory=list)
    dates_off: list[date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _automatic_needs_periods(self) -> ScheduleSpec:
        if self.status is CampaignStatus.AUTOMATIC and not self.periods:
            raise ValueError("status 'automatic' needs at least one entry in schedule.periods")
        return self


class CallingHours(_Model):
    """The contact-local calling-hours guard (on by default, 08:00-21:00)."""

    enabled: bool = True
    start: time = Field(time(8, 0), alias="from")
    end: time = Field(time(21, 0), alias="to")

    @model_validator(mode="after")
    def _order(self) -> CallingHours:
        if self.end <= self.start:
            raise ValueError(f"'to' ({self.end}) must be after 'from' ({self.start})")
        return self


class RetryResult(_Model):
    delay: Duration
    max_attempts: int = Field(5, ge=1, le=100)


RETRYABLE: frozenset[CallResult] = frozenset(
    {
        CallResult.BUSY,
        CallResult.NO_ANSWER,
        CallResult.CONGESTION,
        CallResult.MACHINE,
        CallResult.FAILED_UNKNOWN,
    }
)


#: Rules a campaign's own ``results`` table does not drop (see ``RetrySpec``).
_KEPT_FROM_ABOVE = frozenset({CallResult.ABANDONED, CallResult.FAILED_UNKNOWN})


class RetrySpec(_Model):
    """Retry policy per call result; a result without an entry is final (``failed``).

    Each key left out comes from the level above: a task's from its campaign's ``retry``, a
    campaign's from the daemon's ``[retry]`` table. ``results`` given replaces the whole table
    above (so leaving a result out makes it final), except two rules kept from above: the
    daemon's ``abandoned`` rule, which only the daemon sets (a campaign's ``abandon_hold_off``
    delays an abandoned contact), and ``failed_unknown`` unless ``results`` names it: that is
    the dialer losing a call's outcome (the AMI link lost, a restart), not the callee's answer,
    and a campaign listing its callee results must not make such contacts final.
    """

    max_attempts: int | None = Field(None, ge=1, le=100)
    results: dict[CallResult, RetryResult] | None = None

    @field_validator("results")
    @classmethod
    def _retryable(
        cls, results: dict[CallResult, RetryResult] | None
    ) -> dict[CallResult, RetryResult] | None:
        for result in results or {}:
            if result not in RETRYABLE:
                raise ValueError(
                    f"{result.value!r} cannot be retried by policy (retryable: "
                    f"{', '.join(sorted(r.value for r in RETRYABLE))}); abandoned calls use "
                    "abandon_hold_off"
                )
        return results

    def over(self, base: RetryPolicy) -> RetryPolicy:
        """This policy with what it leaves out taken from ``base``."""
        rules = base.rules
        if self.results is not None:
            rules = {r: rule for r, rule in base.rules.items() if r in _KEPT_FROM_ABOVE}
            rules.update({r: RetryRule(s.delay, s.max_attempts) for r, s in self.results.items()})
        return RetryPolicy(
            rules=dict(rules),
            max_attempts=base.max_attempts if self.max_attempts is None else self.max_attempts,
        )


class TaskSpec(_Model):
    name: str = Field(min_length=1, max_length=200)
    type: TaskType
    settings: dict[str, Any] = Field(default_factory=dict)
    retry: RetrySpec | None = None


class RuleSpec(_Model):
    from_task: str = Field(alias="from")
    status: Status
    detail: str | None = None
    to_task: str = Field(alias="to")
    delay: Duration = timedelta(0)

    def rule(self) -> TaskflowRule:
        return TaskflowRule(self.from_task, self.status, self.to_task, self.detail, self.delay)


class SortSpec(_Model):
    field: str = "id"
    direction: Literal["asc", "desc"] = "asc"


class FilterSpec(_Model):
    field: str
    op: str = "eq"
    value: Any = None

    @field_validator("op")
    @classmethod
    def _op(cls, op: str) -> str:
        if op not in OPERATORS:
            raise ValueError(f"unknown operator {op!r} (one of {', '.join(sorted(OPERATORS))})")
        return op

    @model_validator(mode="after")
    def _condition(self) -> FilterSpec:
        """Build the condition now, so a filter the runner could not use is refused here."""
        self.condition()
        return self

    def condition(self) -> Condition:
        return Condition(self.field, self.op, self.value)  # type: ignore[arg-type]


class WrapupSpec(_Model):
    """Wrap-up time limit; without a disposition by then the default one applies.

    ``limit`` None: the daemon's ``[engine] wrapup`` (default 30 s).
    """

    limit: Duration | None = None
    default_status: Status = Status.FAILED
    default_detail: str = "no_disposition"


class CampaignSpec(_Model):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    timezone: str = "UTC"
    dial: DialSettings = Field(default_factory=DialSettings)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    calling_hours: CallingHours = Field(default_factory=CallingHours)
    tasks: list[TaskSpec] = Field(min_length=1)
    start_task: str | None = None
    rules: list[RuleSpec] = Field(default_factory=list)
    retry: RetrySpec | None = None
    """None (or keys left out): the daemon's ``[retry]`` table."""
    caller_ids: list[str] = Field(default_factory=list)
    queue: str | None = None
    connect_limit: Duration = timedelta(seconds=2)
    ring_timeout: Duration = timedelta(seconds=25)
    abandon_hold_off: Duration = timedelta(hours=72)
    amd: bool = False
    sort: SortSpec = Field(default_factory=SortSpec)
    filter: list[FilterSpec] = Field(default_factory=list)
    wrapup: WrapupSpec = Field(default_factory=WrapupSpec)

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if name != name.strip() or any(ord(c) < 32 for c in name):
            raise ValueError("name must not start/end with spaces or contain control characters")
        return name

    @field_validator("timezone")
    @classmethod
    def _tz(cls, tz: str) -> str:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {tz!r} (use an IANA name like 'Europe/Berlin')"
            ) from None
        return tz

    @field_validator("caller_ids")
    @classmethod
    def _caller_ids(cls, numbers: list[str]) -> list[str]:
        out = []
        for n in numbers:
            try:
                parsed = phonenumbers.parse(n, None)
            except phonenumbers.NumberParseException as exc:
                raise ValueError(
                    f"caller ID {n!r} is not an E.164 number (+4930...): {exc}"
                ) from None
            if not phonenumbers.is_possible_number(parsed):
                raise ValueError(f"caller ID {n!r} is not a possible phone number")
            out.append(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
        return out

    @field_validator("queue")
    @classmethod
    def _queue(cls, queue: str | None) -> str | None:
        # An Asterisk queue name: a queues.conf section (at most 79 characters, no brackets),
        # sent in AMI headers (no line breaks or colons).
        if queue is not None and not _QUEUE_NAME.fullmatch(queue):
            raise ValueError(
                f"queue {queue!r} is not an Asterisk queue name (1-79 letters, digits or"
                " - _ . @ +, no spaces)"
            )
        return queue

    @field_validator("connect_limit")
    @classmethod
    def _connect_limit(cls, v: timedelta) -> timedelta:
        if not timedelta(0) < v <= timedelta(seconds=30):
            raise ValueError("connect_limit must be more than 0 s and at most 30 s")
        return v

    @field_validator("ring_timeout")
    @classmethod
    def _ring_timeout(cls, v: timedelta) -> timedelta:
        if not timedelta(seconds=15) <= v <= timedelta(seconds=120):
            raise ValueError("ring_timeout must be between 15 s and 120 s")
        return v

    @model_validator(mode="after")
    def _references(self) -> CampaignSpec:
        names = [t.name for t in self.tasks]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"task names must be unique: {', '.join(dup)} appear twice")
        known = set(names)
        if self.start_task is not None and self.start_task not in known:
            raise ValueError(f"start_task {self.start_task!r} is not a task of this campaign")
        for i, r in enumerate(self.rules):
            for key, name in (("from", r.from_task), ("to", r.to_task)):
                if name not in known:
                    raise ValueError(
                        f"rules.{i}.{key}: {name!r} is not a task (tasks: {', '.join(names)})"
                    )
        seen: set[tuple[str, Status, str | None]] = set()
        for i, r in enumerate(self.rules):
            key3 = (r.from_task, r.status, r.detail)
            if key3 in seen:
                raise ValueError(
                    f"rules.{i}: a second rule for task {r.from_task!r} status {r.status.value!r}"
                    + (f" detail {r.detail!r}" if r.detail else "")
                )
            seen.add(key3)
        loop = self._endless_loop()
        if loop:
            tasks = [self.rules[i].from_task for i in loop]
            raise ValueError(
                f"{', '.join(f'rules.{i}' for i in loop)} send a contact round a loop without"
                f" end ({' -> '.join([*tasks, tasks[0]])}): none of its tasks holds a contact"
                " and no rule has a delay; give one of the rules a 'delay' or put a call or wait"
                " task in the loop"
            )
        return self

    def _holds(self, task: TaskSpec) -> bool:
        """Whether a contact entering ``task`` stays there for a while.

        A call waits for its dial, a wait task for its time (or for good, as a bin); the
        other tasks finish a contact within a run, so a loop of them without a delay would
        send the same email or webhook again and again, as fast as the daemon can.
        """
        if task.type is TaskType.CALL:
            return True
        if task.type is not TaskType.WAIT:
            return False
        duration = task.settings.get("duration")
        if duration is None:
            return True  # until a date field, or a bin
        try:
            return parse_duration(duration) > timedelta(0)
        except ValueError:
            return True  # the task's own settings check reports it

    def _endless_loop(self) -> list[int]:
        """Rule indices of a loop through tasks that hold no contact and rules without delay."""
        passing = {t.name for t in self.tasks if not self._holds(t)}
        edges: dict[str, list[int]] = {}
        for i, r in enumerate(self.rules):
            if r.delay <= timedelta(0) and r.from_task in passing and r.to_task in passing:
                edges.setdefault(r.from_task, []).append(i)
        done: set[str] = set()

        def visit(task: str, path: list[int], on_path: dict[str, int]) -> list[int]:
            on_path[task] = len(path)
            for i in edges.get(task, []):
                nxt = self.rules[i].to_task
                if nxt in on_path:
                    return path[on_path[nxt] :] + [i]
                if nxt not in done:
                    found = visit(nxt, [*path, i], on_path)
                    if found:
                        return found
            del on_path[task]
            done.add(task)
            return []

        for start in sorted(edges):
            if start not in done:
                found = visit(start, [], {})
                if found:
                    return found
        return []

    @property
    def first_task(self) -> str:
        return self.start_task or self.tasks[0].name

    @property
    def queue_name(self) -> str:
        return self.queue or default_queue(self.name)

    def taskflow_rules(self) -> list[TaskflowRule]:
        return [r.rule() for r in self.rules]

    def retry_policy(self, task: str, default: RetryPolicy | None = None) -> RetryPolicy:
        """The retry policy of call task ``task``: its own ``retry`` over the campaign's over
        ``default`` (the daemon's ``[retry]``; None: its documented defaults)."""
        policy = default if default is not None else default_retry_policy()
        if self.retry is not None:
            policy = self.retry.over(policy)
        for t in self.tasks:
            if t.name == task and t.retry is not None:
                policy = t.retry.over(policy)
        return policy

    def time_periods(self) -> list[TimePeriod]:
        return [p for period in self.schedule.periods for p in period.time_periods()]

    def sort_order(self) -> SortOrder:
        return SortOrder(self.sort.field, self.sort.direction == "desc")

    def conditions(self) -> tuple[Condition, ...]:
        return tuple(f.condition() for f in self.filter)

    def named_fields(self) -> list[tuple[str, str]]:
        """``(key, field name)`` of each contact field the definition names, to check them
        against the contacts' fields (:func:`.selection.unknown_definition_fields`)."""
        return [(f"filter[{i}].field", f.field) for i, f in enumerate(self.filter)] + [
            ("sort.field", self.sort.field)
        ]


_CAMPAIGN_NAME = re.compile(r"[A-Za-z0-9_.-]{1,200}")
CAMPAIGN_NAME_RULE = (
    "a new campaign's name is 1-200 letters (A-Z, a-z), digits, '-', '_' or '.', not only"
    " digits (it would stand for a campaign id in URLs) and not '.' or '..'"
)


def campaign_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be the name of a new campaign (None: it can).

    A campaign is addressed by name or id in one URL path segment and in MQTT topics and metric
    labels: a name of digits shadowed the campaign with that id, and one with '/' or equal to
    '.'/'..' could not be reached at all. Campaigns stored under an older, laxer rule keep
    their names and keep working; only creating one is refused.
    """
    if not _CAMPAIGN_NAME.fullmatch(name) or name.isdigit() or name in (".", ".."):
        return f"{name!r} is not allowed: {CAMPAIGN_NAME_RULE}"
    return None


def default_queue(name: str) -> str:
    """The Asterisk queue of a campaign that names none."""
    return f"dialerd-{name}"


def queue_clash(queue: str, other: str, other_campaign: str) -> str | None:
    """Why a campaign may not use ``queue`` beside ``other_campaign``'s queue ``other`` (None:
    it may). One Asterisk queue is one campaign's: its members are the agents the campaign
    dials for, so a shared queue made agents paced by a campaign they never named. Nor may a
    queue be another's agent queue (``<queue>.<agent>``, preview calls and personal callbacks):
    the engine tells a campaign's agents by its queue and that prefix."""
    if queue == other:
        return (
            f"queue {queue!r} is already the queue of campaign {other_campaign!r};"
            " each campaign needs its own Asterisk queue"
        )
    if queue.startswith(other + ".") or other.startswith(queue + "."):
        return (
            f"queue {queue!r} clashes with queue {other!r} of campaign {other_campaign!r}"
            " (<queue>.<agent> names the agents' own queues); choose another name"
        )
    return None


def queue_clashes(files: list[tuple[str, CampaignSpec]]) -> list[str]:
    """One problem per campaign file whose queue an earlier file's campaign has (or clashes
    with), naming both files: ``<file>: queue: ... (campaign 'x' is defined in <file>)``."""
    problems: list[str] = []
    seen: list[tuple[str, CampaignSpec]] = []
    for where, spec in files:
        for other_where, other in seen:
            why = queue_clash(spec.queue_name, other.queue_name, other.name)
            if why is not None:
                problems.append(
                    f"{where}: queue: campaign {spec.name!r}: {why}"
                    f" (campaign {other.name!r} is defined in {other_where})"
                )
                break
        else:
            seen.append((where, spec))
    return problems


def named_fields(settings: dict[str, Any]) -> list[tuple[str, str]]:
    """``(key, field name)`` of each contact field a stored definition (its settings JSON)
    names: its filter conditions (``filter[N].field``) and its sort (``sort.field``). Read
    leniently: a definition stored by an older version may lack either."""
    out: list[tuple[str, str]] = []
    conditions = settings.get("filter")
    if isinstance(conditions, list):
        out.extend(
            (f"filter[{i}].field", str(c.get("field")))
            for i, c in enumerate(conditions)
            if isinstance(c, dict)
        )
    sort = settings.get("sort")
    if isinstance(sort, dict) and isinstance(sort.get("field"), str):
        out.append(("sort.field", sort["field"]))
    return out


class CampaignSpecError(ValueError):
    """A campaign definition that cannot be used; the message names the file and the key."""


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def validate_campaign_spec(data: dict[str, Any], source: str = "<campaign>") -> CampaignSpec:
    try:
        return CampaignSpec.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            loc = _loc(err["loc"])
            if err["type"] == "extra_forbidden":
                msg = unknown_key(CampaignSpec, tuple(err["loc"]))
            lines.append(f"{source}: {loc}: {msg}")
        raise CampaignSpecError("; ".join(lines)) from None


def load_campaign_spec(path: str | Path) -> CampaignSpec:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise CampaignSpecError(f"{p}: cannot read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CampaignSpecError(f"{p}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise CampaignSpecError(f"{p}: not valid TOML: {exc}") from None
    return validate_campaign_spec(data, str(p))
