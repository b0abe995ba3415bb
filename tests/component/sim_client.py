"""A tiny raw AMI client for the simulator's component tests (codec + asyncio streams).

Deliberately not dialerd.ami's link: these tests check the server's wire behaviour itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from dialerd.ami.codec import AmiDecoder, Message, MessageKind, encode_action

Pred = Callable[[Message], bool]


class RawAmi:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = AmiDecoder()
        self.messages: list[Message] = []
        self.closed = False
        self._seq = 0
        self._cond = asyncio.Condition()
        self._task = asyncio.create_task(self._read(), name="raw-ami-reader")

    @classmethod
    async def connect(cls, port: int) -> RawAmi:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def _read(self) -> None:
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                out = [m for m in self.decoder.feed(data) if isinstance(m, Message)]
                async with self._cond:
                    self.messages.extend(out)
                    self._cond.notify_all()
        except (ConnectionError, OSError):
            pass
        finally:
            async with self._cond:
                self.closed = True
                self._cond.notify_all()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def send(self, action: str, **fields: str | list[str]) -> str:
        self._seq += 1
        aid = str(fields.pop("ActionID", f"{action.lower()}-{self._seq}"))
        self.writer.write(encode_action(action, {"ActionID": aid, **fields}))
        return aid

    async def wait_for(self, pred: Pred, within: float = 5.0, start: int = 0) -> Message:
        idx = start

        async def scan() -> Message:
            nonlocal idx
            async with self._cond:
                while True:
                    while idx < len(self.messages):
                        m = self.messages[idx]
                        idx += 1
                        if pred(m):
                            return m
                    if self.closed:
                        raise ConnectionError("closed before the message arrived")
                    await self._cond.wait()

        return await asyncio.wait_for(scan(), within)

    async def wait_closed(self, within: float = 5.0) -> None:
        async def closed() -> None:
            async with self._cond:
                while not self.closed:
                    await self._cond.wait()

        await asyncio.wait_for(closed(), within)

    async def action(self, action: str, within: float = 5.0, **fields: str | list[str]) -> Message:
        start = len(self.messages)
        aid = self.send(action, **fields)
        return await self.wait_for(
            lambda m: m.kind is MessageKind.RESPONSE and m.action_id == aid, within, start
        )

    async def list_action(
        self, action: str, complete: str, within: float = 5.0, **fields: str
    ) -> list[Message]:
        start = len(self.messages)
        aid = self.send(action, **fields)
        await self.wait_for(lambda m: m.name == complete and m.action_id == aid, within, start)
        return [m for m in self.messages[start:] if m.action_id == aid]

    async def login(self, secret: str = "dialerpass", user: str = "dialer") -> Message:
        resp = await self.action("Login", Username=user, Secret=secret, Events="on")
        if resp.name == "Success":
            await self.wait_for(lambda m: m.name == "FullyBooted")
        return resp

    def events(self, name: str | None = None, linkedid: str | None = None) -> list[Message]:
        return [
            m
            for m in self.messages
            if m.kind is MessageKind.EVENT
            and (name is None or m.name == name)
            and (linkedid is None or linkedid in (m.get("Linkedid"), m.get("DestLinkedid")))
        ]

    def originate(
        self,
        number: str,
        attempt: str,
        context: str = "dialer-connect",
        timeout_ms: int = 30000,
        with_ids: bool = True,
        variables: list[str] | None = None,
    ) -> str:
        fields: dict[str, str | list[str]] = {
            "ActionID": f"att-{attempt}",
            "Channel": f"Local/{number}@sim-callees",
            "Context": context,
            "Exten": "s",
            "Priority": "1",
            "Timeout": str(timeout_ms),
            "CallerID": '"Dialer" <0212345678>',
            "Async": "true",
        }
        if with_ids:
            fields["ChannelId"] = f"att-{attempt}-a"
            fields["OtherChannelId"] = f"att-{attempt}-b"
        fields["Variable"] = [f"DIALER_ATTEMPT={attempt}", *(variables or [])]
        return self.send("Originate", **fields)

    async def call_over(self, attempt: str, within: float = 10.0) -> Message:
        """Wait for the attempt's OriginateResponse and the Hangup of both Local halves."""
        aid = f"att-{attempt}"
        rr = await self.wait_for(
            lambda m: m.name == "OriginateResponse" and m.action_id == aid, within
        )
        if rr.get("Response") == "Success" or rr.get("Uniqueid") != "<unknown>":
            for half in ("a", "b"):
                uid = f"{aid}-{half}"
                await self.wait_for(
                    lambda m, u=uid: m.name == "Hangup" and m.get("Uniqueid") == u,  # type: ignore[misc]
                    within,
                )
        return rr

    def cause(self, attempt: str, half: str) -> str | None:
        uid = f"att-{attempt}-{half}"
        for m in self.events("Hangup"):
            if m.get("Uniqueid") == uid:
                return m.get("Cause")
        return None
