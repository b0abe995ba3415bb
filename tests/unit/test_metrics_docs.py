"""docs/deploy.md lists every metric the daemon exports, with its type and labels, and no
metric it does not export; the docs and README name only exported series, and the alerts
table lists the rules the rule file has."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from promql_refs import families_by_series

from dialerd.daemon.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docs" / "deploy.md"


def _table(heading: str) -> list[list[str]]:
    text = DEPLOY.read_text()
    section = text.split(f"\n### {heading}\n", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def _code(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_every_exported_metric_is_documented_with_its_type_and_labels() -> None:
    documented = {}
    for name, kind, labels, what in _table("Metrics"):
        (series,) = _code(name)
        assert series not in documented, f"{series} listed twice"
        documented[series] = (kind, tuple(sorted(_code(labels))), what)
    exported = {}
    for family in Metrics().families():
        series = family.name if family.type == "histogram" else family.series[0]
        exported[series] = (family.type, tuple(sorted(family.labels)))
    assert sorted(set(exported) - set(documented)) == [], "exported, not in docs/deploy.md"
    assert sorted(set(documented) - set(exported)) == [], "in docs/deploy.md, not exported"
    for series, (kind, labels) in exported.items():
        assert documented[series][:2] == (kind, labels), series
        assert documented[series][2], series


def test_the_docs_name_only_exported_series() -> None:
    known = set(families_by_series())
    known |= {f.name for f in Metrics().families() if f.type == "histogram"}
    unknown = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for name in re.findall(r"\bdialerd_[a-z0-9_]+", path.read_text()):
            if name not in known:
                unknown.append(f"{path.name}: {name}")
    assert not unknown, unknown


def test_the_alerts_table_lists_the_rules_of_the_rule_file() -> None:
    doc = yaml.safe_load((ROOT / "config" / "prometheus" / "dialerd-alerts.yml").read_text())
    rules = {r["alert"]: r["labels"]["severity"] for g in doc["groups"] for r in g["rules"]}
    table = {_code(name)[0]: severity for name, severity, _ in _table("Alerts")}
    assert table == rules
