#!/usr/bin/env python3
"""More scenarios for the shared AMI recorder (../../shared/asterisk/tools/ami_recorder.py).

They were played against Asterisk 22.10.1 (asterisk-test/run.sh) and against `dialerd sim` on
2026-12-07 (asterisk-test/README.md, "Checked against a real Asterisk 22.10.1"):

  11b-rna-penalty-queue-timeout  rna-agent-1 Penalty 0, agent-2 Penalty 1 (the recording of that
                                 name was never played against the simulator)
  17-penalty                     QueuePenalty replies, QueueMemberPenalty, QueueStatus, and which
                                 member Queue() rings after it
  18-penalty-busy                two callers, agent-1 Penalty 0 and agent-2 Penalty 10
  19-no-such-queue               QueueAdd/QueuePause/QueueRemove/QueueStatus on a missing queue
  20-unknown-queue-in-dialplan   a call with DIALER_QUEUE naming a missing queue
  21-two-queues                  agent-1 in dialer-q1 and its own dialer-q1.agent-1 (ringinuse=no)

usage: AMI_PORT=5038 AST_RUN_DIR=<run-dir> AST_BIN=<prefix>/sbin/asterisk \
           python3 asterisk-test/extra_scenarios.py OUTDIR [scenario-prefix ...]
The shared scenarios 01-16 run as well unless prefixes are given. AMI_TOOLS overrides where
ami_recorder.py is found.
"""

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(
    0,
    os.environ.get("AMI_TOOLS", str(Path(__file__).resolve().parents[2] / "shared/asterisk/tools")),
)
import ami_recorder as R

QUEUE = R.QUEUE


async def s11b(a):
    await a.connect()
    await a.login()
    await a.qadd(1, name="RNA Agent 1", iface="Local/rna-agent-1@sim-agents", penalty=0)
    await a.qadd(2, penalty=1)
    aid = await a.originate("555010011", "1101")
    await a.calls_over([aid], timeout=60)
    await a.qremove("Local/rna-agent-1@sim-agents")
    await a.qremove("Local/agent-2@sim-agents")
    await asyncio.sleep(0.5)
    await a.logoff()


async def s17_penalty(a):
    """QueuePenalty: replies, the events, QueueStatus, and Queue() choosing by penalty."""
    await a.connect()
    await a.login()
    await a.qadd(1)
    await a.qadd(2)

    async def pen(iface, p, q=QUEUE):
        fields = [("Queue", q)] if q else []
        fields.append(("Interface", iface))
        if p is not None:
            fields.append(("Penalty", p))
        return await a.action("QueuePenalty", fields)

    await pen("Local/agent-1@sim-agents", "10")
    await a.action("QueueStatus", [("Queue", QUEUE)], wait="list")
    await pen("Local/agent-9@sim-agents", "3")  # not a member
    await pen("Local/agent-1@sim-agents", "-1")  # negative
    await pen("Local/agent-1@sim-agents", None)  # no Penalty
    await pen("Local/agent-1@sim-agents", "5", q="no-such-queue")
    await pen("Local/agent-1@sim-agents", "10", q=None)  # every queue
    # agent-1 has penalty 10: the caller goes to agent-2
    aid = await a.originate("555010017", "1701")
    await a.calls_over([aid], timeout=60)
    # now agent-2 (penalty 0) is in wrap-up (5 s): the next caller goes to agent-1 (penalty 10)
    aid2 = await a.originate("555010117", "1702")
    await a.calls_over([aid2], timeout=60)
    await a.action("QueueStatus", [("Queue", QUEUE)], wait="list")
    await asyncio.sleep(6)
    # both free: back to agent-2 (penalty 0), whatever rrmemory's position
    await pen("Local/agent-2@sim-agents", "0")
    aid3 = await a.originate("555010217", "1703")
    await a.calls_over([aid3], timeout=60)
    await a.qremove("Local/agent-1@sim-agents")
    await a.qremove("Local/agent-2@sim-agents")
    await asyncio.sleep(0.5)
    await a.logoff()


