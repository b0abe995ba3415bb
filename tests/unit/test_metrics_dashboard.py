"""The Grafana dashboard queries only metrics the daemon exports, by their types, labels and
label values, and shows all of them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from promql_refs import families_by_series, problems

from dialerd.daemon.metrics import Metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "config" / "grafana" / "dialerd.json"
METRIC = re.compile(r"\bdialerd_[a-zA-Z0-9_]+")


def _exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition", "query") and isinstance(value, str):
                yield value
            else:
                yield from _exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _exprs(item)


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def test_every_queried_metric_exists() -> None:
    exported = Metrics().sample_names()
    used = {name for expr in _exprs(_dashboard()) for name in METRIC.findall(expr)}
    assert used, "no queries found in the dashboard"
    unknown = sorted(used - exported)
    assert not unknown, f"dashboard queries metrics the daemon does not export: {unknown}"


def test_every_exported_metric_is_on_the_dashboard() -> None:
    used = {name for expr in _exprs(_dashboard()) for name in METRIC.findall(expr)}
    families = {f.name for f in Metrics().registry.collect()}
    missing = sorted(f for f in families if not any(u == f or u.startswith(f + "_") for u in used))
    assert not missing, f"metrics not shown on the dashboard: {missing}"


def test_dashboard_is_importable_shape() -> None:
    dash = _dashboard()
    assert dash["uid"] and dash["title"] == "dialerd"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dash["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            expr = target["expr"]
            assert expr.count("(") == expr.count(")"), expr
            assert expr.count("{") == expr.count("}"), expr
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24
    variables = {v["name"] for v in dash["templating"]["list"]}
    used = {
        m
        for p in dash["panels"]
        for t in p.get("targets", [])
        for m in re.findall(r"\$(\w+)", t["expr"])
        if not m.startswith("__")
    }
    assert used <= variables


def _panels(node: Any) -> Iterator[dict[str, Any]]:
    for panel in node.get("panels", []):
        yield panel
        yield from _panels(panel)


def test_every_query_uses_metrics_by_their_type_labels_and_values() -> None:
    """Names alone let a dashboard drift: a ``rate()`` over a gauge, a label the metric lost,
    a pacing input that is never exported all draw an empty panel without an error."""
    known = families_by_series()
    found: list[str] = []
    for panel in _panels(_dashboard()):
        for target in panel.get("targets", []):
            for problem in problems(target["expr"], target.get("legendFormat", ""), known):
                found.append(f"{panel['title']}: {problem}")
    for variable in _dashboard()["templating"]["list"]:
        query = variable.get("definition") or ""
        for metric, label in re.findall(r"label_values\((\w+),\s*(\w+)\)", query):
            family = known.get(metric)
            if family is None or label not in family.labels:
                found.append(f"variable {variable['name']}: {metric} has no label {label!r}")
    assert not found, "\n".join(found)


def test_the_checker_sees_the_mistakes_it_is_for() -> None:
    known = families_by_series()
    assert problems("rate(dialerd_calls_in_flight[5m])", known=known) == [
        "rate() over dialerd_calls_in_flight, a gauge"
    ]
    assert problems("dialerd_calls_placed_total", known=known) == []
    assert problems("dialerd_calls_placed", known=known) == ["dialerd_calls_placed: not exported"]
    assert problems(
        "histogram_quantile(0.9, sum by (le) (rate(dialerd_call_setup_seconds_sum[5m])))",
        known=known,
    ) == ["histogram_quantile() over dialerd_call_setup_seconds_sum, not a _bucket series"]
    assert problems('dialerd_pacing_input{input=~"agents_ready|agents_soon"}', known=known) == [
        "dialerd_pacing_input: input values ['agents_soon'] never exported"
    ]
    assert problems('dialerd_agents{campaign="x"}', known=known) == [
        "dialerd_agents: no label 'campaign' (it has ['state'])"
    ]
    assert problems("sum by (state) (dialerd_agents)", "{{campaign}}", known) == [
        "legend {{campaign}}: not a label of the result (['state'])"
    ]
