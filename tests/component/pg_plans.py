"""Reading PostgreSQL query plans in the tests that check an index is used."""

from __future__ import annotations

from typing import Any


def plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of an ``EXPLAIN (FORMAT JSON)`` plan, depth first."""
    out = [plan]
    for child in plan.get("Plans", []):
        out.extend(plan_nodes(child))
    return out
