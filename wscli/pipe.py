"""Pipe mode of `wscli connect`: stdin lines in, received messages out, a clean end.

Each stdin line becomes one text message (``--binary``: one binary message; ``--stream``:
each chunk read as one binary message). Lines read before the connection opens are
buffered, never dropped. When stdin ends, replies are not dropped either: the pipe keeps
reading until one of these ends it, then closes with 1000 (or --close-code):

- ``--count N`` messages received (any time): clean end, exit 0;
- no message received for ``--idle`` seconds after stdin ended (default 1 s; 0 = no
  limit): clean end, exit 0;
- ``--wait S`` given: exactly S seconds after stdin ended (replaces --idle): clean end;
- the server closes: exit 0 for 1000/1001, else 5 (closed abnormally);
- ``--timeout S`` since the start has passed: a deadline, so exit 6 (timed out).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import threading
from typing import Final

from websockets.exceptions import ConnectionClosed

from wscli.client import WebSocketLink
from wscli.errors import TimedOut
from wscli.events import Message
from wscli.exitcodes import ExitCode
from wscli.output import Output
from wscli.session import SessionOptions, close_politely, finish_closed, run_session

DEFAULT_IDLE: Final = 1.0
EOF: Final = None
_CHUNK = 65536


@dataclasses.dataclass
class PipePolicy:
    """What to send up front, how to read stdin, and when to stop."""

    execute: tuple[str, ...] = ()
    count: int | None = None
    idle: float = DEFAULT_IDLE
    wait: float | None = None
    timeout: float | None = None
    binary: bool = False
    stream: bool = False
    read_stdin: bool = True
    close_code: int = 1000
    close_reason: str = ""


def split_lines(buffer: bytes, final: bool) -> tuple[list[bytes], bytes]:
    """Cut complete lines (without \\n or \\r\\n) off ``buffer``; at ``final`` keep the rest too."""
    *lines, rest = buffer.split(b"\n")
    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    if final and rest:
        lines.append(rest[:-1] if rest.endswith(b"\r") else rest)
        rest = b""
    return lines, rest


class StdinReader:
    """Reads a file descriptor in a thread into an asyncio queue (None marks the end).

    A thread with ``os.read`` works for pipes, files, /dev/null and terminals alike, and
    holds no lock of ``sys.stdin`` that could hang the interpreter at exit.
    """

    def __init__(self, fd: int, stream: bool, maxsize: int = 1024) -> None:
        self.fd = fd
        self.stream = stream
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize)
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="wscli-stdin", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _put(self, item: bytes | None) -> bool:
        try:
            future = asyncio.run_coroutine_threadsafe(self.queue.put(item), self._loop)
            future.result()
        except (RuntimeError, asyncio.CancelledError, Exception):
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
                if chunk and not self._put(chunk):
                    return
            else:
                lines, buffer = split_lines(buffer + chunk, final=not chunk)
                for line in lines:
                    if not self._put(line):
                        return
            if not chunk:
                self._put(EOF)
                return


class PipeSession:
    """State that outlives one connection (with --reconnect): stdin queue, counts, clock."""

    def __init__(self, policy: PipePolicy, output: Output, reader: StdinReader | None) -> None:
        self.policy = policy
        self.output = output
        self.reader = reader
        self.loop = asyncio.get_running_loop()
        self.started = self.loop.time()
        self.received = 0
        self.eof_at: float | None = None if reader is not None else self.started
        self.last_received = self.started
        self.pending: list[bytes] = []  # taken from stdin, not yet sent (kept on reconnect)

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

    async def _send(self, link: WebSocketLink, data: str | bytes) -> None:
        self.output.message(await link.send(data))

    async def run(self, link: WebSocketLink) -> ExitCode:
        """Run on one open link until an end condition; see the module docstring."""
        recv_task: asyncio.Future[Message | None] | None = None
        input_task: asyncio.Future[bytes | None] | None = None
        try:
            for text in self.policy.execute:
                await self._send(link, text)
            while self.pending:
                await self._send(link, self._payload(self.pending[0]))
                self.pending.pop(0)
            while True:
                if self.policy.count is not None and self.received >= self.policy.count:
                    return await self._close(link)
                if recv_task is None:
                    recv_task = asyncio.ensure_future(link.recv())
                if input_task is None and self.eof_at is None and self.reader is not None:
                    input_task = asyncio.ensure_future(self.reader.queue.get())
                deadline, why = self._deadline()
                wait_for = None if deadline is None else max(0.0, deadline - self.loop.time())
                tasks = {t for t in (recv_task, input_task) if t is not None}
                done, _ = await asyncio.wait(
                    tasks, timeout=wait_for, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    if why == "timeout":
                        await self._close(link)
                        raise TimedOut(
                            "no end before --timeout", f"{self.policy.timeout:g} s passed"
                        )
                    return await self._close(link)
                if input_task is not None and input_task in done:
                    item = input_task.result()
                    input_task = None
                    if item is EOF:
                        self.eof_at = self.loop.time()
                    else:
                        self.pending.append(item)
                        await self._send(link, self._payload(item))
                        self.pending.pop(0)
                if recv_task in done:
                    try:
                        message = recv_task.result()
                    except ConnectionClosed:
                        recv_task = None
                        return await finish_closed(link, self.output)
                    recv_task = None
                    if message is not None:
                        self.received += 1
                        self.last_received = self.loop.time()
                        self.output.message(message)
        except ConnectionClosed:  # while sending
            return await finish_closed(link, self.output)
        except (BrokenPipeError, asyncio.CancelledError):
            # Reader gone (`| head`) or Ctrl-C: say goodbye to the server, then go on ending.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(link.close(1001), 1)
            raise
        finally:
            for task in (recv_task, input_task):
                if task is not None:
                    task.cancel()

    async def _close(self, link: WebSocketLink) -> ExitCode:
        return await close_politely(
            link, self.output, self.policy.close_code, self.policy.close_reason
        )


async def run_pipe(
    options: SessionOptions, policy: PipePolicy, output: Output, stdin_fd: int = 0
) -> ExitCode:
    """Pipe mode end to end: start reading stdin at once, then connect (and reconnect)."""
    reader = None
    if policy.read_stdin:
        reader = StdinReader(stdin_fd, stream=policy.stream)
        reader.start()
    session = PipeSession(policy, output, reader)
    return await run_session(options, output, session.run)
