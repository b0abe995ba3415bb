"""Read the YAML of dialerd's Prometheus rule file without PyYAML (not a dependency).

The subset: block mappings and block sequences by indentation, ``#`` comment lines, plain
scalars, double-quoted scalars (JSON escapes) and single-quoted ones. Anything else (flow
collections, block scalars, anchors, a ``: `` or `` #`` inside a plain scalar) is refused
with the line number, so the rule file stays within what this reads the way Prometheus does.
"""

from __future__ import annotations

import json
from typing import Any


class YamlSubsetError(ValueError):
    pass


def load(text: str) -> Any:
    lines: list[tuple[int, int, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise YamlSubsetError(f"line {number}: tab in indentation")
        lines.append((number, len(raw) - len(raw.lstrip(" ")), stripped))
    if not lines:
        return None
    value, end = _block(lines, 0, lines[0][1])
    if end != len(lines):
        raise YamlSubsetError(f"line {lines[end][0]}: unexpected indentation")
    return value


def _block(lines: list[tuple[int, int, str]], i: int, indent: int) -> tuple[Any, int]:
    if lines[i][2].startswith("- ") or lines[i][2] == "-":
        return _sequence(lines, i, indent)
    return _mapping(lines, i, indent)


def _sequence(lines: list[tuple[int, int, str]], i: int, indent: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    while i < len(lines) and lines[i][1] == indent and lines[i][2].startswith("- "):
        number, _, content = lines[i]
        rest = content[2:].lstrip()
        inner = indent + (len(content) - len(rest))
        if ":" in _unquoted(rest):
            lines = [*lines[:i], (number, inner, rest), *lines[i + 1 :]]
            value, i = _mapping(lines, i, inner)
        else:
            value, i = _scalar(rest, number), i + 1
        items.append(value)
    return items, i


def _mapping(lines: list[tuple[int, int, str]], i: int, indent: int) -> tuple[dict[str, Any], int]:
    out: dict[str, Any] = {}
    while i < len(lines) and lines[i][1] == indent and not lines[i][2].startswith("- "):
        number, _, content = lines[i]
        key, sep, rest = content.partition(": ") if ": " in content else content.partition(":")
        if not sep or not key or key != key.strip():
            raise YamlSubsetError(f"line {number}: expected 'key: value'")
        if key in out:
            raise YamlSubsetError(f"line {number}: key {key!r} twice")
        rest = rest.strip()
        if rest:
            out[key] = _scalar(rest, number)
            i += 1
            continue
        i += 1
        if i < len(lines) and (
            lines[i][1] > indent or (lines[i][1] == indent and lines[i][2].startswith("- "))
        ):
            out[key], i = _block(lines, i, lines[i][1])
        else:
            out[key] = None
    if i < len(lines) and lines[i][1] > indent:
        raise YamlSubsetError(f"line {lines[i][0]}: unexpected indentation")
    return out, i


def _unquoted(text: str) -> str:
    """``text`` up to its first quote (a ``key:`` is before any quoted value)."""
    for q in ('"', "'"):
        text = text.split(q, 1)[0]
    return text


def _scalar(text: str, number: int) -> Any:
    if text.startswith('"'):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise YamlSubsetError(f"line {number}: bad double-quoted scalar: {exc}") from None
        return value
    if text.startswith("'"):
        if not text.endswith("'") or len(text) < 2:
            raise YamlSubsetError(f"line {number}: unterminated single-quoted scalar")
        return text[1:-1].replace("''", "'")
    if text[0] in "[{|>&*!%@`" or ": " in text or " #" in text:
        raise YamlSubsetError(f"line {number}: outside the subset: {text!r}")
    return text
