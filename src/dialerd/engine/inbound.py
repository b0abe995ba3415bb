"""Inbound calls on a campaign's numbers become contacts of its ``new_contact`` task.

The numbers (DIDs) come from the settings of the campaigns' ``new_contact`` tasks
(``dids = ["+4930..."]``, optional ``context``) and are re-read from the store periodically, so
a campaign change needs no restart. Calls are handled one at a time in arrival order, so two
quick calls from one number find the contact the first one created.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from dialerd.ami import AsteriskServer
from dialerd.ami.inbound import InboundCall, InboundDetector, watch_inbound
from dialerd.domain.clock import Clock
from dialerd.domain.enums import TaskType
from dialerd.store import Store
from dialerd.store.errors import StoreError
from dialerd.taskflow.intake import InboundContact, contact_for_caller
from dialerd.taskflow.tasks.base import TaskConfigError
from dialerd.taskflow.tasks.settings import NewContactSettings, parse_settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class InboundRoute:
    campaign_id: int
    campaign: str
    task: str
    context: str | None


class InboundIntake:
    def __init__(
        self,
        store: Store,
        servers: Mapping[str, AsteriskServer],
        clock: Clock,
        *,
        refresh_seconds: float = 30.0,
        region: str = "DE",
    ) -> None:
        self.store = store
        self.servers = dict(servers)
        self.clock = clock
        self.refresh_seconds = refresh_seconds
        self.region = region
        self.routes: dict[str, InboundRoute] = {}
        self.handled: list[tuple[InboundCall, InboundContact | None]] = []
        self._queue: asyncio.Queue[InboundCall] = asyncio.Queue()
        self._detectors = {
            name: InboundDetector((), server=name, clock=clock) for name in self.servers
        }
        self._ready = asyncio.Event()

    async def refresh(self) -> None:
        routes: dict[str, InboundRoute] = {}
        for campaign in await self.store.list_campaigns():
            for task in await self.store.tasks(campaign.id):
                if task.type is not TaskType.NEW_CONTACT:
                    continue
                where = f"{campaign.name}: tasks.{task.name}.settings"
                try:
                    s = parse_settings(NewContactSettings, task.settings, where)
                except TaskConfigError as exc:
                    log.error("inbound numbers not watched", error=str(exc))
                    continue
                for did in s.dids:
                    if did in routes:
                        log.warning("DID used by two campaigns; the first wins", did=did)
                        continue
                    routes[did] = InboundRoute(campaign.id, campaign.name, task.name, s.context)
        self.routes = routes
        for d in self._detectors.values():
            d.set_dids(routes)

    async def wait_ready(self) -> None:
        """Until the numbers are loaded and the servers watched (for tests and start-up)."""
        await self._ready.wait()

    async def run(self) -> None:
        for name, server in self.servers.items():
            watch_inbound(server, self._detectors[name], self._queue.put_nowait)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._refresher(), name="inbound-refresh")
            while True:
                call = await self._queue.get()
                await self.handle(call)

    async def _refresher(self) -> None:
        while True:
            try:
                await self.refresh()
                self._ready.set()
            except StoreError as exc:
                log.warning("inbound numbers not refreshed", error=str(exc))
            await self.clock.sleep(self.refresh_seconds)

    async def handle(self, call: InboundCall) -> InboundContact | None:
        route = self.routes.get(call.did)
        if route is None or (route.context is not None and route.context != call.context):
            self.handled.append((call, None))
            return None
        try:
            result = await contact_for_caller(
                self.store,
                route.campaign_id,
                route.task,
                call.caller,
                did=call.did,
                now=self.clock.now(),
                region=self.region,
            )
        except StoreError as exc:
            log.error("inbound call not recorded", did=call.did, error=str(exc))
            self.handled.append((call, None))
            return None
        log.info(
            "inbound call",
            campaign=route.campaign,
            did=call.did,
            contact=result.contact_id,
            created=result.created,
        )
        self.handled.append((call, result))
        return result
