"""Builders for the events of the recordings, with their recorded keys in recorded order.

Each builder returns a header list (without the leading ``Event`` key) that the server encodes
once and writes to every session. ``ami_shape.py`` compares these key sets with the real ones.
"""

from __future__ import annotations

from dialerd.sim.channels import CAUSE_TEXT, STATE_DESC, Channel, Headers

CALL = ("Privilege", "call,all")
AGENT = ("Privilege", "agent,all")
DIALPLAN = ("Privilege", "dialplan,all")
USER = ("Privilege", "user,all")


def channel_event(
    ch: Channel, privilege: tuple[str, str] = CALL, *extra: tuple[str, str]
) -> Headers:
    return [privilege, *ch.block(), *extra]


def newexten(ch: Channel, app: str, data: str) -> Headers:
    ch.application, ch.app_data = app, data
    return [DIALPLAN, *ch.block(), ("Extension", ch.exten), ("Application", app), ("AppData", data)]


def varset(ch: Channel, name: str, value: str) -> Headers:
    ch.variables[name] = value
    return [DIALPLAN, *ch.block(), ("Variable", name), ("Value", value)]


def newcallerid(ch: Channel) -> Headers:
    return [CALL, *ch.block(), ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")]


def hangup(ch: Channel, cause: int) -> Headers:
    return [
        CALL,
        *ch.block(),
        ("Cause", str(cause)),
        ("Cause-txt", CAUSE_TEXT.get(cause, "Unknown")),
    ]


def hangup_request(ch: Channel, cause: int) -> Headers:
    return [CALL, *ch.block(), ("Cause", str(cause))]


def device_state(device: str, state: str) -> Headers:
    return [CALL, ("Device", device), ("State", state)]


def local_bridge(one: Channel, two: Channel) -> Headers:
    return [
        CALL,
        *one.block("LocalOne"),
        *two.block("LocalTwo"),
        ("Context", two.context),
        ("Exten", two.exten),
        ("LocalOptimization", "Yes"),
    ]


def dial(
    dest: Channel, caller: Channel | None, *extra: tuple[str, str], dest_conn_unknown: bool = False
) -> Headers:
    """DialBegin/DialState/DialEnd: only ``Dest*`` for an Originate, both for a queue leg."""
    head: Headers = [CALL]
    if caller is not None:
        head += caller.block()
    block = dest.block("Dest")
    if dest_conn_unknown:
        block = [
            (k, "<unknown>") if k in ("DestConnectedLineNum", "DestConnectedLineName") else (k, v)
            for k, v in block
        ]
    return head + block + list(extra)


def agent_event(caller: Channel, dest: Channel, queue: str, iface: str, member: str) -> Headers:
    return [
        AGENT,
        *caller.block(),
        *dest.block("Dest"),
        ("Queue", queue),
        ("Interface", iface),
        ("MemberName", member),
    ]


def bridge_block(bridge_id: str, count: int) -> Headers:
    return [
        ("BridgeUniqueid", bridge_id),
        ("BridgeType", "basic"),
        ("BridgeTechnology", "simple_bridge"),
        ("BridgeCreator", "<unknown>"),
        ("BridgeName", "<unknown>"),
        ("BridgeNumChannels", str(count)),
        ("BridgeVideoSourceMode", "none"),
    ]


def bridge_channel(bridge_id: str, count: int, ch: Channel) -> Headers:
    return [CALL, *bridge_block(bridge_id, count), *ch.block()]


def state_desc(state: int) -> str:
    return STATE_DESC.get(state, "Unknown")
