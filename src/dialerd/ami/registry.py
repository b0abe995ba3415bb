"""Several Asterisk servers, one link each, by name (DESIGN.md "Scale").

Calls are spread by free channels: :meth:`AsteriskRegistry.pick` returns the ready server with the
most room left (``max_channels`` minus its calls in progress), so one slow or lost server does not
stall dialing on the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator

from dialerd.ami.server import AsteriskServer, ServerConfig
from dialerd.domain.clock import Clock


class AsteriskRegistry:
    """Use as ``async with AsteriskRegistry(configs, clock=clock) as servers:``."""

    def __init__(self, configs: Iterable[ServerConfig], *, clock: Clock | None = None) -> None:
        self._servers: dict[str, AsteriskServer] = {}
        for cfg in configs:
            if cfg.name in self._servers:
                raise ValueError(f"Asterisk server name {cfg.name!r} is used twice")
            self._servers[cfg.name] = AsteriskServer(cfg, clock=clock)

    async def __aenter__(self) -> AsteriskRegistry:
        for server in self._servers.values():
            server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self._servers.values()))

    def __getitem__(self, name: str) -> AsteriskServer:
        try:
            return self._servers[name]
        except KeyError:
            raise KeyError(f"no Asterisk server named {name!r}") from None

    def get(self, name: str) -> AsteriskServer | None:
        return self._servers.get(name)

    def __iter__(self) -> Iterator[AsteriskServer]:
        return iter(self._servers.values())

    def __len__(self) -> int:
        return len(self._servers)

    @property
    def names(self) -> list[str]:
        return list(self._servers)

    def ready(self) -> list[AsteriskServer]:
        return [s for s in self._servers.values() if s.ready]

    def free_channels(self, server: AsteriskServer) -> float:
        limit = server.config.max_channels
        if limit is None:
            return float("inf")
        return float(limit - server.calls.open_count)

    def pick(self) -> AsteriskServer | None:
        """The ready server with the most free channels, or ``None`` if none can take a call."""
        best: AsteriskServer | None = None
        best_free = 0.0
        for s in self.ready():
            free = self.free_channels(s)
            if free > 0 and (best is None or free > best_free):
                best, best_free = s, free
        return best
