"""The layer rule of DESIGN.md: a layer imports only the layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "dialerd"

# Each layer and the dialerd layers it may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "store": {"domain"},
    "ami": {"domain"},
    "taskflow": {"domain", "store"},
    "pacing": {"domain"},
    "engine": {"domain", "store", "ami", "taskflow", "pacing"},
    "bus": {"domain", "store", "ami", "taskflow", "pacing", "engine"},
    "api": {"domain", "store", "ami", "taskflow", "pacing", "engine", "bus"},
    "sim": {"domain", "ami"},
    # Benchmarks are command-line plugins (``dialerd bench NAME``): they sit beside the CLI.
    "bench": {"domain", "store", "ami", "taskflow", "pacing", "engine", "sim", "cli", "config"},
    "daemon": {
        "domain",
        "store",
        "ami",
        "taskflow",
        "pacing",
        "engine",
        "api",
        "bus",
        "sim",
        "config",
    },
    "cli": {
        "domain",
        "store",
        "ami",
        "taskflow",
        "pacing",
        "engine",
        "api",
        "bus",
        "sim",
        "bench",
        "daemon",
        "config",
    },
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "dialerd" and len(parts) > 1 and parts[1] in ALLOWED:
                found.add(parts[1])
    return found


def test_layers_import_only_layers_below() -> None:
    wrong = []
    for layer, allowed in ALLOWED.items():
        if not (SRC / layer).is_dir():
            continue
        for path in (SRC / layer).rglob("*.py"):
            for used in _imports(path) - allowed - {layer}:
                wrong.append(f"{path.relative_to(SRC)} imports dialerd.{used}")
    assert not wrong, "layer rule broken:\n" + "\n".join(wrong)


def test_no_sql_outside_store() -> None:
    wrong = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] in ("store",):
            continue
        text = path.read_text()
        if "import sqlalchemy" in text or "from sqlalchemy" in text:
            wrong.append(str(rel))
    assert not wrong, "SQLAlchemy used outside dialerd.store: " + ", ".join(wrong)
