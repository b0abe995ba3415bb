"""Read and validate the daemon's TOML file, turning every failure into a :class:`ConfigError`.

Pydantic's error locations (``('asterisk', 0, 'port')``) become the dotted keys an operator sees
in the file (``asterisk[0].port``); values of secret keys are never echoed back.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from dialerd.config.errors import ConfigError, ConfigProblem, FieldProblem
from dialerd.config.models import DaemonConfig, StoreConfig
from dialerd.domain.keys import unknown_key

_SECRET_KEY = re.compile(r"secret|password|token", re.IGNORECASE)


def load_config(
    path: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    resolve_secrets: bool = True,
) -> DaemonConfig:
    """Load ``path``; relative paths inside it (campaign files, secret files) are relative to it.

    ``env`` replaces ``os.environ`` for ``*_env`` secrets and ``CREDENTIALS_DIRECTORY`` (tests).
    ``resolve_secrets=False`` checks secret sources only for their form and fills placeholders:
    for checking a file on a host that does not hold the secrets; never to run with.
    """
    file = Path(path)
    data = _read(file)
    return validate_config(data, file, env=env, resolve_secrets=resolve_secrets)


def load_store_config(
    path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None
) -> DaemonConfig:
    """Load ``path`` for a command that opens the daemon's store and nothing else.

    The whole file is checked as :func:`load_config` does, but of its secrets only the
    ``[store]`` password is read (from the file, the environment, a file or a systemd
    credential, exactly as the daemon reads it): such a command needs neither the AMI secrets
    nor the API tokens, and where it runs (``systemd-run -p LoadCredential=db-password ...``)
    they may not be available. The other secrets hold placeholders: never run with them.
    """
    file = Path(path)
    data = _read(file)
    config = validate_config(data, file, env=env, resolve_secrets=False)
    try:
        store = StoreConfig.model_validate(
            data.get("store", {}), context=_context(file, env, resolve_secrets=True)
        )
    except ValidationError as exc:
        problems = [
            ConfigProblem(_join("store", p.key), p.message) for p in describe(exc, StoreConfig)
        ]
        raise ConfigError(file, problems) from None
    return config.model_copy(update={"store": store})


def _read(file: Path) -> dict[str, Any]:
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(file, [ConfigProblem("", "file does not exist")]) from None
    except OSError as exc:
        raise ConfigError(file, [ConfigProblem("", f"cannot read: {exc.strerror}")]) from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(file, [ConfigProblem("", f"not UTF-8 text (byte {exc.start})")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, [ConfigProblem("", f"TOML syntax error: {exc}")]) from None


def _context(file: Path, env: Mapping[str, str] | None, *, resolve_secrets: bool) -> dict[str, Any]:
    return {
        "env": os.environ if env is None else env,
        "base_dir": file.parent.resolve(),
        "resolve_secrets": resolve_secrets,
    }


def validate_config(
    data: dict[str, Any],
    file: Path,
    *,
    env: Mapping[str, str] | None = None,
    resolve_secrets: bool = True,
) -> DaemonConfig:
    context = _context(file, env, resolve_secrets=resolve_secrets)
    try:
        config = DaemonConfig.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(file, describe(exc, DaemonConfig)) from None
    return config.model_copy(update={"source": file})


def _key(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("["):
            out += part
        else:
            out += f".{part}" if out else part
    return out


def _join(base: str, sub: str) -> str:
    if not base:
        return sub
    return base + sub if sub.startswith("[") else f"{base}.{sub}"


def describe(exc: ValidationError, model: type[BaseModel]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        key = _key(loc)
        kind = err["type"]
        error = (err.get("ctx") or {}).get("error")
        if isinstance(error, FieldProblem):
            key = _join(key, error.key)
            message = error.message
        elif kind == "extra_forbidden":
            message = unknown_key(model, loc)
        elif kind == "missing":
            message = "required key is missing"
        else:
            message = err["msg"].removeprefix("Value error, ")
            shown = err.get("input")
            if (
                not _SECRET_KEY.search(key)
                and isinstance(shown, str | int | float | bool)
                and kind != "value_error"
            ):
                message += f" (got {shown!r})"
        problems.append(ConfigProblem(key, message))
    return problems
