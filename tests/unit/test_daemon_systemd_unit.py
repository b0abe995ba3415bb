"""The shipped systemd unit: notify protocol, reload, drain time and hardening."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "dialerd.service"


def settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "[")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        out.setdefault(key, []).append(value)
    return out


def test_notify_service_with_watchdog_reload_and_drain_time() -> None:
    s = settings()
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert "WatchdogSec" in s
    assert s["ExecStart"][0].endswith("dialerd run --config /etc/dialerd/dialerd.toml")
    assert "kill -HUP $MAINPID" in s["ExecReload"][0]
    stop = re.fullmatch(r"(\d+)s", s["TimeoutStopSec"][0])
    assert stop and int(stop.group(1)) > 60, "must exceed the default 60 s drain"
    assert s["RestartPreventExitStatus"] == ["78"]


def test_runs_unprivileged_and_hardened() -> None:
    s = settings()
    assert s["User"] == ["dialerd"]
    assert s["CapabilityBoundingSet"] == [""]
    for key in (
        "NoNewPrivileges",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectControlGroups",
        "RestrictNamespaces",
        "LockPersonality",
        "MemoryDenyWriteExecute",
    ):
        assert s[key] == ["yes"], key
    assert s["ProtectSystem"] == ["strict"]
    assert s["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert "@system-service" in s["SystemCallFilter"]


def test_systemd_analyze_exposure_at_most_2() -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    result = subprocess.run(
        [tool, "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout + result.stderr)
    if match is None:
        pytest.skip(f"systemd-analyze security --offline is not supported here: {result.stderr}")
    assert float(match.group(1)) <= 2.0, result.stdout
