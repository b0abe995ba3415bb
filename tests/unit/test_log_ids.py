"""A log line about one call names the call's attempt, its contact and its campaign, so an
operator can follow the call with one query (``jq 'select(.contact==42)'``) and find it in
the API, whichever line they start from."""

from __future__ import annotations

import ast
from pathlib import Path

import dialerd

SRC = Path(dialerd.__file__).parent
LEVELS = {"debug", "info", "warning", "error", "exception", "critical"}
#: Loggers bound to a campaign (``log.bind(campaign=...)``) in these modules.
BOUND = {"self._log"}
#: Lines that cannot know the contact: an outcome for an attempt no runner has (any more).
NO_CONTACT = {("engine.py", "outcome of an attempt no runner owns")}


def _log_calls(path: Path) -> list[tuple[int, str, str, set[str]]]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in LEVELS:
            continue
        target = ast.unparse(node.func.value)
        if not target.endswith("log"):
            continue
        first = node.args[0] if node.args else None
        event = first.value if isinstance(first, ast.Constant) else ""
        out.append((node.lineno, target, str(event), {k.arg for k in node.keywords if k.arg}))
    return out


def test_engine_lines_that_name_an_attempt_name_its_contact_and_campaign() -> None:
    missing = []
    for path in sorted((SRC / "engine").glob("*.py")):
        for line, target, event, keys in _log_calls(path):
            if "attempt" not in keys:
                continue
            if "contact" not in keys and (path.name, event) not in NO_CONTACT:
                missing.append(f"{path.name}:{line}: no contact")
            if target not in BOUND and "campaign" not in keys:
                missing.append(f"{path.name}:{line}: no campaign ({target} is not bound to one)")
    assert not missing, "\n".join(missing)
