"""The demo's live console view: what the campaign is doing, refreshed about once a second.

On a terminal the screen is redrawn in place; when stdout is a pipe or a file (CI, a test, a
log) one compact line is written every few seconds instead, so the output stays readable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from dialerd.daemon.app import Daemon
from dialerd.domain.changes import OverviewRow
from dialerd.domain.enums import AgentState

CLEAR = "\x1b[H\x1b[2J"
STATES = tuple(s.value for s in AgentState)


@dataclass(slots=True)
class ViewHeader:
    """Lines that do not change during the run (URLs, clock, what is simulated)."""

    lines: list[str]
    timezone: str
    speed: float
    minutes: float | None


def contacts_by_task(rows: Iterable[OverviewRow]) -> dict[str, list[str]]:
    """Per task: ``["open 2712", "open/$follow_up_auto 150", "waiting for recall 3"]``."""
    by_task: dict[str, list[str]] = {}
    for r in rows:
        label = r.status.value
        if r.status_detail and r.status_detail != "$none":
            label += f"/{r.status_detail}"
        if r.waiting_for is not None:
            label = f"waiting for {r.waiting_for}"
        by_task.setdefault(r.task, []).append(f"{label} {r.count}")
    return by_task


class ConsoleView:
    def __init__(
        self, daemon: Daemon, header: ViewHeader, out: TextIO, *, tty: bool | None = None
    ) -> None:
        self.daemon = daemon
        self.header = header
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.started = time.monotonic()
        self.overview: list[OverviewRow] = []
        self._overview_at = 0.0

    async def run(self, interval: float = 1.0) -> None:
        """Redraw until cancelled (real time: a person is watching)."""
        plain_every = 5.0
        last_plain = 0.0
        while True:
            await self.refresh_overview()
            now = time.monotonic()
            if self.tty:
                self.out.write(CLEAR + "\n".join(self.screen()) + "\n")
                self.out.flush()
            elif now - last_plain >= plain_every:
                self.out.write(self.compact() + "\n")
                self.out.flush()
                last_plain = now
            await asyncio.sleep(interval)

    async def refresh_overview(self, max_age: float = 2.0) -> None:
        d = self.daemon
        if d.store is None or d.engine is None or not d.ready.is_set():
            return
        if time.monotonic() - self._overview_at < max_age:
            return
        rows: list[OverviewRow] = []
        for view in d.engine.status().campaigns:
            rows.extend(await d.store.overview(view.id))
        self.overview = rows
        self._overview_at = time.monotonic()

    def _elapsed(self) -> str:
        s = int(time.monotonic() - self.started)
        text = f"{s // 60}:{s % 60:02d}"
        if self.header.minutes is not None:
            total = int(self.header.minutes * 60)
            text += f" of {total // 60}:{total % 60:02d}"
        return text

    def _clock(self) -> str:
        now: datetime = self.daemon.clock.now().astimezone(ZoneInfo(self.header.timezone))
        return f"{now:%a %Y-%m-%d %H:%M:%S} {self.header.timezone}"

    def screen(self) -> list[str]:
        d = self.daemon
        lines = [
            f"dialerd demo   demo clock {self._clock()} ({self.header.speed:g}x)   "
            f"real time {self._elapsed()}   Ctrl-C stops (drains calls, prints a summary)",
            *self.header.lines,
            "",
        ]
        if d.engine is None or not d.ready.is_set():
            lines.append("starting: " + d.status_line())
            return lines
        st = d.engine.status()
        t = d.listener.totals
        agents = d.listener.agents_by_state()
        for c in st.campaigns:
            state = "dialing" if c.active else "not dialing"
            lines.append(
                f"campaign {c.name} ({c.dial_mode}, {state}, runner {c.runner})   "
                f"calls in flight {c.calls_in_flight}   awaiting disposition "
                f"{c.awaiting_disposition}"
            )
            dec = c.last_decision
            if dec is not None:
                why = f" ({dec.reason})" if dec.reason else ""
                high = dec.answer_probability_high
                # the rate a burst is checked against (see dialerd.pacing.predictive)
                fallen = f", last hour up to {high:.2f}" if high > dec.answer_probability else ""
                lines.append(
                    f"  pacing: dial {dec.calls} now [{dec.dial_mode}]{why}: ready {dec.ready}, "
                    f"talking {dec.talking}, wrapup {dec.wrapup}, ringing {dec.ringing}, "
                    f"queued {dec.queued}, free lines {dec.free_lines}, "
                    f"answer p {dec.answer_probability:.2f} ({dec.samples} samples{fallen})"
                )
                for p in dec.servers:  # a campaign decided server by server
                    lines.append(
                        f"    on {p.server}: dial {p.calls} [{p.mode_used}]: ready {p.ready}, "
                        f"talking {p.talking}, wrapup {p.wrapup}, ringing {p.ringing}, "
                        f"queued {p.queued}, team {p.team}"
                    )
            if c.abandonment:
                lines.append(
                    "  abandonment: "
                    + "   ".join(
                        f"{w.name} {w.abandoned}/{w.live_answers} = {w.rate:.1%}"
                        for w in c.abandonment
                    )
                )
        lines.append(
            "agents: " + "  ".join(f"{s} {agents.get(s, 0)}" for s in STATES if s != "offline")
        )
        lines.append(
            f"calls: placed {t.placed}  finished {t.finished}  answered live {t.answered}  "
            f"connected {t.connected}  abandoned {t.abandoned} ({t.abandonment_rate:.1%})"
        )
        if t.results:
            lines.append("results: " + ", ".join(f"{k} {v}" for k, v in sorted(t.results.items())))
        lines.append("")
        lines.append("contacts per task/status:")
        for task, parts in contacts_by_task(self.overview).items():
            lines.append(f"  {task:<10} " + ", ".join(parts))
        return lines

    def compact(self) -> str:
        d = self.daemon
        if d.engine is None or not d.ready.is_set():
            return f"[{self._elapsed()}] starting: {d.status_line()}"
        st = d.engine.status()
        t = d.listener.totals
        agents = d.listener.agents_by_state()
        agent_text = " ".join(f"{s} {agents[s]}" for s in STATES if agents.get(s))
        return (
            f"[{self._elapsed()}] {self._clock()}: in flight {st.calls_in_flight}, "
            f"placed {t.placed}, connected {t.connected}, abandoned {t.abandoned}/{t.answered} "
            f"({t.abandonment_rate:.1%}); agents {agent_text or 'none'}"
        )
