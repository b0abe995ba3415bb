"""A stand-in for ``asterisk -rx`` so the shared recorder can drive the simulator.

``ami_recorder.py`` changes the queue timeout for scenario 11 by editing
``<run-dir>/etc/queues.conf`` and running ``$AST_BIN -C <run-dir>/etc/asterisk.conf -rx "queue
reload parameters"``. Pointed at this module (through a one-line wrapper script), that command
reads ``timeout = N`` from queues.conf and sets the simulator's member ring timeout over AMI
(``AMI_HOST``/``AMI_PORT``, user ``dialer``); other commands are passed through as ``Command``.

usage: python -m dialerd.sim.astcli -C <run-dir>/etc/asterisk.conf -rx "<command>"
"""

from __future__ import annotations

import os
import re
import socket
import sys
from collections.abc import Sequence
from pathlib import Path


def _queues_timeout(conf: str | None) -> str | None:
    if not conf:
        return None
    path = Path(conf).parent / "queues.conf"
    try:
        text = path.read_text()
    except OSError:
        return None
    m = re.search(r"^timeout\s*=\s*(\d+)\s*$", text, flags=re.M)
    return m.group(1) if m else None


def _ami_command(command: str) -> list[str]:
    host = os.environ.get("AMI_HOST", "127.0.0.1")
    port = int(os.environ.get("AMI_PORT", "5038"))
    user = os.environ.get("AMI_USER", "dialer")
    secret = os.environ.get("AMI_SECRET", "dialerpass")
    with socket.create_connection((host, port), timeout=5) as sock:
        f = sock.makefile("rwb")
        f.readline()  # banner
        f.write(
            f"Action: Login\r\nUsername: {user}\r\nSecret: {secret}\r\nEvents: off\r\n\r\n"
            f"Action: Command\r\nActionID: cli-1\r\nCommand: {command}\r\n\r\n"
            "Action: Logoff\r\n\r\n".encode()
        )
        f.flush()
        output: list[str] = []
        in_reply = False
        for raw in f:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if line == "ActionID: cli-1":
                in_reply = True
            elif in_reply and line.startswith("Output: "):
                output.append(line[len("Output: ") :])
            elif in_reply and line == "":
                break
        return output


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    conf: str | None = None
    command = ""
    i = 0
    while i < len(args):
        if args[i] == "-C" and i + 1 < len(args):
            conf = args[i + 1]
            i += 2
        elif args[i] == "-rx" and i + 1 < len(args):
            command = args[i + 1]
            i += 2
        else:
            i += 1
    if command.strip().lower() == "queue reload parameters":
        timeout = _queues_timeout(conf)
        if timeout is not None:
            command = f"sim set member-timeout {timeout}"
    try:
        lines = _ami_command(command)
    except OSError as exc:
        sys.stderr.write(f"astcli: cannot reach the simulator: {exc}\n")
        return 1
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
