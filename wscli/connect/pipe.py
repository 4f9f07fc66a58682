"""Pipe mode of `wscli connect`: stdin lines in, received messages out, a clean end.

Each stdin line becomes one text message (``--binary``: one binary message; ``--stream``:
each chunk read as one binary message). Lines read before the connection opens are
buffered, never dropped. When stdin ends, replies are not dropped either: the pipe keeps
reading until one of these ends it, then closes with 1000 (or --close-code):

- ``--count N`` messages received (any time): clean end, exit 0;
- no message received for ``--idle`` seconds after stdin ended (default 0.5 s; 0 = no
  limit): clean end, exit 0 — unless ``--count N`` was given and fewer than N arrived:
  then it is exit 6, since the script did not get what it asked for;
- ``--wait S`` given: exactly S seconds after stdin ended (replaces --idle): clean end;
- the server closes: exit 0 for 1000/1001 (or a close frame without a code), else 5
  (closed abnormally);
- ``--timeout S`` since the start has passed: a deadline, so exit 6 (timed out), held
  even while a reader that stopped reading blocks stdout (:mod:`wscli.connect.watchdog`).

A close that websockets began on our side before one of these (1009 for a message over
--max-size) lost a message: it is never a clean end (see ``session.close_politely``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import os
import threading
from typing import Final

from websockets.exceptions import ConnectionClosed

from wscli.connect.config import PipePolicy, SessionOptions
from wscli.connect.link import Link
from wscli.connect.output import Output
from wscli.connect.session import (
    cancel_and_wait,
    close_politely,
    finish_closed,
    run_session,
)
from wscli.connect.watchdog import DeadlineWatchdog, Expire
from wscli.core.errors import TimedOut
from wscli.core.exitcodes import ExitCode

EOF: Final = None
_CHUNK = 65536
_SEND_BATCH = 4096  # messages handed to the link at once (bounds the bytes held at once)


def split_lines(buffer: bytes, final: bool) -> tuple[list[bytes], bytes]:
    """Cut complete lines (without \\n or \\r\\n) off ``buffer``; at ``final`` keep the rest too."""
    *lines, rest = buffer.split(b"\n")
    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    if final and rest:
        lines.append(rest[:-1] if rest.endswith(b"\r") else rest)
        rest = b""
    return lines, rest


class StdinReader:
    """Reads a file descriptor in a thread into an asyncio queue, one batch per read.

    Each item is the list of messages (lines, or one chunk with ``stream``) cut from one
    ``os.read``; None marks the end. A thread with ``os.read`` works for pipes, files,
    /dev/null and terminals alike, and holds no lock of ``sys.stdin`` that could hang the
    interpreter at exit. At most ``maxsize`` batches wait in the queue: the thread, not the
    loop, blocks when the connection is slower than stdin.
    """

    def __init__(self, fd: int, stream: bool, maxsize: int = 256) -> None:
        self.fd = fd
        self.stream = stream
        self._queue: asyncio.Queue[list[bytes] | None] = asyncio.Queue()
        self._slots = threading.BoundedSemaphore(maxsize)
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="wscli-stdin", daemon=True)

    def start(self) -> None:
        self._thread.start()

    async def get(self) -> list[bytes] | None:
        """The next batch of messages; None at the end of stdin."""
        item = await self._queue.get()
        self._slots.release()
        return item

    def _put(self, item: list[bytes] | None) -> bool:
        self._slots.acquire()
        try:
            # A plain callback, not a coroutine: if the loop ends first, nothing is left
            # un-awaited (which would print a RuntimeWarning on stderr).
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the session has ended
            return False
        return True

    def _run(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self.fd, _CHUNK)
            except OSError:
                chunk = b""
            if self.stream:
                batch = [chunk] if chunk else []
            else:
                batch, buffer = split_lines(buffer + chunk, final=not chunk)
            if batch and not self._put(batch):
                return
            if not chunk:
                self._put(EOF)
                return


class PipeSession:
    """State that outlives one connection (with --reconnect): stdin queue, counts, clock."""

    def __init__(self, policy: PipePolicy, output: Output, reader: StdinReader) -> None:
        self.policy = policy
        self.output = output
        self.reader = reader
        self.loop = asyncio.get_running_loop()
        self.started = self.loop.time()
        self.received = 0
        self.eof_at: float | None = None
        self.last_received = self.started
        # Taken from stdin, not yet sent (kept on reconnect); a deque: sent from the left.
        self.pending: collections.deque[bytes] = collections.deque()

    def _deadline(self) -> tuple[float | None, str]:
        """The next moment something ends the session, and what it is."""
        candidates: list[tuple[float, str]] = []
        if self.policy.timeout is not None:
            candidates.append((self.started + self.policy.timeout, "timeout"))
        if self.eof_at is not None:
            if self.policy.wait is not None:
                candidates.append((self.eof_at + self.policy.wait, "wait"))
            elif self.policy.idle > 0:
                since = max(self.eof_at, self.last_received)
                candidates.append((since + self.policy.idle, "idle"))
        if not candidates:
            return None, ""
        return min(candidates)

    def _payload(self, raw: bytes) -> str | bytes:
        if self.policy.binary or self.policy.stream:
            return raw
        return raw.decode("utf-8", "replace")

    def _count_reached(self) -> bool:
        return self.policy.count is not None and self.received >= self.policy.count

    async def _send_pending(self, link: Link) -> None:
        # Items leave `pending` only once sent: a reconnect sends the rest.
        while self.pending:
            batch = list(itertools.islice(self.pending, _SEND_BATCH))
            sent = await link.send_many([self._payload(raw) for raw in batch])
            for message in sent:
                self.pending.popleft()
                self.output.message(message)

    async def _sender(self, link: Link) -> None:
        """Send -x, then what stdin gives, until stdin ends."""
        for text in self.policy.execute:
            self.output.message(await link.send(text))
        await self._send_pending(link)
        while self.eof_at is None:
            batch = await self.reader.get()
            if batch is EOF:
                self.eof_at = self.loop.time()
                return
            self.pending.extend(batch)
            await self._send_pending(link)

    async def _receiver(self, link: Link) -> None:
        """Write each received message out until the connection closes or --count."""
        while True:
            message = await link.recv()
            if message is None:
                continue
            self.received += 1
            self.last_received = self.loop.time()
            self.output.message(message)
            if self._count_reached():
                return

    async def run(self, link: Link) -> ExitCode:
        """Run on one open link until an end condition; see the module docstring."""
        # --idle counts silence on this connection: after a --reconnect, the new one gets
        # its full --idle for the replies to -x and the re-sent lines (the backoff alone
        # may be longer than --idle).
        self.last_received = max(self.last_received, self.loop.time())
        sender = asyncio.ensure_future(self._sender(link))
        receiver = asyncio.ensure_future(self._receiver(link))
        try:
            while True:
                if self._count_reached():
                    return await self._close(link)
                if receiver.done():
                    receiver.result()  # ConnectionClosed (or a broken stdout) goes up
                if sender.done():
                    sender.result()
                deadline, why = self._deadline()
                if deadline is not None and self.loop.time() >= deadline:
                    await self._close(link)
                    if why == "timeout":
                        raise TimedOut(f"timed out after {self.policy.timeout:g} s (--timeout)")
                    counting = self.policy.count is not None
                    if why == "idle" and counting and not self._count_reached():
                        # -n N asked for N messages: fewer is not a clean end (a starved
                        # server can fall silent past --idle in mid-stream). The replies
                        # read while closing count: the last of them can end the silence.
                        raise TimedOut(
                            f"received {self.received} of {self.policy.count} messages (-n)",
                            f"{self.policy.idle:g} s of silence (--idle)",
                            hint="raise --idle, or give --timeout for a deadline",
                        )
                    return ExitCode.OK
                wait_for = None if deadline is None else deadline - self.loop.time()
                pending = {receiver} if sender.done() else {receiver, sender}
                # Woken by the end of stdin, of the connection, or by the next deadline
                # (which new messages only move later: it is checked again above).
                await asyncio.wait(pending, timeout=wait_for, return_when=asyncio.FIRST_COMPLETED)
        except ConnectionClosed:
            return await finish_closed(link, self.output)
        except (BrokenPipeError, asyncio.CancelledError):
            # Reader gone (`| head`) or Ctrl-C: say goodbye to the server, then go on ending.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(link.close(1001), 1)
            raise
        finally:
            await cancel_and_wait(sender, receiver)

    async def _close(self, link: Link) -> ExitCode:
        return await close_politely(
            link, self.output, self.policy.close_code, self.policy.close_reason
        )


async def run_pipe(
    options: SessionOptions,
    policy: PipePolicy,
    output: Output,
    stdin_fd: int = 0,
    expire: Expire | None = None,
) -> ExitCode:
    """Pipe mode end to end: start reading stdin at once, then connect (and reconnect).

    ``expire`` ends the process when --timeout passes while the loop is blocked (see
    :mod:`wscli.connect.watchdog`); the CLI gives it.
    """
    reader = StdinReader(stdin_fd, stream=policy.stream)
    reader.start()
    session = PipeSession(policy, output, reader)
    watchdog = None
    if policy.timeout is not None and expire is not None:
        # Holds the deadline even while a blocked stdout write holds the loop.
        grace = options.connect.close_timeout + 1.0
        loop = asyncio.get_running_loop()
        watchdog = DeadlineWatchdog(loop, policy.timeout, grace, expire)
        watchdog.start()
    try:
        result = await run_session(options, output, session.run)
    except BaseException:
        with contextlib.suppress(OSError, ValueError):  # the first error is the one to tell
            output.flush()
        raise
    finally:
        if watchdog is not None:
            watchdog.stop()
    output.flush()  # a broken pipe here goes up: a quiet end
    return result
