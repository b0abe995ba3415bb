"""The Grafana dashboard queries only metrics the daemon exports, and shows all of them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
