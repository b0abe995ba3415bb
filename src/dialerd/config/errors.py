"""Configuration errors that name the file, the key and what is wrong.

An operator reading a failed start in the journal must be able to fix the file without reading
code, so every problem carries the dotted key path (``asterisk[0].port``) next to the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


class ConfigError(Exception):
    """The configuration file cannot be used; ``str()`` is one line per problem."""

    def __init__(self, path: Path | str, problems: list[ConfigProblem]) -> None:
        self.path = Path(path)
        self.problems = problems
        super().__init__("\n".join(f"{self.path}: {p}" for p in problems))


class FieldProblem(ValueError):
    """Raised inside validators to name the sub-key at fault.

    Pydantic places errors of a model validator at the model itself; the key (``secret_env``,
    ``agents[2].name`` ...) carried here is appended to that location when the error is shown.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message
