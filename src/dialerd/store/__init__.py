"""dialerd.store: persistence (SQLAlchemy 2 async; SQLite by default, PostgreSQL by URL).

Other layers use :class:`Store` and the errors below; no SQL leaves this package.
"""

from dialerd.store.engine import DEFAULT_URL, default_url
from dialerd.store.errors import (
    AlreadyExists,
    ContactInCall,
    DuplicateValue,
    InstanceTaken,
    InvalidChange,
    NotFound,
    QueueInUse,
    SchemaNotCurrent,
    StaleContact,
    StoreError,
    StoreUnavailable,
)
from dialerd.store.instance import InstanceLock
from dialerd.store.migrate import upgrade
from dialerd.store.store import Store

__all__ = [
    "DEFAULT_URL",
    "AlreadyExists",
    "ContactInCall",
    "DuplicateValue",
    "InstanceLock",
    "InstanceTaken",
    "InvalidChange",
    "NotFound",
    "QueueInUse",
    "SchemaNotCurrent",
    "StaleContact",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "default_url",
    "upgrade",
]

# Register the agent-work tables on the shared metadata (migrations and tests compare it).
from dialerd.store import agentwork_models as _agentwork_models  # noqa: F401
