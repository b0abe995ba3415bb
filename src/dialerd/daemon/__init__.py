"""dialerd.daemon: the long-running service around the engine (systemd, logs, metrics)."""
