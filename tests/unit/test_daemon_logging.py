"""Daemon logs: JSON lines for journald, ids bound per context, secrets never written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from pydantic import SecretStr

from dialerd.daemon.logging import CALLS_LOGGER, bound_ids, configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_with_bound_ids_when_not_a_terminal(restore_logging: None) -> None:
    out = io.StringIO()
    assert configure_logging("info", "auto", stream=out) == "json"
    log = structlog.get_logger("dialerd.engine.test")
    with bound_ids(campaign="spring", contact=42, attempt=7, agent=None):
        log.info("call answered", ring_seconds=3.5)
    log.info("after")
    log.debug("hidden below the level")
    first, second = lines(out)
    assert first["event"] == "call answered" and first["level"] == "info"
    assert (first["campaign"], first["contact"], first["attempt"]) == ("spring", 42, 7)
    assert "agent" not in first and "campaign" not in second
    assert "timestamp" in first


def test_secrets_are_redacted_in_keys_values_urls_and_stdlib_logs(
    restore_logging: None,
) -> None:
    out = io.StringIO()
    configure_logging("debug", "json", stream=out)
    log = structlog.get_logger("t")
    log.info(
        "connecting",
        secret="ami-s3cret",
        url="postgresql+asyncpg://dialerd:db-s3cret@db/dialerd",
        server={"name": "pbx1", "password": "nested-s3cret"},
        value=SecretStr("secretstr-s3cret"),
        header="Bearer tok-s3cret",
    )
    logging.getLogger("uvicorn.error").warning("login with token=%s", "x", extra={})
    logging.getLogger("some.lib").warning("dsn mqtt://u:lib-s3cret@h:1883")
    text = out.getvalue()
    assert "s3cret" not in text
    record = lines(out)[0]
    assert record["secret"] == "***"
    assert record["url"] == "postgresql+asyncpg://dialerd:***@db/dialerd"
    assert record["server"] == {"name": "pbx1", "password": "***"}
    assert "mqtt://u:***@h:1883" in text


def test_console_format_is_human_readable(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("info", "console", stream=out)
    structlog.get_logger("t").info("runner started", campaign="spring")
    text = out.getvalue()
    assert "runner started" in text and "campaign" in text and not text.startswith("{")


def test_the_line_per_call_can_be_turned_off_and_its_warnings_stay(
    restore_logging: None,
) -> None:
    for calls, expected in ((True, ["call finished", "w"]), (False, ["w"])):
        out = io.StringIO()
        configure_logging("info", "json", stream=out, calls=calls)
        log = structlog.get_logger(CALLS_LOGGER)
        log.info("call finished", campaign="spring", contact=42, attempt="a1")
        log.warning("w")
        assert [line["event"] for line in lines(out)] == expected
