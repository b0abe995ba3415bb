"""The topic tree under the configured prefix.

``<prefix>/campaign/<name>/{call,status,pacing}``, ``<prefix>/agent/<name>/{state,screenpop}``,
``<prefix>/agent/<name>/disposition`` (in) and ``<prefix>/daemon/<client id>/status``.
Names are percent-escaped where they hold '/', '+', '#' or '%' (see :func:`segment`).
"""

from __future__ import annotations

import urllib.parse

_ESCAPES = {"%": "%25", "/": "%2F", "+": "%2B", "#": "%23", "\0": "%00"}


def segment(name: str) -> str:
    """A name as exactly one topic level.

    Campaign names may hold '/' or '+' (agent names from the config cannot); they are
    percent-escaped so a name never addresses another topic and publishing never fails.
    """
    if not name:
        raise ValueError("an empty name cannot be an MQTT topic level")
    return "".join(_ESCAPES.get(c, c) for c in name)


def unsegment(level: str) -> str:
    return urllib.parse.unquote(level)


class Topics:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.strip("/")
        if not self.prefix or "+" in self.prefix or "#" in self.prefix:
            raise ValueError(f"invalid topic prefix {prefix!r}")

    def campaign_call(self, campaign: str) -> str:
        return f"{self.prefix}/campaign/{segment(campaign)}/call"

    def campaign_status(self, campaign: str) -> str:
        return f"{self.prefix}/campaign/{segment(campaign)}/status"

    def campaign_pacing(self, campaign: str) -> str:
        return f"{self.prefix}/campaign/{segment(campaign)}/pacing"

    def agent_state(self, agent: str) -> str:
        return f"{self.prefix}/agent/{segment(agent)}/state"

    def agent_screenpop(self, agent: str) -> str:
        return f"{self.prefix}/agent/{segment(agent)}/screenpop"

    def agent_disposition(self, agent: str) -> str:
        return f"{self.prefix}/agent/{segment(agent)}/disposition"

    @property
    def dispositions(self) -> str:
        """The subscription: every agent's disposition topic."""
        return f"{self.prefix}/agent/+/disposition"

    def daemon_status(self, client_id: str) -> str:
        return f"{self.prefix}/daemon/{segment(client_id)}/status"

    def disposition_agent(self, topic: str) -> str | None:
        """The agent named by a disposition topic, or None if the topic is not one."""
        head = f"{self.prefix}/agent/"
        if not topic.startswith(head) or not topic.endswith("/disposition"):
            return None
        level = topic[len(head) : -len("/disposition")]
        return unsegment(level) if level and "/" not in level else None