async def s18_penalty_busy(a):
    """Two callers at once, agent-1 penalty 0, agent-2 penalty 10: both are taken."""
    await a.connect()
    await a.login()
    await a.qadd(1, penalty=0)
    await a.qadd(2, penalty=10)
    aids = []
    for num, att in (("555010018", "1801"), ("555010118", "1802")):
        aids.append(await a.originate(num, att))
        await asyncio.sleep(0.25)
    await a.calls_over(aids, timeout=60)
    await a.qremove("Local/agent-1@sim-agents")
    await a.qremove("Local/agent-2@sim-agents")
    await asyncio.sleep(0.5)
    await a.logoff()


async def s19_no_such_queue(a):
    await a.connect()
    await a.login()
    await a.action(
        "QueueAdd",
        [
            ("Queue", "dialerd-nosuch"),
            ("Interface", "Local/agent-1@sim-agents"),
            ("MemberName", "Agent 1"),
        ],
    )
    await a.action(
        "QueuePause",
        [
            ("Queue", "dialerd-nosuch"),
            ("Interface", "Local/agent-1@sim-agents"),
            ("Paused", "true"),
        ],
    )
    await a.action(
        "QueueRemove", [("Queue", "dialerd-nosuch"), ("Interface", "Local/agent-1@sim-agents")]
    )
    await a.action("QueueStatus", [("Queue", "dialerd-nosuch")], wait="list")
    await asyncio.sleep(0.5)
    await a.logoff()


R.SCENARIOS += [
    ("11b-rna-penalty-queue-timeout", s11b),
    ("17-penalty", s17_penalty),
    ("18-penalty-busy", s18_penalty_busy),
    ("19-no-such-queue", s19_no_such_queue),
]


async def originate_vars(a, number, attempt, variables, timeout_ms=30000):
    aid = f"att-{attempt}"
    pairs = [
        ("Channel", f"Local/{number}@sim-callees"),
        ("Context", "dialer-connect"),
        ("Exten", "s"),
        ("Priority", "1"),
        ("Timeout", str(timeout_ms)),
        ("CallerID", '"Dialer" <0212345678>'),
        ("Async", "true"),
        ("ChannelId", f"att-{attempt}-a"),
        ("OtherChannelId", f"att-{attempt}-b"),
        ("Variable", f"DIALER_ATTEMPT={attempt}"),
    ]
    pairs += [("Variable", v) for v in variables]
    await a.action("Originate", pairs, aid=aid, wait="response")
    return aid


async def s20_unknown_queue_in_dialplan(a):
    await a.connect()
    await a.login()
    aid = await originate_vars(a, "555010020", "2001", ["DIALER_QUEUE=dialerd-nosuch"])
    await a.calls_over([aid], timeout=40)
    await a.logoff()


async def s21_two_queues(a):
    """agent-1 in dialer-q1 and in its own queue dialer-q1.agent-1 (both in queues.conf)."""
    await a.connect()
    await a.login()
    await a.qadd(1)
    await a.action(
        "QueueAdd",
        [
            ("Queue", "dialer-q1.agent-1"),
            ("Interface", "Local/agent-1@sim-agents"),
            ("MemberName", "Agent 1"),
        ],
    )
    a1 = await originate_vars(a, "555010021", "2101", [])
    await a.wait_for(lambda m: m.get("Event") == "AgentConnect", 20)
    a2 = await originate_vars(
        a, "555010121", "2102", ["DIALER_QUEUE=dialer-q1.agent-1", "DIALER_CONNECT_TIMEOUT=4"]
    )
    await a.calls_over([a1, a2], timeout=60)
    await a.action("QueueStatus", [], wait="list")
    await a.qremove("Local/agent-1@sim-agents")
    await a.action(
        "QueueRemove", [("Queue", "dialer-q1.agent-1"), ("Interface", "Local/agent-1@sim-agents")]
    )
    await asyncio.sleep(0.5)
    await a.logoff()


R.SCENARIOS += [
    ("20-unknown-queue-in-dialplan", s20_unknown_queue_in_dialplan),
    ("21-two-queues", s21_two_queues),
]


if __name__ == "__main__":
    asyncio.run(R.main())
