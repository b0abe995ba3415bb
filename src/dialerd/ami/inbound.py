"""Inbound calls on a DID, as a typed event for the layers above.

A call from the network into Asterisk starts with a ``Newchannel`` in the trunk's dialplan
context whose extension is the dialled number (the DID) and whose caller ID is the caller's
number. Outbound calls of the dialer start in its own contexts (Local channels), so the DIDs
and, optionally, the inbound context tell the two apart. One call is reported once, by the first
channel of its ``Linkedid``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from dialerd.ami.events import NewChannel
from dialerd.ami.link import LinkEvent
from dialerd.ami.server import AsteriskServer
from dialerd.domain.clock import Clock

#: Calls remembered to report each one once (a call has a handful of channels at most).
_SEEN_MAX = 4096


@dataclass(frozen=True, slots=True)
class InboundCall:
    """A call arriving on one of the watched numbers. ``caller`` is ``None`` when withheld."""

    server: str
    uniqueid: str
    linkedid: str
    did: str
    caller: str | None
    context: str
    channel: str
    at: datetime


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


class InboundDetector:
    """Recognises inbound calls among new channels.

    A DID matches when the channel's extension equals it after dropping everything but digits
    (``+49 30 1234`` = ``49301234``), or when one ends with the other (leading zeros dropped)
    and the shorter has at least 6 digits: trunks deliver DIDs with or without country code,
    trunk prefix ``0`` or international prefix ``00``.
    """

    def __init__(
        self, dids: Iterable[str], *, context: str | None = None, server: str = "", clock: Clock
    ) -> None:
        self._dids = {_digits(d): d for d in dids if _digits(d)}
        self._context = context
        self._server = server
        self._clock = clock
        self._seen: OrderedDict[str, None] = OrderedDict()

    def set_dids(self, dids: Iterable[str]) -> None:
        self._dids = {_digits(d): d for d in dids if _digits(d)}

    def match_did(self, exten: str) -> str | None:
        digits = _digits(exten)
        if not digits:
            return None
        if digits in self._dids:
            return self._dids[digits]
        for key, did in self._dids.items():
            short, long_ = sorted((key.lstrip("0"), digits.lstrip("0")), key=len)
            if len(short) >= 6 and long_.endswith(short):
                return did
        return None

    def handle(self, event: object) -> InboundCall | None:
        if not isinstance(event, NewChannel):
            return None
        if self._context is not None and event.context != self._context:
            return None
        if event.channel.startswith("Local/"):
            return None  # the dialer's own outbound legs
        did = self.match_did(event.exten)
        if did is None:
            return None
        linkedid = event.linkedid or event.uniqueid
        if linkedid in self._seen:
            return None
        self._seen[linkedid] = None
        while len(self._seen) > _SEEN_MAX:
            self._seen.popitem(last=False)
        return InboundCall(
            server=self._server,
            uniqueid=event.uniqueid,
            linkedid=linkedid,
            did=did,
            caller=event.caller_id_num,
            context=event.context,
            channel=event.channel,
            at=self._clock.now(),
        )


def watch_inbound(
    server: AsteriskServer, detector: InboundDetector, callback: Callable[[InboundCall], None]
) -> None:
    """Call ``callback`` (synchronously, from the link's reader) for each inbound call."""

    def on_event(event: LinkEvent) -> None:
        call = detector.handle(event)
        if call is not None:
            callback(call)

    server.link.add_listener(on_event)
