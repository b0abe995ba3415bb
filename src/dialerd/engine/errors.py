"""Errors the engine's facade raises to its callers (API, MQTT): each maps to one reply."""

from __future__ import annotations


class EngineError(Exception):
    """Base class; the message is meant for the person who asked."""


class EngineNotRunning(EngineError):
    """The engine is not running (or is stopping): the request cannot be carried out."""


class UnknownAgent(EngineError):
    pass


class UnknownCampaign(EngineError):
    pass


class NoSuchCall(EngineError):
    """No attempt of this agent (or with this id) waits for a disposition."""


class NoSuchPreview(EngineError):
    """The agent has no preview of this contact on offer."""


class LeadTaken(EngineError):
    """Another agent holds the lead (reserved, or it wrote a note): the engine does not dial it
    for this agent."""


class AgentNotEligible(EngineError):
    """The agent may not take this campaign's calls (campaign list and skills)."""


class InvalidDisposition(EngineError):
    """A disposition the engine refuses (reserved detail, naive callback time, bad status)."""
