"""Where secrets come from: the file itself, the environment, a file, or systemd credentials.

A secret key ``K`` (``secret``, ``password``, ``token``) may be written as

* ``K = "..."`` — literal in the file (fine for the demo, discouraged in production),
* ``K_env = "NAME"`` — taken from environment variable ``NAME``,
* ``K_file = "/path"`` — read from a file (relative paths are relative to the config file),
* ``K_credential = "name"`` — read from ``$CREDENTIALS_DIRECTORY/name``, which systemd fills
  from ``LoadCredential=name:/etc/dialerd/credentials/name`` (see docs/deploy.md).

If none is given and a default credential name applies (``ami-<server>`` for an AMI secret,
``db-password`` for the store), that credential is used when systemd provides it. Resolution
happens while validating, so the model holds the secret as a ``SecretStr`` and nothing but the
code that needs it ever sees the value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationInfo

from dialerd.config.errors import FieldProblem

CREDENTIALS_DIRECTORY = "CREDENTIALS_DIRECTORY"


def context_env(info: ValidationInfo) -> Mapping[str, str]:
    ctx = info.context if isinstance(info.context, dict) else {}
    env = ctx.get("env")
    return env if env is not None else os.environ


def context_base_dir(info: ValidationInfo) -> Path:
    ctx = info.context if isinstance(info.context, dict) else {}
    base = ctx.get("base_dir")
    return Path(base) if base is not None else Path.cwd()


def context_resolves(info: ValidationInfo) -> bool:
    """False when checking a file on a host without its secrets (``--skip-secrets``)."""
    ctx = info.context if isinstance(info.context, dict) else {}
    return bool(ctx.get("resolve_secrets", True))


def _read_secret_file(path: Path, key: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FieldProblem(key, f"file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise FieldProblem(key, f"cannot read {str(path)!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise FieldProblem(key, f"{str(path)!r} is not UTF-8 text") from None
    value = text.rstrip("\r\n")
    if not value:
        raise FieldProblem(key, f"{str(path)!r} is empty")
    return value


def _credential(name: str, key: str, env: Mapping[str, str]) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise FieldProblem(key, f"{name!r} is not a credential name")
    directory = env.get(CREDENTIALS_DIRECTORY)
    if not directory:
        raise FieldProblem(
            key,
            f"{CREDENTIALS_DIRECTORY} is not set: credential {name!r} needs systemd "
            f"LoadCredential={name}:/path (or use {key.removesuffix('_credential')}_env/_file)",
        )
    return _read_secret_file(Path(directory) / name, key)


def resolve_secret(
    data: Any,
    key: str,
    info: ValidationInfo,
    *,
    default_credential: str | None = None,
) -> Any:
    """Replace ``key_env``/``key_file``/``key_credential`` in raw ``data`` by ``key``'s value.

    Leaves ``key`` absent when nothing is given and no default credential exists, so the model
    decides whether the secret is required.
    """
    if not isinstance(data, dict):
        return data
    data = dict(data)
    sources = [k for k in (key, f"{key}_env", f"{key}_file", f"{key}_credential") if k in data]
    if len(sources) > 1:
        raise FieldProblem(sources[1], f"give only one of {', '.join(sources)}")
    env = context_env(info)
    if not sources:
        if not context_resolves(info) and default_credential:
            data[key] = f"<unresolved credential {default_credential}>".ljust(32, ".")
            return data
        if default_credential and env.get(CREDENTIALS_DIRECTORY):
            path = Path(env[CREDENTIALS_DIRECTORY]) / default_credential
            if path.is_file():
                data[key] = _read_secret_file(path, key)
        return data
    source = sources[0]
    raw = data.pop(source)
    if source == key:
        return data | {key: raw}
    if not isinstance(raw, str) or not raw:
        raise FieldProblem(source, "must be a non-empty string")
    if not context_resolves(info):
        # Unique and long enough to pass the checks on the value itself.
        data[key] = f"<unresolved {source}={raw}>".ljust(32, ".")
        return data
    if source.endswith("_env"):
        value = env.get(raw)
        if value is None or value == "":
            raise FieldProblem(source, f"environment variable {raw} is not set or empty")
        data[key] = value
    elif source.endswith("_file"):
        path = Path(raw)
        if not path.is_absolute():
            path = context_base_dir(info) / path
        data[key] = _read_secret_file(path, source)
    else:
        data[key] = _credential(raw, source, env)
    return data
