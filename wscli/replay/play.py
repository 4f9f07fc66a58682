"""Playing one recorded conversation from one side over a connection engine: our side's
steps are sent at their recorded times (divided by ``--speed``, or at once with
``--no-wait``), the other side's are waited for and compared, and the first difference is
the verdict.

Times are kept against the start of the connection, not the last step, so a long recording
replays in its recorded time / speed however many steps it has (no drift): a step that is
already due is sent at once. A reply that is late waits at most ``timeout`` seconds past its
recorded time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Sequence

from wscli.core.escape import escape_control
from wscli.core.recording import Side, Step, describe
from wscli.wire.engine import Engine
from wscli.wire.owner import Ending, Owner
from wscli.wire.stream import HOLD_CONSUMER

INBOX = 256
"""Messages from the peer waiting to be compared; past it the peer stops being read."""


@dataclasses.dataclass(frozen=True)
class Verdict:
    """How a replay went: ``mismatch`` is None when everything came as recorded."""

    sent: int
    matched: int
    mismatch: str | None = None

    @property
    def ok(self) -> bool:
        return self.mismatch is None


@dataclasses.dataclass(frozen=True)
class Pace:
    """How fast to replay: ``speed`` times the recorded pace, or at once (``no_wait``);
    ``timeout``: how long past its recorded time a reply may come."""

    speed: float = 1.0
    no_wait: bool = False
    timeout: float = 5.0


Received = tuple[str, str | bytes, int | None]
"""(kind, data, close code) as in :class:`~wscli.core.recording.Step`."""


class Player(Owner[Engine]):
    """Plays ``steps`` as ``ours`` on an engine it owns; ``expect``: compare the peer's
    messages with the recording (else they are read and ignored)."""

    def __init__(self, steps: Sequence[Step], ours: Side, pace: Pace, expect: bool) -> None:
        self.steps = steps
        self.ours = ours
        self.pace = pace
        self.expect = expect
        self.inbox: asyncio.Queue[Received] = asyncio.Queue()
        self.engine: Engine | None = None
        self.is_open = asyncio.Event()
        self.ended = asyncio.Event()
        self.ending: Ending | None = None

    # The engine's events

    def opened(self, conn: Engine) -> None:
        self.engine = conn
        self.is_open.set()

    def message_received(self, conn: Engine, data: bytes, text: bool) -> None:
        if not self.expect:
            return
        payload: str | bytes = data.decode() if text else data
        self.inbox.put_nowait(("text" if text else "binary", payload, None))
        if self.inbox.qsize() >= INBOX:
            conn.hold(HOLD_CONSUMER)

    def closed(self, conn: Engine, ending: Ending) -> None:
        self.ending = ending
        rcvd = ending.rcvd
        if rcvd is not None and ending.by == "peer":
            self.inbox.put_nowait(("close", rcvd.reason, rcvd.code))
        else:
            self.inbox.put_nowait(("drop", "", None))
        self.is_open.set()
        self.ended.set()

    # Playing

    async def play(self) -> Verdict:
        """Play every step; the verdict at the first difference or at the end."""
        engine = self.engine
        assert engine is not None
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = matched = 0
        for number, step in enumerate(self.steps, 1):
            due = start if self.pace.no_wait else start + step.t / self.pace.speed
            if step.side == self.ours:
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if self.ended.is_set() and step.kind in ("text", "binary"):
                    return Verdict(sent, matched, self._gone(number, step))
                self._send(engine, step)
                sent += 1
                continue
            if not self.expect:
                continue
            wait = max(due - loop.time(), 0.0) + self.pace.timeout
            try:
                got = await asyncio.wait_for(self._next(engine), wait)
            except (TimeoutError, asyncio.TimeoutError):
                return Verdict(sent, matched, self._missing(number, step, wait))
            difference = _differs(step, got)
            if difference:
                if engine.is_open:
                    engine.close(1008, "wscli replay: not as recorded")
                return Verdict(sent, matched, self._at(number, step) + difference)
            matched += 1
        last = self.steps[-1] if self.steps else None
        if last is not None and last.side != self.ours and not self.expect:
            # The peer ended it in the recording: give it the time to, then close.
            due = start if self.pace.no_wait else start + last.t / self.pace.speed
            wait = max(due - loop.time(), 0.0) + self.pace.timeout
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(self.ended.wait(), wait)
        if engine.is_open:
            engine.close(1000, "")
        return Verdict(sent, matched)

    async def _next(self, engine: Engine) -> Received:
        got = await self.inbox.get()
        if self.inbox.qsize() < INBOX // 2:
            engine.release(HOLD_CONSUMER)
        return got

    def _send(self, engine: Engine, step: Step) -> None:
        if not engine.is_open:
            return
        if step.kind == "text":
            engine.send_text(step.data)
        elif step.kind == "binary":
            engine.send_binary(step.data if isinstance(step.data, bytes) else step.data.encode())
        elif step.kind == "close":
            reason = step.data if isinstance(step.data, str) else ""
            engine.close(None if step.code in (1005, None) else step.code, reason)
        else:
            engine.abort()

    def _at(self, number: int, step: Step) -> str:
        peer = "server" if self.ours == "client" else "client"
        return f"step {number} (t={step.t:.3f} s), the {peer}'s "

    def _missing(self, number: int, step: Step, waited: float) -> str:
        return self._at(number, step) + (
            f"{_shown(step.describe())}: nothing came within {waited:.1f} s"
        )

    def _gone(self, number: int, step: Step) -> str:
        peer = "server" if self.ours == "client" else "client"
        return (
            f"step {number} (t={step.t:.3f} s): the {peer} had ended the connection before "
            f"our {_shown(step.describe())}"
        )


def _differs(step: Step, got: Received) -> str | None:
    kind, data, code = got
    if step.kind == "drop" and kind in ("drop", "close"):
        return None  # an abrupt end was recorded: any end will do
    same = kind == step.kind and (
        (kind == "close" and code == step.code) or (kind != "close" and data == step.data)
    )
    if same:
        return None
    expected = step.describe()
    return f"{_shown(expected)} expected, got {_shown(describe(kind, data, code))}"


def _shown(text: str) -> str:
    return escape_control(text, keep_newlines=False)
