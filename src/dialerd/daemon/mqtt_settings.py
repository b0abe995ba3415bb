"""From the ``[mqtt]`` table to the bus's settings.

``dialerd.bus`` does not import ``dialerd.config`` (the layer rule), so the daemon translates;
the secret is unwrapped here, at the last moment, for the client library only.
"""

from __future__ import annotations

from dialerd.bus import BusSettings
from dialerd.config import MqttConfig


def bus_settings(mqtt: MqttConfig) -> BusSettings:
    return BusSettings(
        host=mqtt.host,
        port=mqtt.port,
        tls=mqtt.tls,
        username=mqtt.username,
        password=mqtt.password.get_secret_value() if mqtt.password is not None else None,
        client_id=mqtt.client_id,
        topic_prefix=mqtt.topic_prefix,
        keepalive=int(mqtt.keepalive),
        queue_size=mqtt.queue_size,
        backoff_min=mqtt.reconnect_backoff_min,
        backoff_max=mqtt.reconnect_backoff_max,
    )
