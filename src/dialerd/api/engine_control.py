"""What the API needs from the running engine (``dialerd.engine.Engine`` satisfies it).

Parameters are positional-only so the engine may name them as it likes; every method may be a
coroutine function or a plain one, and may return ``None``, a mapping or a dataclass (the API
renders whatever comes back). Errors the engine raises map to status codes as described in
:mod:`dialerd.api.errors`: ``LookupError`` 404, ``ValueError`` 422, ``PermissionError`` 403, store
errors as the store's, anything else 500.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from dialerd.domain.enums import Status


@runtime_checkable
class EngineControl(Protocol):
    def agent_login(self, agent: str, campaign: str | None = None, /) -> object:
        """Into every campaign the agent may take, or only ``campaign`` (name or id)."""
        ...

    def agent_logout(self, agent: str, campaign: str | None = None, /) -> object: ...

    def agent_pause(self, agent: str, paused: bool, reason: str | None, /) -> object:
        """Pause (``paused=True``, with an optional reason) or unpause an agent."""
        ...

    def disposition(
        self,
        agent: str,
        status: Status,
        status_detail: str | None,
        note: str | None,
        callback_at: datetime | None,
        attempt_id: str | None,
        /,
    ) -> object:
        """The agent's result for its current (or the given) attempt."""
        ...

    def preview_accept(self, agent: str, contact_id: int, /) -> object:
        """Dial the contact on offer to the agent (preview dial mode)."""
        ...

    def preview_skip(self, agent: str, contact_id: int, /) -> object: ...

    def status(self) -> object:
        """Campaign runners, calls in flight, agents by state (a mapping or dataclass)."""
        ...

    def reload(self) -> object:
        """Re-read campaigns and agents from the store (after the API changed them)."""
        ...


if TYPE_CHECKING:
    from dialerd.engine.engine import Engine

    # mypy proves here that the real engine fits what the API calls.
    _engine_fits: type[EngineControl] = Engine
