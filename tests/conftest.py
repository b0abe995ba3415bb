"""Shared test fixtures.

The autouse fixture below fails any test that leaves an asyncio task running: every task must be
owned by a TaskGroup and finished (or cancelled and awaited) when its owner stops.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
TRANSCRIPTS = SHARED / "asterisk" / "transcripts"


@pytest.fixture(autouse=True, scope="session")
def pacing_kernels_loaded() -> None:
    """Load the compiled pacing kernels (numba, if installed) once, before any test runs, as the
    daemon does at start (in a thread there). Otherwise the first test whose engine reaches them
    compiled them inside its event loop: ~0.4 s with numba's cache, seconds on a fresh clone,
    which at a test's 20x clock is 8 s or more of a call's life (a 2 s connect limit measured as
    10 s)."""
    from dialerd.pacing._kernels import kernels

    kernels()


@pytest.fixture(autouse=True)
async def no_leftover_tasks() -> AsyncIterator[None]:
    before = set(asyncio.all_tasks())
    yield
    current = asyncio.current_task()
    # Give tasks that are finishing one loop turn.
    for _ in range(3):
        left = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
        if not left:
            return
        await asyncio.sleep(0.01)
    names = ", ".join(sorted(t.get_name() + ":" + repr(t.get_coro()) for t in left))
    for t in left:
        t.cancel()
    pytest.fail(f"test left {len(left)} asyncio task(s) running: {names}")


@pytest.fixture
def transcripts_dir() -> Path:
    if not TRANSCRIPTS.is_dir():
        pytest.skip(f"recordings not found at {TRANSCRIPTS} (shared/ must sit beside the repo)")
    return TRANSCRIPTS


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    url = os.environ.get("DIALERD_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("DIALERD_TEST_POSTGRES_URL is not set (no PostgreSQL to test against)")
    yield url


@pytest.fixture(scope="session")
def mqtt_url() -> Iterator[str]:
    url = os.environ.get("DIALERD_TEST_MQTT")
    if not url:
        pytest.skip("DIALERD_TEST_MQTT is not set (no MQTT broker to test against)")
    yield url
