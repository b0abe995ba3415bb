"""dialerd.ami: the Asterisk adapter (AMI codec, link, typed events, call and agent tracking).

Layers above import from here; nothing above this package reads a raw AMI header.
"""

from dialerd.ami.agents import AgentChange, AgentStatus, AgentTracker
from dialerd.ami.calls import (
    CallOutcome,
    CallPhase,
    CallProgress,
    CallTimeline,
    CallTracker,
    OpenCall,
)
from dialerd.ami.errors import (
    AmiActionFailed,
    AmiActionTimeout,
    AmiAlreadyOriginated,
    AmiAuthFailed,
    AmiError,
    AmiLinkLost,
    AmiNotReady,
)
from dialerd.ami.link import (
    AmiLink,
    LinkConfig,
    LinkCounters,
    LinkDown,
    LinkState,
    LinkUp,
    OriginateRequest,
    ResyncSnapshot,
)
from dialerd.ami.registry import AsteriskRegistry
from dialerd.ami.server import AsteriskServer, LinkStateChange, ServerConfig, ServerUpdate

__all__ = [
    "AgentChange",
    "AgentStatus",
    "AgentTracker",
    "AmiActionFailed",
    "AmiActionTimeout",
    "AmiAlreadyOriginated",
    "AmiAuthFailed",
    "AmiError",
    "AmiLink",
    "AmiLinkLost",
    "AmiNotReady",
    "AsteriskRegistry",
    "AsteriskServer",
    "CallOutcome",
    "CallPhase",
    "CallProgress",
    "CallTimeline",
    "CallTracker",
    "LinkConfig",
    "LinkCounters",
    "LinkDown",
    "LinkState",
    "LinkStateChange",
    "LinkUp",
    "OpenCall",
    "OriginateRequest",
    "ResyncSnapshot",
    "ServerConfig",
    "ServerUpdate",
]
