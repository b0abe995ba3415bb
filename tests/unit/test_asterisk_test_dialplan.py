"""asterisk-test's ``[sim-callees]`` (the dialplan dialerd is checked with against a real
Asterisk) routes the numbers dialerd dials: imports and the API store numbers in E.164
(``555010004`` with region DE is ``+49555010004``) and the default dial template sends them as
``Local/+49555010004@sim-callees``, which matched no extension ("no route", every contact
``invalid_number``). No Asterisk runs here: the extensions are read from the file and matched
the way Asterisk matches patterns (``X`` ``Z`` ``N`` ``[...]`` ``.`` ``!``, ``-`` ignored),
``Goto(${EXTEN:n},1)`` followed as Asterisk would.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dialerd.domain.phone import normalize_phone

CONF = Path(__file__).resolve().parents[2] / "asterisk-test" / "etc" / "extensions.conf"


def _context(name: str) -> list[tuple[str, str]]:
    """(pattern, first application) of each ``exten => X,1,...`` of ``[name]``."""
    out: list[tuple[str, str]] = []
    current = None
    for line in CONF.read_text().splitlines():
        line = line.split(";", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
        elif current == name and line.startswith("exten =>"):
            exten, prio, app = (p.strip() for p in line[len("exten =>") :].split(",", 2))
            if prio == "1":
                out.append((exten, app))
    return out


def _regex(pattern: str) -> re.Pattern[str]:
    if not pattern.startswith("_"):
        return re.compile(re.escape(pattern))
    out, i, body = [], 0, pattern[1:]
    while i < len(body):
        ch = body[i]
        if ch == "[":
            end = body.index("]", i)
            out.append("[" + body[i + 1 : end] + "]")
            i = end + 1
            continue
        out.append(
            {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", ".": ".+", "!": ".*", "-": ""}.get(
                ch.upper() if ch in "xzn" else ch, re.escape(ch)
            )
        )
        i += 1
    return re.compile("".join(out))


def route(number: str, hops: int = 5) -> str | None:
    """The first application the number reaches in ``[sim-callees]`` (None: no route)."""
    exts = _context("sim-callees")
    for _ in range(hops):
        found = [app for pat, app in exts if _regex(pat).fullmatch(number)]
        if not found:
            return None
        assert len(found) == 1, f"{number} matches {len(found)} extensions"
        jump = re.fullmatch(r"Goto\(\$\{EXTEN:(\d+)\},1\)", found[0])
        if jump is None:
            return found[0]
        number = number[int(jump.group(1)) :]
    raise AssertionError("Goto loop")


@pytest.mark.parametrize("national", [f"5550{k}0004" for k in range(1, 9)])
def test_an_e164_number_reaches_the_callee_of_its_national_form(national: str) -> None:
    callee = route(national)
    assert callee is not None and callee.startswith("NoOp(sim: ")
    stored = normalize_phone(national, "DE")  # what an import or the API stores
    assert stored == f"+49{national}"
    assert route(stored) == callee
    # country codes of one and three digits alike
    assert route(f"+1{national}") == callee
    assert route(f"+353{national}") == callee


@pytest.mark.parametrize(
    "number", ["12345", "+4912345", "+49555090004", "+4955501000", "+12345555010004"]
)
def test_other_numbers_still_have_no_route(number: str) -> None:
    assert route(number) is None
