"""Watches every task's drop folder by polling and imports what lands there.

Polling works on every file system (NFS, FTP chroots) where change notification does not. A
file is taken only when its size and modification time were the same on two polls in a row, so
an upload still in progress is not imported half-way.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import structlog

from dialerd.domain.clock import Clock
from dialerd.store import Store
from dialerd.store.errors import StoreError
from dialerd.taskflow.intake import DropResult, import_dropped, pending_files
from dialerd.taskflow.tasks.base import TaskConfigError
from dialerd.taskflow.tasks.settings import DropFolderSettings, drop_folder_settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class DropFolder:
    campaign: str
    task: str
    settings: DropFolderSettings

    @property
    def path(self) -> Path:
        return Path(self.settings.path)


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


class DropFolderWatcher:
    def __init__(self, store: Store, clock: Clock, *, poll_seconds: float | None = None) -> None:
        self.store = store
        self.clock = clock
        self.poll_seconds = poll_seconds
        self._sizes: dict[Path, tuple[int, int]] = {}
        self._errors: dict[str, str] = {}
        self.results: list[DropResult] = []

    async def folders(self) -> list[DropFolder]:
        out: list[DropFolder] = []
        for campaign in await self.store.list_campaigns():
            for task in await self.store.tasks(campaign.id):
                where = f"{campaign.name}: tasks.{task.name}.settings"
                try:
                    s = drop_folder_settings(task.settings, where)
                except TaskConfigError as exc:
                    if self._errors.get(where) != str(exc):
                        log.error("drop folder not watched", error=str(exc))
                    self._errors[where] = str(exc)
                    continue
                if s is not None:
                    out.append(DropFolder(campaign.name, task.name, s))
        return out

    async def poll_once(self) -> list[DropResult]:
        """Import the files that have stopped changing since the previous poll."""
        results: list[DropResult] = []
        seen: set[Path] = set()
        for folder in await self.folders():
            files = await asyncio.to_thread(pending_files, folder.path)
            for path in files:
                seen.add(path)
                stat = await asyncio.to_thread(_stat, path)
                if stat is None:
                    continue
                if self._sizes.get(path) != stat:
                    self._sizes[path] = stat  # still arriving, or new: look again next poll
                    continue
                del self._sizes[path]
                results.append(
                    await import_dropped(
                        self.store,
                        path,
                        campaign=folder.campaign,
                        task=folder.task,
                        settings=folder.settings,
                        clock=self.clock,
                    )
                )
        for gone in set(self._sizes) - seen:
            del self._sizes[gone]
        self.results.extend(results)
        del self.results[:-1000]
        return results

    async def run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except StoreError as exc:
                log.warning("drop folders not polled", error=str(exc))
            except Exception:
                log.exception("drop folder poll crashed; trying again")
            await self.clock.sleep(await self._interval())

    async def _interval(self) -> float:
        if self.poll_seconds is not None:
            return self.poll_seconds
        try:
            folders = await self.folders()
        except StoreError:
            folders = []
        return min((f.settings.poll.total_seconds() for f in folders), default=10.0) or 1.0
