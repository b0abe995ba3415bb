"""dialerd.engine: the campaign engine (one runner per campaign, pacing, outcomes, agents).

The daemon, the REST API and the MQTT bus use :class:`Engine` and the event and status types
exported here; nothing else in this package is meant for them.
"""

from dialerd.engine.disposition import DispositionState, DispositionTaken
from dialerd.engine.engine import Engine
from dialerd.engine.errors import (
    AgentNotEligible,
    EngineError,
    EngineNotRunning,
    InvalidDisposition,
    LeadTaken,
    NoSuchCall,
    NoSuchPreview,
    UnknownAgent,
    UnknownCampaign,
)
from dialerd.engine.events import (
    AgentStateChanged,
    AttemptFinished,
    CallProgressed,
    CampaignFigures,
    CampaignSwitched,
    EngineEvent,
    EngineListener,
    OutcomesJournaled,
    PacingDecision,
    PreviewOffered,
    ScreenPop,
    ServerPacing,
    WindowFigures,
)
from dialerd.engine.schedule import next_switch, schedule_open
from dialerd.engine.settings import EngineSettings
from dialerd.engine.status import AgentView, CampaignView, EngineStatus

__all__ = [
    "AgentNotEligible",
    "AgentStateChanged",
    "AgentView",
    "AttemptFinished",
    "CallProgressed",
    "CampaignFigures",
    "CampaignSwitched",
    "CampaignView",
    "DispositionState",
    "DispositionTaken",
    "Engine",
    "EngineError",
    "EngineEvent",
    "EngineListener",
    "EngineNotRunning",
    "EngineSettings",
    "EngineStatus",
    "InvalidDisposition",
    "NoSuchCall",
    "LeadTaken",
    "NoSuchPreview",
    "OutcomesJournaled",
    "PacingDecision",
    "PreviewOffered",
    "ScreenPop",
    "ServerPacing",
    "UnknownAgent",
    "UnknownCampaign",
    "WindowFigures",
    "next_switch",
    "schedule_open",
]
