"""The shipped Prometheus alert rules parse as YAML and query only what the
daemon exports, by type, labels and label values (promtool is not needed to run this)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from promql_refs import families_by_series, problems

RULES = Path(__file__).resolve().parents[2] / "config" / "prometheus" / "dialerd-alerts.yml"
DURATION = re.compile(r"(\d+(ms|s|m|h|d|w|y))+")


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    assert set(doc) == {"groups"}
    rules: list[dict[str, Any]] = []
    for group in doc["groups"]:
        assert set(group) <= {"name", "interval", "rules"}, group.keys()
        assert group["name"] and group["rules"]
        rules += group["rules"]
    return rules


def test_every_rule_is_a_complete_alert() -> None:
    rules = _rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)), names
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
        if "for" in rule:
            assert DURATION.fullmatch(rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_every_rule_queries_what_the_daemon_exports() -> None:
    known = families_by_series()
    found: list[str] = []
    for rule in _rules():
        found += [f"{rule['alert']}: {p}" for p in problems(rule["expr"], known=known)]
        labels = {
            label
            for name in re.findall(r"\bdialerd_\w+", rule["expr"])
            if name in known
            for label in known[name].labels
        } | {"instance", "job"}
        for text in rule["annotations"].values():
            for label in re.findall(r"\$labels\.(\w+)", text):
                if label not in labels:
                    found.append(f"{rule['alert']}: annotation names {label!r}, no such label")
    assert not found, "\n".join(found)


def test_what_an_operator_must_be_woken_for_is_covered() -> None:
    """Daemon down, AMI link down, store unavailable, pacing stalled, abandonment over the
    target page someone; abandonment near it and agents waiting without calls are warnings."""
    by_metric = {}
    for rule in _rules():
        for name in re.findall(r"\b(?:dialerd_\w+|up)\b", rule["expr"]):
            by_metric.setdefault(name, set()).add(rule["labels"]["severity"])
    for metric in (
        "up",
        "dialerd_ami_link_up",
        "dialerd_store_up",
        "dialerd_pacing_stalled",
        "dialerd_abandonment_rate",
    ):
        assert "critical" in by_metric.get(metric, set()), metric
    assert "warning" in by_metric["dialerd_calls_placed_total"]
