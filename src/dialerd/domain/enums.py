"""Enumerations of the dialerd vocabulary (DESIGN.md, "Vocabulary").

The string values are what the store, the API, the metrics and the docs use, so they never
change once released.
"""

from __future__ import annotations

from enum import StrEnum


class TaskType(StrEnum):
    CALL = "call"
    EXPORT = "export"
    EMAIL = "email"
    WEBHOOK = "webhook"
    WAIT = "wait"
    NEW_CONTACT = "new_contact"


class Status(StrEnum):
    """Where a contact stands in its task. A contact entering a task is ``open``."""

    OPEN = "open"
    SUCCESS = "success"
    DECLINED = "declined"
    FAILED = "failed"


class StatusDetail(StrEnum):
    """Reserved status details. Agent dispositions are plain words outside this enum."""

    NONE = "$none"
    FOLLOW_UP_AUTO = "$follow_up_auto"
    FOLLOW_UP_PERSONAL = "$follow_up_personal"
    BUSY = "$busy"
    NO_ANSWER = "$no_answer"
    CONGESTION = "$congestion"
    MACHINE = "$machine"
    ABANDONED = "$abandoned"
    INVALID_NUMBER = "$invalid_number"
    DNC = "$dnc"
    MAX_ATTEMPTS = "$max_attempts"


def is_reserved_detail(detail: str) -> bool:
    """Reserved details start with ``$``; plain words are agent dispositions."""
    return detail.startswith("$")


class DialMode(StrEnum):
    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    POWER = "power"
    PREDICTIVE = "predictive"


class CampaignStatus(StrEnum):
    """``automatic`` follows the campaign's weekly time periods and dates off."""

    ENABLED = "enabled"
    DISABLED = "disabled"
    AUTOMATIC = "automatic"


class AgentState(StrEnum):
    READY = "ready"
    RINGING = "ringing"
    TALKING = "talking"
    WRAPUP = "wrapup"
    PAUSED = "paused"
    OFFLINE = "offline"


class CallResult(StrEnum):
    """The outcome of one attempt, as the call tracker (dialerd.ami) reports it.

    ``connected`` = answered by a live person and bridged to an agent; ``abandoned`` = answered
    by a live person and not connected within the connect limit; ``failed_unknown`` = the outcome
    was lost (link dropped, Asterisk restarted) and cannot be recovered.
    """

    CONNECTED = "connected"
    ABANDONED = "abandoned"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"
    INVALID_NUMBER = "invalid_number"
    MACHINE = "machine"
    FAILED_UNKNOWN = "failed_unknown"

    @property
    def live_answer(self) -> bool:
        """Counted in the abandonment-rate denominator (machines are not live answers)."""
        return self in (CallResult.CONNECTED, CallResult.ABANDONED)

    @property
    def status_detail(self) -> StatusDetail | None:
        """The reserved status_detail an attempt with this result leaves behind, if any."""
        return _RESULT_DETAIL.get(self)


_RESULT_DETAIL: dict[CallResult, StatusDetail] = {
    CallResult.ABANDONED: StatusDetail.ABANDONED,
    CallResult.BUSY: StatusDetail.BUSY,
    CallResult.NO_ANSWER: StatusDetail.NO_ANSWER,
    CallResult.CONGESTION: StatusDetail.CONGESTION,
    CallResult.INVALID_NUMBER: StatusDetail.INVALID_NUMBER,
    CallResult.MACHINE: StatusDetail.MACHINE,
}
