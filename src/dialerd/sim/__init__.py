"""Simulated Asterisk: a real AMI server over TCP with callee and agent models.

Why: every test, the demo and the benchmarks need an Asterisk; this one speaks the same AMI as
the recorded Asterisk 22.10.1 (``shared/asterisk/transcripts``: same event types, keys, ids,
causes, Reason codes and the same kinds of order variation, drawn from a seeded RNG), so code
that works against it works against the real one. ``ami_shape.py`` matches every recorded
scenario.

Use::

    async with SimAsterisk(port=0, clock=ScaledClock(20), seed=1) as sim:
        ...  # connect to 127.0.0.1:sim.port, user dialer / secret dialerpass

Dial ``Local/<number>@sim-callees``; the number decides the callee (as the recorded dialplan):

=========  ===================================================================
55501XXXX  rings 2 s, answers, hangs up 20 s later (silent: AMD NOTSURE)
55502XXXX  busy: Failure/5, causes 0/17
55503XXXX  rings until the Originate Timeout: Failure/3, causes 19/19, no DialEnd
55504XXXX  congestion: Failure/8, causes 0/34
55505XXXX  answering machine (AMD MACHINE after 2.26 s)
55506XXXX  unallocated: Failure/0, causes 1/1, DialEnd NOANSWER
55507XXXX  answers at once, hangs up after 3 s
55508XXXX  rings 2 s, says "hello" (AMD HUMAN after 1.96 s)
+E.164     10-15 digits: the seeded statistical :class:`CalleeModel`
other      no such extension: Failure/0, causes 0/0, no DialBegin
=========  ===================================================================

Answered calls run the Originate's Context: ``dialer-connect`` (Queue() with the limit from the
channel variable ``DIALER_CONNECT_TIMEOUT``, default 10 s, queue ``DIALER_QUEUE``, default
``dialer-q1``; on timeout ``UserEvent: DialerAbandon`` and a 1.8 s message) or
``dialer-connect-amd`` (AMD first, ``UserEvent: DialerAMD``). Queue members
``Local/agent-N@sim-agents`` answer after ``AgentModel.ring_delay``; ``Local/rna-agent-N``
never answers.

Faults for tests: ``drop_connections()``, ``set_dead(flag)``, ``restart(downtime)`` (also via
``Command: core restart now``), ``set_response_delay(s)``, ``inject_garbage(data)``.
Introspection: ``originate_action_ids``, ``originates_received``, ``active_calls``,
``active_channels``, ``queue_members()``, ``connections``.
"""

from dialerd.sim.model import AgentModel, AgentProfile, CalleeModel, QueueConfig, SimModel
from dialerd.sim.server import MemberView, SimAsterisk

__all__ = [
    "AgentModel",
    "AgentProfile",
    "CalleeModel",
    "MemberView",
    "QueueConfig",
    "SimAsterisk",
    "SimModel",
]
