"""The alert rules and the dashboard's queries through a real Prometheus parser: ``promtool``.

``promtool check rules`` parses every alert as Prometheus loads it, and ``promtool test rules``
runs ``config/prometheus/dialerd-alerts.test.yml``: each alert firing, and not firing, on series
named as the daemon exports them. The dashboard's queries (Grafana's ``$campaign``,
``$server`` and ``$__rate_interval`` filled in) are checked as recording rules, so a query
Prometheus would refuse fails here. Skipped, with the reason, where promtool is not installed
(Debian: ``apt-get install prometheus``; ``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

CONFIG = Path(__file__).resolve().parents[2] / "config"
RULES = CONFIG / "prometheus" / "dialerd-alerts.yml"
RULE_TESTS = CONFIG / "prometheus" / "dialerd-alerts.test.yml"
DASHBOARD = CONFIG / "grafana" / "dialerd.json"

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not on PATH (Debian: apt-get install prometheus)"
)


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_prometheus_loads_the_alert_rules() -> None:
    done = _promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    count = len(yaml.safe_load(RULES.read_text())["groups"][0]["rules"])
    assert f"SUCCESS: {count} rules found" in done.stdout


def test_every_alert_fires_and_stays_quiet_where_it_should() -> None:
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    assert tested == alerts, f"alerts without a firing test: {sorted(alerts - tested)}"
    done = _promtool("test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr


def _queries(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from _queries(value)
    elif isinstance(node, list):
        for item in node:
            yield from _queries(item)


def test_prometheus_parses_every_dashboard_query(tmp_path: Path) -> None:
    queries = list(_queries(json.loads(DASHBOARD.read_text())))
    assert queries
    filled = {"$__rate_interval": "5m", "$campaign": ".+", "$server": ".+"}
    rules = []
    for i, query in enumerate(queries):
        for var, value in filled.items():
            query = query.replace(var, value)
        assert not re.search(r"\$\{?\w", query), f"unknown Grafana variable in {query!r}"
        rules.append({"record": f"dashboard:query_{i}", "expr": query})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = _promtool("check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
