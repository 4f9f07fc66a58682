"""Pipe mode of `wscli connect`: stdin lines in, received messages out, a clean end.

Each stdin line becomes one text message (``--binary``: one binary message; ``--stream``:
each chunk read as one binary message). Lines read before the connection opens are
buffered, never dropped. When stdin ends, replies are not dropped either: the pipe keeps
reading until one of these ends it, then closes with 1000 (or --close-code):

- ``--count N`` messages received (any time): clean end, exit 0;
- no message for ``--idle`` seconds after stdin ended, counted from the last message
  sent or received, whichever came later (default :data:`~wscli.connect.config
  .DEFAULT_IDLE`; 0 = no limit): a clean end when a message came after the last one sent
  (or nothing was sent); otherwise "no reply", exit 8 — and with ``--count N``, fewer than
  N is exit 8 too: silence never passes for success;
- ``--wait S`` given: exactly S seconds after stdin ended (replaces --idle): clean end;
- the server closes: exit 0 for 1000/1001 (or a close frame without a code), else 5
  (closed abnormally);
- ``--timeout S`` since the start has passed: a deadline, so exit 6 (timed out), held
  even while a reader that stopped reading blocks stdout (:mod:`wscli.connect.watchdog`).

With -v, the reason wscli closed is said on stderr before the close.

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
from collections.abc import Sequence
from typing import Final

from websockets.exceptions import ConnectionClosed

from wscli.connect.config import PipePolicy, SessionOptions
from wscli.connect.inputs import NEWLINE, BadInput, payload, split_messages
from wscli.connect.link import Link, WebSocketLink
from wscli.connect.output import Output
from wscli.connect.session import (
    cancel_and_wait,
    close_politely,
    finish_closed,
    run_session,
)
from wscli.connect.watchdog import DeadlineWatchdog, Expire
from wscli.core.errors import NoReply, TimedOut
from wscli.core.events import Message
from wscli.core.exitcodes import ExitCode

EOF: Final = None
_CHUNK = 65536
_SEND_BATCH = 4096  # messages handed to the link at once (bounds the bytes held at once)


class StdinReader:
    """Reads a file descriptor in a thread into an asyncio queue, one batch per read.

    Each item is the list of messages cut from one ``os.read`` (at ``separator``; one chunk
    each with ``stream``; with ``whole``, all of it at the end); None marks the end. A
    thread with ``os.read`` works for pipes, files, /dev/null and terminals alike, and
    holds no lock of ``sys.stdin`` that could hang the interpreter at exit. At most
    ``maxsize`` batches wait in the queue: the thread, not the loop, blocks when the
    connection is slower than stdin.
    """

    def __init__(
        self,
        fd: int,
        stream: bool,
        maxsize: int = 256,
        separator: bytes = NEWLINE,
        whole: bool = False,
    ) -> None:
        self.fd = fd
        self.stream = stream
        self.separator = separator
        self.whole = whole
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
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(self.fd, _CHUNK)
            except OSError:
                chunk = b""
            if self.stream:
                batch = [chunk] if chunk else []
            elif self.whole:
                # One message of everything: kept as chunks, joined once at the end
                # (adding each read to one bytes object copied it all at every read).
                chunks.append(chunk)
                batch = [b"".join(chunks)] if not chunk else []
            else:
                batch, buffer = split_messages(buffer + chunk, not chunk, self.separator)
            if batch and not self._put(batch):
                return
            if not chunk:
                self._put(EOF)
                return


class PipeSession:
    """State that outlives one connection (with --reconnect): stdin queue, counts, clock."""

    def __init__(
        self,
        policy: PipePolicy,
        output: Output,
        reader: StdinReader | None,
        execute: Sequence[bytes] = (),
    ) -> None:
        self.policy = policy
        self.execute = execute
        self.output = output
        self.reader = reader
        self.loop = asyncio.get_running_loop()
        self.started = self.loop.time()
        self.received = 0
        self.sent = 0
        self.stdin_sent = 0  # of them, messages from stdin (to name a bad one)
        self.replied = True  # a message came after the last one sent (or none was sent)
        self.eof_at: float | None = None
        self.last_received = self.started
        self.last_sent = self.started
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
                # From the last send, not from stdin's end: `echo x |` ends stdin before
                # the connection is even open, and the reply can only come after the send.
                since = max(self.eof_at, self.last_sent, self.last_received)
                candidates.append((since + self.policy.idle, "idle"))
        if not candidates:
            return None, ""
        return min(candidates)

    def _payload(self, raw: bytes, where: str) -> str | bytes:
        source = self.policy.input
        return payload(raw, source.sends_binary, source.binary_input, where)

    def _count_reached(self) -> bool:
        return self.policy.count is not None and self.received >= self.policy.count

    def _payloads(self, raws: list[bytes]) -> tuple[list[str | bytes], BadInput | None]:
        """The messages of stdin's ``raws``, up to the first that cannot be sent (and why)."""
        source = self.policy.input
        if not source.sends_binary:  # text: undecodable bytes replaced, never an error
            return [raw.decode("utf-8", "replace") for raw in raws], None
        payloads: list[str | bytes] = []
        for raw in raws:
            try:
                where = f"stdin message {self.stdin_sent + len(payloads) + 1}"
                payloads.append(self._payload(raw, where))
            except BadInput as error:  # what came before it is still sent
                return payloads, error
        return payloads, None

    async def _send_pending(self, link: Link) -> None:
        # Items leave `pending` only once sent: a reconnect sends the rest.
        pending = self.pending
        while pending:
            payloads, bad = self._payloads(list(itertools.islice(pending, _SEND_BATCH)))
            sent = await link.send_many(payloads) if payloads else []
            for _ in range(len(sent)):
                pending.popleft()
            self.stdin_sent += len(sent)
            self._sent(sent)
            if bad is not None:
                raise bad

    def _sent(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        self.sent += len(messages)
        self.replied = False
        self.last_sent = self.loop.time()
        if self.output.shows_sent:
            self.output.messages(messages)

    async def _sender(self, link: Link) -> None:
        """Send --emit's events, -x, then what stdin gives, until stdin ends."""
        if not isinstance(link, WebSocketLink):
            # Imported here: a plain WebSocket pipe starts 18 ms sooner without Socket.IO.
            from wscli.connect.socketio.link import SocketIOLink

            if isinstance(link, SocketIOLink):
                self._sent(await link.emit_opening())
        for index, raw in enumerate(self.execute, 1):
            self._sent([await link.send(self._payload(raw, f"-x message {index}"))])
        await self._send_pending(link)
        while self.eof_at is None:
            batch = EOF if self.reader is None else await self.reader.get()
            if batch is EOF:
                self.eof_at = self.loop.time()
                return
            self.pending.extend(batch)
            await self._send_pending(link)

    async def _receiver(self, link: Link) -> None:
        """Write each received message out until the connection closes or --count."""
        count = self.policy.count
        while True:
            messages = await link.recv_many()
            if not messages:
                continue
            if count is not None and self.received + len(messages) > count:
                messages = messages[: count - self.received]  # the rest is not asked for
            self.received += len(messages)
            self.replied = True
            self.last_received = self.loop.time()
            self.output.messages(messages)
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
                    return await self._close(
                        link, f"{self.received} of -n {self.policy.count} messages received"
                    )
                if receiver.done():
                    receiver.result()  # ConnectionClosed (or a broken stdout) goes up
                if sender.done():
                    sender.result()
                deadline, why = self._deadline()
                if deadline is not None and self.loop.time() >= deadline:
                    return await self._end(link, why)
                wait_for = None if deadline is None else deadline - self.loop.time()
                pending = {receiver} if sender.done() else {receiver, sender}
                # Woken by the end of stdin, of the connection, or by the next deadline
                # (which new messages only move later: it is checked again above).
                await asyncio.wait(pending, timeout=wait_for, return_when=asyncio.FIRST_COMPLETED)
        except ConnectionClosed:
            return await finish_closed(link, self.output)
        except BadInput:
            # What was sent before the bad message was sent: end it as cleanly.
            with contextlib.suppress(Exception):
                await self._close(link, "a message in the input cannot be sent")
            raise
        except (BrokenPipeError, asyncio.CancelledError) as exc:
            # Reader gone (`| head`) or Ctrl-C: say goodbye to the server, then go on ending.
            gone = isinstance(exc, BrokenPipeError)
            with contextlib.suppress(Exception):
                self.output.status(
                    "closing (1001): " + ("stdout closed" if gone else "interrupted")
                )
            with contextlib.suppress(Exception):
                await asyncio.wait_for(link.close(1001), 1)
            raise
        finally:
            await cancel_and_wait(sender, receiver)

    async def _end(self, link: Link, why: str) -> ExitCode:
        """A deadline passed (``why``: timeout, wait or idle): close, then judge the end."""
        policy = self.policy
        if why == "timeout":
            await self._close(link, f"--timeout {policy.timeout:g} s reached")
            raise TimedOut(f"timed out after {policy.timeout:g} s (--timeout)")
        if why == "wait":
            await self._close(link, f"--wait {policy.wait:g} s passed after stdin ended")
            return ExitCode.OK
        silence = f"{policy.idle:g} s of silence (--idle)"
        await self._close(link, f"stdin ended and {silence}")
        if policy.count is not None and not self._count_reached():
            # -n N asked for N messages: fewer is not a clean end (a starved server can
            # fall silent past --idle in mid-stream). The replies read while closing
            # count: the last of them can end the silence.
            raise NoReply(
                f"received {self.received} of {policy.count} messages (-n)",
                silence,
                hint="raise --idle, or give --timeout for a deadline",
            )
        if policy.count is None and not self.replied:
            # Nothing came back after the last message sent: a slow server's reply would
            # be lost without a word (exit 0) otherwise.
            after = ", none after the last" if self.received else ""
            raise NoReply(
                f"ended after {silence}",
                f"{self.received} {_plural(self.received, 'reply', 'replies')} to "
                f"{self.sent} {_plural(self.sent, 'message')} sent{after}",
                hint="use -n N or --idle S",
            )
        return ExitCode.OK

    async def _close(self, link: Link, why: str) -> ExitCode:
        """Close with --close-code; -v says why first."""
        self.output.status(f"closing ({self.policy.close_code}): {why}")
        return await close_politely(
            link, self.output, self.policy.close_code, self.policy.close_reason
        )


def _plural(count: int, one: str, many: str | None = None) -> str:
    return one if count == 1 else (many or one + "s")


async def run_pipe(
    options: SessionOptions,
    policy: PipePolicy,
    output: Output,
    stdin_fd: int | None = 0,
    expire: Expire | None = None,
    execute: Sequence[bytes] | None = None,
) -> ExitCode:
    """Pipe mode end to end: start reading stdin at once, then connect (and reconnect).

    ``stdin_fd`` None: stdin is not read (a terminal with -n or --wait: as if it had
    ended). ``execute``: the bytes of the -x messages (``@FILE`` read; by default the -x
    values as text). ``expire`` ends the process when --timeout passes while the loop is
    blocked (see :mod:`wscli.connect.watchdog`); the CLI gives it.
    """
    source = policy.input
    reader = None
    if stdin_fd is not None:
        reader = StdinReader(
            stdin_fd, stream=source.stream, separator=source.separator, whole=source.whole_input
        )
        reader.start()
    if execute is None:
        execute = [text.encode("utf-8") for text in policy.execute]
    session = PipeSession(policy, output, reader, execute)
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
