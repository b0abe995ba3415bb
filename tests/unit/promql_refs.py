"""Check the PromQL of the dashboard and the alert rules against the metrics dialerd exports.

Not a PromQL parser: dialerd's queries use a small part of the language, and these checks find
what goes wrong when a metric is renamed, retyped or relabelled: a name that is not exported, a
``rate()`` over a gauge, a ``histogram_quantile`` over something that is not a ``_bucket``, a
label the metric does not have (in a selector, ``by (...)``, ``on (...)`` or a legend), and a
label value outside the label's fixed vocabulary (``input``, ``state``, ``mode``, ``result``,
``reason``, ``outcome``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from dialerd.bus.mqtt import DROP_DISCONNECTED, DROP_QUEUE_FULL, DROP_UNENCODABLE
from dialerd.daemon.metrics import (
    AMI_LINK_STATES,
    PACING_INPUTS,
    PACING_SERVER_INPUTS,
    Family,
    Metrics,
)
from dialerd.domain.enums import AgentState, CallResult, DialMode

_NAME = re.compile(r"\bdialerd_[a-zA-Z0-9_]+")
_SELECTOR = re.compile(r"\b(dialerd_[a-zA-Z0-9_]+)\s*(?:\{([^}]*)\})?")
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_RANGE_FUNCTIONS = ("rate", "irate", "increase")
#: Functions meant for gauges; over a counter they read resets as drops.
_GAUGE_FUNCTIONS = ("delta", "deriv", "predict_linear", "changes")


def families_by_series(metrics: Metrics | None = None) -> dict[str, Family]:
    """Series name as queried (``dialerd_calls_placed_total``) -> its family."""
    out: dict[str, Family] = {}
    for family in (metrics or Metrics()).families():
        for name in family.series:
            out[name] = family
    return out


def vocabulary() -> dict[tuple[str, str], frozenset[str]]:
    """(family, label) -> every value the daemon gives that label."""
    reasons_ami = frozenset({"timeout", "error", "link_lost"})
    return {
        ("dialerd_pacing_input", "input"): frozenset(PACING_INPUTS),
        ("dialerd_pacing_server_input", "input"): frozenset(PACING_SERVER_INPUTS),
        ("dialerd_pacing_server_mode", "mode"): frozenset(m.value for m in DialMode),
        ("dialerd_agents", "state"): frozenset(s.value for s in AgentState),
        ("dialerd_ami_link_state", "state"): frozenset(AMI_LINK_STATES),
        ("dialerd_pacing_mode", "mode"): frozenset(m.value for m in DialMode),
        ("dialerd_call_results", "result"): frozenset(r.value for r in CallResult),
        ("dialerd_ami_action_failures", "reason"): reasons_ami,
        ("dialerd_ami_link_failures", "reason"): frozenset(
            {"connect_failed", "login_refused", "dead_peer"}
        ),
        ("dialerd_mqtt_dispositions", "outcome"): frozenset({"accepted", "rejected", "failed"}),
        ("dialerd_mqtt_events_dropped", "reason"): frozenset(
            {DROP_DISCONNECTED, DROP_QUEUE_FULL, DROP_UNENCODABLE}
        ),
    }


def _call_arguments(expr: str, function: str) -> Iterator[str]:
    """The argument text of every call of ``function`` in ``expr``."""
    for match in re.finditer(rf"\b{function}\s*\(", expr):
        depth, start = 1, match.end()
        for i in range(start, len(expr)):
            if expr[i] == "(":
                depth += 1
            elif expr[i] == ")":
                depth -= 1
                if depth == 0:
                    yield expr[start:i]
                    break


def _matchers(body: str) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    pos = 0
    while pos < len(body.strip()):
        m = _MATCHER.match(body, pos)
        if m is None:
            raise ValueError(f"cannot read label matchers {body!r}")
        found.append((m.group(1), m.group(2), m.group(3)))
        pos = m.end()
    return found


def problems(expr: str, legend: str = "", known: dict[str, Family] | None = None) -> list[str]:
    """What is wrong with one query (and its legend), as readable lines; [] when nothing."""
    known = known if known is not None else families_by_series()
    vocab = vocabulary()
    out: list[str] = []
    used: dict[str, Family] = {}
    for name in _NAME.findall(expr):
        family = known.get(name)
        if family is None:
            out.append(f"{name}: not exported")
        else:
            used[name] = family
    for name, body in _SELECTOR.findall(expr):
        family = known.get(name)
        if family is None or not body:
            continue
        labels = set(family.labels) | ({"le"} if name.endswith("_bucket") else set())
        for label, op, value in _matchers(body):
            if label not in labels:
                out.append(f"{name}: no label {label!r} (it has {sorted(labels)})")
                continue
            values = vocab.get((family.name, label))
            if values is None or "$" in value:
                continue
            if op in ("=", "!="):
                if value not in values:
                    out.append(f"{name}: {label}={value!r} never exported")
                continue
            alternatives = value.split("|")
            if all(re.fullmatch(r"[a-z0-9_]+", a) for a in alternatives):
                unknown = [a for a in alternatives if a not in values]
                if unknown:
                    out.append(f"{name}: {label} values {unknown} never exported")
            elif not any(re.fullmatch(value, v) for v in values):
                out.append(f"{name}: {label}=~{value!r} matches no exported value")
    for function in _RANGE_FUNCTIONS:
        for argument in _call_arguments(expr, function):
            for name in _NAME.findall(argument):
                family = known.get(name)
                if family is not None and family.type not in ("counter", "histogram"):
                    out.append(f"{function}() over {name}, a {family.type}")
    for function in _GAUGE_FUNCTIONS:
        for argument in _call_arguments(expr, function):
            for name in _NAME.findall(argument):
                family = known.get(name)
                if family is not None and family.type != "gauge":
                    out.append(f"{function}() over {name}, a {family.type}")
    for argument in _call_arguments(expr, "histogram_quantile"):
        for name in _NAME.findall(argument):
            if not name.endswith("_bucket"):
                out.append(f"histogram_quantile() over {name}, not a _bucket series")
        grouping = [labels for kind, labels in _GROUPING.findall(argument) if kind == "by"]
        if grouping and not any("le" in _names(g) for g in grouping):
            out.append("histogram_quantile() without 'le' in its by (...)")
    all_labels = {label for f in used.values() for label in f.labels} | {"le"}
    grouped: set[str] = set()
    for kind, labels in _GROUPING.findall(expr):
        for label in _names(labels):
            if label not in all_labels:
                out.append(f"{kind} ({label}): no metric of the query has that label")
        if kind == "by":
            grouped |= _names(labels)
    shown = grouped - {"le"} if grouped else all_labels
    for label in re.findall(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}", legend):
        if label not in shown:
            out.append(f"legend {{{{{label}}}}}: not a label of the result ({sorted(shown)})")
    return out


def _names(text: str) -> set[str]:
    return {part.strip() for part in text.split(",") if part.strip()}
