"""Simulated Asterisk: a real AMI server over TCP with callee and agent models.

See :class:`dialerd.sim.server.SimAsterisk`. Its event sequences follow the recordings of a real
Asterisk 22.10.1 in ``shared/asterisk/transcripts``.
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
