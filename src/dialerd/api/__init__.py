"""dialerd.api: the REST API (FastAPI), ``/healthz`` and ``/metrics``, served by uvicorn inside
the daemon's event loop.

The daemon wires it::

    app = build_app(store, tokens=[TokenGrant.from_config(t) for t in cfg.api.tokens],
                    engine=engine, clock=clock, registry=metrics.registry,
                    serve_metrics=not cfg.api.metrics_separate,
                    health=HealthChecks(links=lambda: {...}))
    server = ApiServer(app, cfg.api.host, cfg.api.port)
    tg.create_task(server.serve())      # ... later: await server.shutdown()

Roles and what they may do: see :mod:`dialerd.api.auth`. Error shape: :mod:`dialerd.api.errors`.
"""

from dialerd.api.app import build_app, build_metrics_app
from dialerd.api.auth import MATRIX, Permission, Principal, Role, TokenGrant
from dialerd.api.engine_control import EngineControl
from dialerd.api.errors import ApiError
from dialerd.api.health import HealthChecks
from dialerd.api.server import ApiServer

__all__ = [
    "MATRIX",
    "ApiError",
    "ApiServer",
    "EngineControl",
    "HealthChecks",
    "Permission",
    "Principal",
    "Role",
    "TokenGrant",
    "build_app",
    "build_metrics_app",
]
