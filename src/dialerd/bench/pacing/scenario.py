"""Benchmark scenarios: a TOML file describing one day of callees and agents.

Every key is checked: an unknown key, a wrong type or an impossible value is refused with a
message naming the key and the file, because a typo that silently falls back to a default would
make a benchmark compare something other than what its author meant.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class DurationSpec:
    """A duration: ``fixed`` at ``mean`` or ``lognormal`` with ``mean`` and ``sd`` seconds."""

    kind: str
    mean: float
    sd: float = 0.0


@dataclass(frozen=True, slots=True)
class AgentChange:
    """``count`` agents log in (positive) or off (negative) at ``at_h``, spread over minutes."""

    at_h: float
    count: int
    spread_min: float = 0.0


@dataclass(frozen=True, slots=True)
class Break:
    """``count`` agents pause at ``at_h`` (spread over minutes) for ``duration_min``."""

    at_h: float
    count: int
    duration_min: float
    spread_min: float = 0.0


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    hours: float
    agents: int
    answer_rate: tuple[tuple[float, float], ...]  # (hour, rate) points
    answer_interp: str = "step"
    description: str = ""
    contacts: int = 1_000_000
    busy_share: float = 0.10
    busy_after_s: float = 5.0
    invalid_share: float = 0.0
    invalid_after_s: float = 1.0
    machine_share: float = 0.0
    machine_talk_s: float = 10.0
    ring_timeout_s: float = 25.0
    min_ring_s: float = 15.0
    connect_limit_s: float = 2.0
    abandonment_target: float = 0.03
    abandonment_window_s: float = 3600.0
    tick_s: float = 1.0
    trunk_lines: int = 100_000
    login_spread_min: float = 0.0
    amd: bool = False
    amd_delay_s: float = 2.5
    amd_false_positive: float = 0.0
    ring: DurationSpec = DurationSpec("lognormal", 8.0, 4.0)
    talk: DurationSpec = DurationSpec("lognormal", 120.0, 72.0)
    wrapup: DurationSpec = DurationSpec("fixed", 15.0)
    power_ready: float = 1.7
    power_wrapup: float = 0.1
    changes: tuple[AgentChange, ...] = field(default_factory=tuple)
    breaks: tuple[Break, ...] = field(default_factory=tuple)
    source: str = ""

    def answer_rate_at(self, t_s: float) -> float:
        h = t_s / 3600.0
        pts = self.answer_rate
        if h <= pts[0][0]:
            return pts[0][1]
        for (h0, p0), (h1, p1) in zip(pts, pts[1:], strict=False):
            if h < h1:
                if self.answer_interp == "linear":
                    return p0 + (p1 - p0) * (h - h0) / (h1 - h0)
                return p0
        return pts[-1][1]


_TOP_KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "description": str,
    "hours": (int, float),
    "agents": int,
    "answer_rate": (int, float, list),
    "answer_interp": str,
    "contacts": int,
    "busy_share": (int, float),
    "busy_after_s": (int, float),
    "invalid_share": (int, float),
    "invalid_after_s": (int, float),
    "machine_share": (int, float),
    "machine_talk_s": (int, float),
    "ring_timeout_s": (int, float),
    "min_ring_s": (int, float),
    "connect_limit_s": (int, float),
    "abandonment_target": (int, float),
    "abandonment_window_s": (int, float),
    "tick_s": (int, float),
    "trunk_lines": int,
    "login_spread_min": (int, float),
    "amd": dict,
    "ring": dict,
    "talk": dict,
    "wrapup": dict,
    "power": dict,
    "agent_changes": list,
    "breaks": list,
}
_SHARES = ("busy_share", "invalid_share", "machine_share", "abandonment_target")
_POSITIVE = (
    "hours",
    "busy_after_s",
    "invalid_after_s",
    "ring_timeout_s",
    "min_ring_s",
    "abandonment_window_s",
    "tick_s",
)


def _fail(path: str, key: str, why: str) -> ScenarioError:
    return ScenarioError(f"{path}: key '{key}': {why}")


def _num(path: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(path, key, f"expected a number, got {value!r}")
    return float(value)


def _check_keys(path: str, prefix: str, table: dict[str, Any], allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            raise _fail(path, prefix + key, f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _duration(path: str, key: str, table: Any, default: DurationSpec) -> DurationSpec:
    if table is None:
        return default
    if not isinstance(table, dict):
        raise _fail(path, key, "expected a table")
    _check_keys(path, key + ".", table, {"dist", "mean", "sd", "sd_ratio"})
    kind = table.get("dist", default.kind)
    if kind not in ("fixed", "lognormal"):
        raise _fail(path, key + ".dist", f"expected 'fixed' or 'lognormal', got {kind!r}")
    mean = _num(path, key + ".mean", table.get("mean", default.mean))
    if mean <= 0:
        raise _fail(path, key + ".mean", "must be positive")
    if "sd" in table and "sd_ratio" in table:
        raise _fail(path, key + ".sd", "give sd or sd_ratio, not both")
    if "sd" in table:
        sd = _num(path, key + ".sd", table["sd"])
    elif "sd_ratio" in table:
        sd = mean * _num(path, key + ".sd_ratio", table["sd_ratio"])
    elif kind == default.kind and default.mean > 0:
        sd = mean * (default.sd / default.mean)
    else:
        sd = 0.0
    if sd < 0 or (kind == "lognormal" and sd <= 0):
        raise _fail(path, key + ".sd", "must be positive for a lognormal")
    return DurationSpec(kind, mean, sd if kind == "lognormal" else 0.0)


def load_scenario(path: Path | str) -> Scenario:
    p = Path(path)
    name = str(p)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ScenarioError(f"{name}: no such scenario file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{name}: not valid TOML: {exc}") from exc
    return parse_scenario(data, name, default_name=p.stem)


def parse_scenario(data: dict[str, Any], path: str, default_name: str = "scenario") -> Scenario:
    _check_keys(path, "", data, set(_TOP_KEYS))
    for key, types in _TOP_KEYS.items():
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, types):
                raise _fail(path, key, f"wrong type {type(value).__name__}")
    for key in ("hours", "agents", "answer_rate"):
        if key not in data:
            raise _fail(path, key, "missing (required)")
    kw: dict[str, Any] = {}
    for key in _SHARES:
        if key in data:
            v = _num(path, key, data[key])
            if not 0.0 <= v <= 1.0:
                raise _fail(path, key, "must be a share between 0 and 1")
            kw[key] = v
    for key in _POSITIVE:
        if key in data:
            v = _num(path, key, data[key])
            if v <= 0:
                raise _fail(path, key, "must be positive")
            kw[key] = v
    for key in ("machine_talk_s", "connect_limit_s", "login_spread_min"):
        if key in data:
            v = _num(path, key, data[key])
            if v < 0:
                raise _fail(path, key, "must not be negative")
            kw[key] = v
    if kw.get("ring_timeout_s", 25.0) < 15.0:
        raise _fail(path, "ring_timeout_s", "must be at least 15 s (FCC 64.1200(a)(6))")
    if kw.get("min_ring_s", 15.0) < 15.0:
        raise _fail(path, "min_ring_s", "must be at least 15 s (FCC 64.1200(a)(6))")
    agents = data["agents"]
    if agents < 1:
        raise _fail(path, "agents", "must be at least 1")
    for key in ("contacts", "trunk_lines"):
        if key in data:
            if data[key] < 1:
                raise _fail(path, key, "must be at least 1")
            kw[key] = data[key]
    rate = data["answer_rate"]
    points: list[tuple[float, float]]
    if isinstance(rate, list):
        if not rate:
            raise _fail(path, "answer_rate", "empty schedule")
        points = []
        for i, item in enumerate(rate):
            if not isinstance(item, list) or len(item) != 2:
                raise _fail(path, f"answer_rate[{i}]", "expected [hour, rate]")
            h = _num(path, f"answer_rate[{i}]", item[0])
            r = _num(path, f"answer_rate[{i}]", item[1])
            if not 0.0 <= r <= 1.0:
                raise _fail(path, f"answer_rate[{i}]", "rate must be between 0 and 1")
            if points and h <= points[-1][0]:
                raise _fail(path, f"answer_rate[{i}]", "hours must increase")
            points.append((h, r))
    else:
        r = _num(path, "answer_rate", rate)
        if not 0.0 <= r <= 1.0:
            raise _fail(path, "answer_rate", "must be a share between 0 and 1")
        points = [(0.0, r)]
    interp = data.get("answer_interp", "step")
    if interp not in ("step", "linear"):
        raise _fail(path, "answer_interp", "expected 'step' or 'linear'")
    if kw.get("busy_share", 0.1) + kw.get("invalid_share", 0.0) + max(p for _, p in points) > 1:
        raise _fail(path, "busy_share", "answer rate + busy + invalid shares exceed 1")
    amd = data.get("amd", {})
    _check_keys(path, "amd.", amd, {"enabled", "delay_s", "false_positive"})
    if "enabled" in amd:
        if not isinstance(amd["enabled"], bool):
            raise _fail(path, "amd.enabled", "expected true or false")
        kw["amd"] = amd["enabled"]
    if "delay_s" in amd:
        kw["amd_delay_s"] = _num(path, "amd.delay_s", amd["delay_s"])
        if kw["amd_delay_s"] < 0:
            raise _fail(path, "amd.delay_s", "must not be negative")
    if "false_positive" in amd:
        kw["amd_false_positive"] = _num(path, "amd.false_positive", amd["false_positive"])
        if not 0.0 <= kw["amd_false_positive"] <= 1.0:
            raise _fail(path, "amd.false_positive", "must be a share between 0 and 1")
    kw["ring"] = _duration(path, "ring", data.get("ring"), DurationSpec("lognormal", 8.0, 4.0))
    kw["talk"] = _duration(path, "talk", data.get("talk"), DurationSpec("lognormal", 120.0, 72.0))
    kw["wrapup"] = _duration(path, "wrapup", data.get("wrapup"), DurationSpec("fixed", 15.0))
    power = data.get("power", {})
    _check_keys(path, "power.", power, {"calls_per_ready_agent", "calls_per_wrapup_agent"})
    if "calls_per_ready_agent" in power:
        kw["power_ready"] = _num(
            path, "power.calls_per_ready_agent", power["calls_per_ready_agent"]
        )
    if "calls_per_wrapup_agent" in power:
        kw["power_wrapup"] = _num(
            path, "power.calls_per_wrapup_agent", power["calls_per_wrapup_agent"]
        )
    hours = float(kw["hours"])
    kw["changes"] = tuple(_changes(path, data.get("agent_changes", []), hours))
    kw["breaks"] = tuple(_breaks(path, data.get("breaks", []), hours))
    return Scenario(
        name=data.get("name", default_name),
        description=data.get("description", ""),
        agents=agents,
        answer_rate=tuple(points),
        answer_interp=interp,
        source=path,
        **kw,
    )


def _table_list(path: str, key: str, items: list[Any]) -> list[dict[str, Any]]:
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _fail(path, f"{key}[{i}]", "expected a table ([[{key}]])")
        out.append(item)
    return out


def _changes(path: str, items: list[Any], hours: float) -> list[AgentChange]:
    out = []
    for i, t in enumerate(_table_list(path, "agent_changes", items)):
        k = f"agent_changes[{i}]."
        _check_keys(path, k, t, {"at_h", "count", "spread_min"})
        for req in ("at_h", "count"):
            if req not in t:
                raise _fail(path, k + req, "missing (required)")
        at = _num(path, k + "at_h", t["at_h"])
        if not 0.0 <= at <= hours:
            raise _fail(path, k + "at_h", "outside the day")
        if not isinstance(t["count"], int) or isinstance(t["count"], bool) or t["count"] == 0:
            raise _fail(path, k + "count", "expected a non-zero integer")
        spread = _num(path, k + "spread_min", t.get("spread_min", 0.0))
        out.append(AgentChange(at, t["count"], spread))
    return out


def _breaks(path: str, items: list[Any], hours: float) -> list[Break]:
    out = []
    for i, t in enumerate(_table_list(path, "breaks", items)):
        k = f"breaks[{i}]."
        _check_keys(path, k, t, {"at_h", "count", "duration_min", "spread_min"})
        for req in ("at_h", "count", "duration_min"):
            if req not in t:
                raise _fail(path, k + req, "missing (required)")
        at = _num(path, k + "at_h", t["at_h"])
        if not 0.0 <= at <= hours:
            raise _fail(path, k + "at_h", "outside the day")
        if not isinstance(t["count"], int) or isinstance(t["count"], bool) or t["count"] < 1:
            raise _fail(path, k + "count", "expected a positive integer")
        dur = _num(path, k + "duration_min", t["duration_min"])
        if dur <= 0:
            raise _fail(path, k + "duration_min", "must be positive")
        spread = _num(path, k + "spread_min", t.get("spread_min", 0.0))
        out.append(Break(at, t["count"], dur, spread))
    return out
