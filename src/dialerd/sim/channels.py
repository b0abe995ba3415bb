"""Simulated channels and the header blocks Asterisk 22 puts in channel events.

Every channel event of the recordings carries the same snapshot block (``Channel`` ...
``Linkedid``), with a ``Dest`` or ``LocalOne``/``LocalTwo`` prefix where a second channel is
involved. The block is built here in the recorded key order, so all event builders agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Headers = list[tuple[str, str]]

STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}
DOWN, RING, RINGING, UP, BUSY = 0, 4, 5, 6, 7
UNKNOWN = "<unknown>"


@dataclass(slots=True)
class Channel:
    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    priority: int = 1
    state: int = DOWN
    cid_num: str = UNKNOWN
    cid_name: str = UNKNOWN
    conn_num: str = UNKNOWN
    conn_name: str = UNKNOWN
    created: float = 0.0
    application: str = ""
    app_data: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    alive: bool = True

    def block(self, prefix: str = "") -> Headers:
        return [
            (prefix + "Channel", self.name),
            (prefix + "ChannelState", str(self.state)),
            (prefix + "ChannelStateDesc", STATE_DESC.get(self.state, "Unknown")),
            (prefix + "CallerIDNum", self.cid_num),
            (prefix + "CallerIDName", self.cid_name),
            (prefix + "ConnectedLineNum", self.conn_num),
            (prefix + "ConnectedLineName", self.conn_name),
            (prefix + "Language", "en"),
            (prefix + "AccountCode", ""),
            (prefix + "Context", self.context),
            (prefix + "Exten", self.exten),
            (prefix + "Priority", str(self.priority)),
            (prefix + "Uniqueid", self.uniqueid),
            (prefix + "Linkedid", self.linkedid),
        ]


def parse_callerid(text: str) -> tuple[str, str]:
    """``"Dialer" <0212345678>`` -> (``0212345678``, ``Dialer``)."""
    text = text.strip()
    if "<" in text and text.endswith(">"):
        name, _, num = text[:-1].rpartition("<")
        name = name.strip().strip('"').strip()
        num = num.strip()
        return num or UNKNOWN, name or UNKNOWN
    if text:
        return text, UNKNOWN
    return UNKNOWN, UNKNOWN


# Hangup cause texts as Asterisk prints them.
CAUSE_TEXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    19: "User alerting, no answer",
    34: "Circuit/channel congestion",
}
