"""The Socket.IO session as the pipe and the prompt see it: a
:class:`~wscli.connect.link.Link` that joins a namespace, emits lines as events (with
acknowledgements when asked), answers the server's pings and acknowledgement requests, and
yields received events as Messages.

Everything the server sends is checked by the bounded codec; a malformed packet closes
the connection as a protocol error (1002, 1007 for invalid text, 1009 for attachments over
``--max-size``, counted as they are delivered: base64, see
:func:`~wscli.core.socketio.expanded_size`) and raises
:class:`~wscli.core.errors.ClosedAbnormally`: one line, exit 5.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from websockets.exceptions import ConnectionClosed

from wscli.connect.config import SocketIOOptions
from wscli.connect.output import Output
from wscli.connect.redirects import open_following
from wscli.connect.socketio.transport import PollingTransport, Transport
from wscli.core.clientoptions import ConnectOptions
from wscli.core.errors import ClosedAbnormally, HandshakeRejected, TimedOut
from wscli.core.events import ClosedBy, Message
from wscli.core.socketio import (
    ENGINE_BINARY,
    ENGINE_CLOSE,
    ENGINE_MESSAGE,
    ENGINE_PING,
    ENGINE_PONG,
    Packet,
    PacketType,
    ProtocolViolation,
    ack_frames,
    connect_error_text,
    decode_base64_packet,
    decode_packet,
    emit_frames,
    encode_packet,
    engine_open,
    expanded_size,
    fill_placeholders,
    json_sequence,
    line_arguments,
    polling_url,
)

MAX_EVENT_NAMES = 256
"""Event names remembered for completion at the prompt (the first ones seen)."""
MAX_EVENT_NAME = 64
"""Longest event name remembered for completion: 256 names of up to --max-size each held
232 MB, in a pipe too."""


def completable(name: str) -> bool:
    """A name worth offering after ``/emit ``: short, printable, one word."""
    return len(name) <= MAX_EVENT_NAME and name.isprintable() and " " not in name


def _shown(arg: Any) -> Any:
    """An argument as JSON shows it: bytes as ``{"base64": ...}``."""
    if isinstance(arg, bytes):
        return {"base64": base64.b64encode(arg).decode("ascii")}
    return arg


class SocketIOLink:
    """A link that speaks Socket.IO over an Engine.IO :class:`Transport`: the one WebSocket
    adapter (:class:`~wscli.connect.websocket.WebSocketChannel`) or long-polling."""

    def __init__(
        self,
        transport: Transport,
        url: str,
        options: SocketIOOptions,
        *,
        max_size: int | None = 2**20,
        open_timeout: float = 10.0,
        notice: Callable[[str], None] = lambda line: None,
        first_packet: str | None = None,
        ack_timeout_fatal: bool = True,
        keep_event_names: bool = False,
    ) -> None:
        self.transport = transport
        self.url = url
        self.options = options
        # An overdue acknowledgement ends the session with exit 6 (the pipe); at the
        # prompt it is a visible line and the session goes on.
        self.ack_timeout_fatal = ack_timeout_fatal
        # Received event names are kept for /emit completion at the prompt only.
        self.keep_event_names = keep_event_names
        self.namespace = (
            options.namespace if options.namespace.startswith("/") else "/" + (options.namespace)
        )
        self.event = options.event
        self.ack = options.ack
        self.max_size = max_size
        self.open_timeout = open_timeout
        self.notice = notice
        self.first_packet = first_packet
        self.engine_opened = False  # the Engine.IO open packet came: Socket.IO is there
        self.loop = asyncio.get_running_loop()
        self.pending_acks: dict[int, tuple[float, str]] = {}  # id -> (deadline, event)
        self.next_ack_id = 0
        self.event_names: dict[str, None] = {}  # seen so far, in order (see _remember)
        self._receiving = 0
        self._settled = asyncio.Event()
        self._missed: TimedOut | None = None  # the first acknowledgement that never came
        self._ack_added = asyncio.Event()  # wakes a frame wait to re-arm its ack deadline
        self._frame_task: asyncio.Future[str | bytes] | None = None
        # A binary packet waiting for its attachments: packet, frame, attachments, bytes.
        self._partial: tuple[Packet, str, list[bytes], int] | None = None

    # -- what the outputs show ---------------------------------------------------------
    @property
    def subprotocol(self) -> str | None:
        return self.transport.subprotocol

    @property
    def extensions(self) -> list[str]:
        return self.transport.extensions

    @property
    def response_headers(self) -> list[tuple[str, str]]:
        return self.transport.response_headers

    def closed_info(self) -> tuple[int | None, str, ClosedBy]:
        return self.transport.closed_info()

    @property
    def is_open(self) -> bool:
        return self.transport.is_open

    def check_stalled(self) -> None:
        self.transport.check_stalled()

    # -- handshake ---------------------------------------------------------------------
    async def start(self) -> None:
        """Engine.IO open, then Socket.IO CONNECT to the namespace; wait for the answer."""
        try:
            await asyncio.wait_for(self._handshake(), self.open_timeout)
        except (TimeoutError, asyncio.TimeoutError):
            if not self.engine_opened:  # the server said nothing: likely no Socket.IO there
                raise TimedOut(
                    "Socket.IO handshake timed out",
                    f"no Engine.IO open packet within {self.open_timeout:g} s",
                    hint="is it a Socket.IO server? (drop --socketio)",
                ) from None
            raise TimedOut("Socket.IO handshake timed out", "no CONNECT answer") from None
        except ConnectionClosed as exc:
            # Long-polling has no close frame: its transport says what ended it.
            ended = self.transport.closed_info()[1] or "no close frame"
            raise HandshakeRejected(
                "the server closed the connection during the Socket.IO handshake",
                f"close code {exc.rcvd.code}" if exc.rcvd else ended,
            ) from None
        except ProtocolViolation as exc:
            if not self.engine_opened:
                raise HandshakeRejected(
                    "not a Socket.IO server", str(exc), hint="drop --socketio?"
                ) from None
            await self._violation(exc)

    async def _handshake(self) -> None:
        first = self.first_packet
        if first is None:
            frame = await self.transport.recv()
            first = frame if isinstance(frame, str) else ""
        engine_open(first)
        self.engine_opened = True
        connect = Packet(PacketType.CONNECT, self.namespace, self.options.handshake_auth)
        await self.transport.send_all([ENGINE_MESSAGE + encode_packet(connect)])
        while True:
            frame = await self.transport.recv()
            if not isinstance(frame, str):
                continue
            if frame == ENGINE_PING:
                await self._pong()
                continue
            if not frame.startswith(ENGINE_MESSAGE):
                continue
            packet = decode_packet(frame[1:])
            if packet.namespace != self.namespace:
                continue
            if packet.type is PacketType.CONNECT:
                return
            if packet.type is PacketType.CONNECT_ERROR:
                raise HandshakeRejected(
                    f"Socket.IO namespace {self.namespace!r} refused",
                    connect_error_text(packet.data),
                )

    # -- sending -----------------------------------------------------------------------
    def _prepare(
        self, event: str, args: Sequence[Any], ack: bool | None = None
    ) -> tuple[list[str | bytes], Message]:
        """The frames that emit ``event`` with ``args`` (registering the ack asked for) and
        the ``out`` Message that shows it."""
        ack_id = None
        if self.ack if ack is None else ack:
            ack_id = self.next_ack_id
            self.next_ack_id += 1
            self.pending_acks[ack_id] = (self.loop.time() + self.options.ack_timeout, event)
            self._settled.clear()
            self._ack_added.set()
        frames = emit_frames(event, list(args), self.namespace, ack_id)
        assert isinstance(frames[0], str)
        shown = tuple(_shown(arg) for arg in args)
        return frames, Message("out", frames[0], name=event, args=shown, ack_id=ack_id)

    async def emit(self, event: str, args: Sequence[Any], ack: bool | None = None) -> Message:
        """Emit ``event`` with ``args`` (bytes become binary attachments); with ``ack``
        (default: --ack / the /ack toggle) ask for an acknowledgement."""
        frames, message = self._prepare(event, args, ack)
        await self._send(frames)
        return message

    async def emit_opening(self) -> list[Message]:
        """``--emit EVENT``: each event, with no arguments, in order."""
        return [await self.emit(event, []) for event in self.options.emit]

    async def emit_text(self, event: str, text: str) -> Message:
        """``/emit EVENT JSON…``: the JSON values after the name are the arguments."""
        return await self.emit(event, json_sequence(text) if text.strip() else [])

    def _arguments(self, data: str | bytes) -> list[Any]:
        """What one line (or binary message) stands for as event arguments (see
        :func:`~wscli.core.socketio.line_arguments`)."""
        if isinstance(data, bytes):
            return [data]
        return line_arguments(data, self.options.raw_strings, self.options.spread)

    async def send(self, data: str | bytes) -> Message:
        """Emit one line (or binary message) as ``--event``."""
        return await self.emit(self.event, self._arguments(data))

    async def send_many(self, payloads: Sequence[str | bytes]) -> Sequence[Message]:
        """Emit each payload as one event, in order, in one transport write (one POST over
        long-polling instead of one per line)."""
        frames: list[str | bytes] = []
        messages = []
        for payload in payloads:
            more, message = self._prepare(self.event, self._arguments(payload))
            frames += more
            messages.append(message)
        await self._send(frames)
        return messages

    async def ping(self, payload: bytes = b"") -> float:
        """A round trip: a WebSocket ping, or an HTTP request over long-polling."""
        return await self.transport.ping()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close; in a pipe (--ack), first wait for the acknowledgements still due, and raise
        TimedOut for those that do not come: a script must not lose one silently."""
        waited = False
        if self.pending_acks and self._receiving and self.ack_timeout_fatal:
            waited = True
            latest = max(deadline for deadline, _ in self.pending_acks.values())
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(self._settled.wait(), max(latest - self.loop.time(), 0))
        missing = sorted(self.pending_acks.items())
        await self.transport.close(code, reason)
        # An ack found overdue by the receiver just before (its entry already gone) is
        # still a lost acknowledgement: the end that raced it must not be a clean one.
        if self._missed is not None:
            raise self._missed
        if waited and missing:
            raise self._overdue_error(*missing[0])

    # -- receiving ---------------------------------------------------------------------
    async def recv(self) -> Message | None:
        """The next event or acknowledgement for our namespace; None for frames handled
        here (pings, other namespaces, attachments still coming)."""
        self._receiving += 1
        try:
            frame = await self._next_frame()
            return None if frame is None else await self._handle(frame)
        except ProtocolViolation as exc:  # in a frame, or in a long-polling body
            await self._violation(exc)
            raise AssertionError("unreachable") from None
        finally:
            self._receiving -= 1

    async def recv_many(self) -> Sequence[Message]:
        """One event at a time (see :meth:`recv`): each may wait for its attachments."""
        message = await self.recv()
        return [] if message is None else [message]

    async def _next_frame(self) -> str | bytes | None:
        """The next frame, or None after reporting an acknowledgement that is overdue.

        The wait for a frame also ends at the first ack deadline, and is re-armed when an
        emit asks for a new ack while it waits (a quiet server must not delay the verdict).
        """
        task = self._frame_task
        if task is None:
            task = self._frame_task = asyncio.ensure_future(self.transport.recv())
        try:
            while not task.done():
                self._ack_added.clear()
                deadline = min((d for d, _ in self.pending_acks.values()), default=None)
                timeout = None if deadline is None else max(deadline - self.loop.time(), 0)
                added: asyncio.Future[Any] = asyncio.ensure_future(self._ack_added.wait())
                waits: set[asyncio.Future[Any]] = {task, added}
                try:
                    await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    added.cancel()
                if not task.done() and deadline is not None and self.loop.time() >= deadline:
                    await self._acks_overdue()
                    return None
        except BaseException:
            # Cancelled (or the ack verdict raised): the frame wait goes too. Cancelling a
            # receive loses nothing (websockets documents it; ours is a queue).
            if task.done():
                if not task.cancelled():
                    task.exception()  # retrieved: we are ending anyway (no "never retrieved")
            else:
                task.cancel()
            self._frame_task = None
            raise
        self._frame_task = None
        try:
            return task.result()
        except ConnectionClosed:
            self._polling_ended()
            raise

    async def _pong(self) -> None:
        """Answer the server's ping. Its failure decides nothing: the session is over, and
        how it ended is told by what is still to read (a ping and a 41 in one answer, the
        pong refused after the next long poll's 400, is the server's clean disconnect)."""
        with contextlib.suppress(ConnectionClosed):
            await self.transport.send_all([ENGINE_PONG])

    async def _send(self, frames: Sequence[str | bytes]) -> None:
        try:
            await self.transport.send_all(frames)
        except ConnectionClosed:
            self._polling_ended()
            raise

    def _polling_ended(self) -> None:
        """Long-polling has no close frame: raise the reason its transport ended with."""
        code, reason, _ = self.transport.closed_info()
        if self.transport.name == "polling" and code is None:
            raise ClosedAbnormally("the long-polling session ended", reason) from None

    def _overdue_error(self, ack_id: int, entry: tuple[float, str]) -> TimedOut:
        return TimedOut(
            f"no acknowledgement for event {entry[1]!r} (ack {ack_id})",
            f"none within {self.options.ack_timeout:g} s (--ack-timeout)",
        )

    async def _acks_overdue(self) -> None:
        now = self.loop.time()
        overdue = sorted((i, e) for i, e in self.pending_acks.items() if e[0] <= now)
        for ack_id, _ in overdue:
            del self.pending_acks[ack_id]
        self._settle()
        if not overdue:
            return
        if self.ack_timeout_fatal:
            self._missed = self._overdue_error(*overdue[0])
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.transport.close(1000), 2)
            raise self._missed
        for ack_id, entry in overdue:
            self.notice(str(self._overdue_error(ack_id, entry)))

    def _settle(self) -> None:
        if not self.pending_acks:
            self._settled.set()

    async def _handle(self, frame: str | bytes) -> Message | None:
        if isinstance(frame, str) and frame.startswith(ENGINE_BINARY):
            frame = decode_base64_packet(frame)  # over WebSocket too, as engine.io-parser
        if self._partial is not None:
            return await self._attachment(frame)
        if isinstance(frame, bytes):
            return None  # a stray binary frame: nothing announced it
        if frame == ENGINE_PING:
            await self._pong()
            return None
        if frame == ENGINE_CLOSE:
            await self.transport.close(1000)
            await self.transport.recv()  # raises ConnectionClosed
        if not frame.startswith(ENGINE_MESSAGE):
            return None
        packet = decode_packet(frame[1:])
        if packet.namespace != self.namespace:
            return None
        if packet.type is PacketType.DISCONNECT:
            await self.transport.close(1000, "Socket.IO disconnect")
            await self.transport.recv()  # raises ConnectionClosed
        if packet.attachments:
            self._partial = (packet, frame, [], len(frame.encode("utf-8")))
            return None
        return await self._deliver(packet, frame, [])

    async def _attachment(self, frame: str | bytes) -> Message | None:
        assert self._partial is not None
        if frame == ENGINE_PING:
            await self._pong()
            return None
        if isinstance(frame, str):
            raise ProtocolViolation("a text frame where a binary attachment was due")
        packet, text, attachments, size = self._partial
        size += expanded_size(len(frame))  # as delivered: base64 in the event's JSON
        if self.max_size is not None and size > self.max_size:
            raise ProtocolViolation(
                f"binary attachments over {self.max_size} bytes (--max-size)", 1009
            )
        attachments.append(frame)
        self._partial = (packet, text, attachments, size)
        if len(attachments) < packet.attachments:
            return None
        self._partial = None
        return await self._deliver(packet, text, attachments)

    async def _deliver(
        self, packet: Packet, frame: str, attachments: list[bytes]
    ) -> Message | None:
        data = fill_placeholders(packet.data, attachments) if packet.attachments else packet.data
        if packet.type in (PacketType.EVENT, PacketType.BINARY_EVENT):
            name = data[0]
            self._remember(name)
            if packet.id is not None:  # the server asks for an acknowledgement: give it
                reply = ack_frames(packet.id, list(self.options.ack_reply), self.namespace)
                await self._send(reply)
            return Message("in", frame, name=name, args=tuple(data[1:]), ack_id=packet.id)
        if packet.type in (PacketType.ACK, PacketType.BINARY_ACK):
            assert packet.id is not None
            if self.pending_acks.pop(packet.id, None) is None:
                return None  # not one we wait for (late, after its timeout): dropped
            self._settle()
            return Message("in", frame, args=tuple(data), ack_id=packet.id, is_ack=True)
        return None

    def _remember(self, name: str) -> None:
        """Keep ``name`` for completion: at the prompt, short ones, a bounded number."""
        names = self.event_names
        if (
            self.keep_event_names
            and len(names) < MAX_EVENT_NAMES
            and name not in names
            and completable(name)
        ):
            names[name] = None

    async def _violation(self, exc: ProtocolViolation) -> None:
        """Close as a protocol error and raise the one-line error (exit 5)."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.transport.close(exc.code, str(exc)[:120]), 2)
        raise ClosedAbnormally(
            "the server sent a malformed Socket.IO packet",
            f"{exc}; closed with {exc.code}",
            code=exc.code,
            reason=str(exc),
        )


async def open_socketio_link(
    connect: ConnectOptions,
    options: SocketIOOptions,
    output: Output,
    ack_timeout_fatal: bool = True,
    keep_event_names: bool = False,
) -> SocketIOLink:
    """Open the Engine.IO transport --transport asks for; with ``auto``, fall back to
    long-polling (and say so) when the server refuses the WebSocket upgrade (any refusal
    but a redirect, which -L follows or reports)."""
    transport: Transport | None = None
    first: str | None = None
    url = connect.url
    if options.transport in ("auto", "websocket"):
        try:
            transport, url = await open_following(
                connect, observer=output.frame, on_redirect=output.redirected
            )
        except HandshakeRejected as exc:
            redirect = exc.status is not None and 300 <= exc.status < 400
            if options.transport == "websocket" or redirect:
                raise
            why = exc.why or exc.what
            output.warning(f"WebSocket upgrade refused ({why}); falling back to HTTP long-polling")
    if transport is None:
        url = polling_url(connect.url)
        polling = PollingTransport(url, connect)
        try:
            first = await polling.open()
        except ProtocolViolation as exc:
            await polling.close()
            raise HandshakeRejected(
                "not a Socket.IO server", str(exc), hint="drop --socketio?"
            ) from None
        transport = polling
    return SocketIOLink(
        transport,
        url,
        options,
        max_size=connect.max_size,
        open_timeout=connect.open_timeout or 10.0,
        notice=output.warning,
        first_packet=first,
        ack_timeout_fatal=ack_timeout_fatal,
        keep_event_names=keep_event_names,
    )
