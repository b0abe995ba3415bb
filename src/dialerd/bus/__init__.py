"""dialerd.bus: MQTT events out (call progress, agent states, screen pops, campaign status and
pacing) and agent dispositions in."""

from dialerd.bus.messages import Disposition, encode_event
from dialerd.bus.mqtt import BusMetrics, BusSettings, BusStats, DispositionHandler, MqttBus
from dialerd.bus.topics import Topics

__all__ = [
    "BusMetrics",
    "BusSettings",
    "BusStats",
    "Disposition",
    "DispositionHandler",
    "MqttBus",
    "Topics",
    "encode_event",
]
