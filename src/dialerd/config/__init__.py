"""The daemon's configuration: one TOML file, validated at start.

``load_config(path)`` returns a :class:`DaemonConfig` or raises :class:`ConfigError`, whose
message names the file, the key and what is wrong. Secrets resolve from the file, the
environment, a file or systemd credentials and stay ``SecretStr``.
"""

from dialerd.config.errors import ConfigError, ConfigProblem
from dialerd.config.loader import load_config, load_store_config, validate_config
from dialerd.config.models import (
    AgentConfig,
    ApiConfig,
    ApiToken,
    AsteriskServer,
    CampaignFile,
    ComplianceConfig,
    DaemonConfig,
    EngineConfig,
    LoggingConfig,
    MqttConfig,
    RetryConfig,
    RetryRuleConfig,
    StoreConfig,
)

__all__ = [
    "AgentConfig",
    "ApiConfig",
    "ApiToken",
    "AsteriskServer",
    "CampaignFile",
    "ComplianceConfig",
    "ConfigError",
    "ConfigProblem",
    "DaemonConfig",
    "EngineConfig",
    "LoggingConfig",
    "MqttConfig",
    "RetryConfig",
    "RetryRuleConfig",
    "StoreConfig",
    "load_config",
    "load_store_config",
    "validate_config",
]
