"""Inbound calls into the simulated Asterisk: a caller dials one of the PBX's DIDs.

A real Asterisk reports such a call with a ``Newchannel`` of the trunk channel (state Ring, the
caller's number as CallerIDNum, the DID as Exten, in the trunk's context), ``Newexten`` as the
dialplan runs, and ``Hangup`` at the end. The simulator emits the same sequence so the dialer's
inbound intake is tested over the real AMI wire.
"""

from __future__ import annotations

import itertools

from dialerd.sim import events as ev
from dialerd.sim.channels import RING, UP, Channel
from dialerd.sim.server import SimAsterisk

_ids = itertools.count(1)


def inbound_call(
    sim: SimAsterisk,
    did: str,
    caller: str,
    *,
    context: str = "from-trunk",
    trunk: str = "PJSIP/trunk",
    hangup_after: float = 5.0,
) -> str:
    """Start an inbound call to ``did`` from ``caller``; returns its Uniqueid.

    The call is answered by the dialplan and hangs up after ``hangup_after`` seconds (sim clock).
    """
    n = next(_ids)
    uid = f"in-{sim.port}-{n:06d}"
    ch = Channel(
        name=f"{trunk}-{n:08x}",
        uniqueid=uid,
        linkedid=uid,
        context=context,
        exten=did,
        state=RING,
        cid_num=caller,
        created=sim.clock.monotonic(),
    )
    sim._emit("Newchannel", ev.channel_event(ch))
    sim._emit("Newexten", ev.newexten(ch, "Answer", ""))
    ch.state = UP
    sim._emit("Newstate", ev.channel_event(ch))

    def hang_up() -> None:
        ch.alive = False
        sim._emit("Hangup", ev.hangup(ch, 16))

    sim.scheduler.call_later(hangup_after, hang_up)
    return uid
