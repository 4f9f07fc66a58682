"""The WebSocket connection engine: an ``asyncio.Protocol`` over websockets' public sans-I/O
``ServerProtocol`` or ``ClientProtocol`` (bytes in, events and bytes out), the one every
command runs on.

It owns, once for everyone:

- **bytes in, protocol output out**: each read is fed to the protocol; its events go to the
  owner (:class:`~wscli.wire.owner.Owner`) as whole messages or, for the proxy, as frames;
  what the protocol then has to send (pongs, the close echo, the end of stream) goes out
  before the callback returns;
- **write coalescing**: messages sent during one event-loop iteration are written together
  by one ``transport.write`` when the loop is next free (:meth:`Engine.flush`, scheduled
  once); pre-encoded frames (the server's broadcast) are written as given;
- **the byte budget** (``Settings.limit``): everything queued for the peer — the
  transport's buffer and what a relay holds for it (:meth:`Engine.reserve`) — counts. A
  peer that passes it stops being read (its pings make pongs); still over it after
  ``Settings.stall_timeout`` it is dropped: aborted, which frees its buffer at once;
- **flow control both ways**: reading is paused while any *hold* is set (the budget, the
  other side of a relay, a consumer, the owner, the handshake: :meth:`Engine.hold`), and the
  transport's write watermarks are reported (:meth:`Owner.writable`);
- **keepalive** (with :class:`~wscli.wire.keepalive.Keepalive`) and round trips from its own
  record of the pings it sent;
- **closing**: the close handshake bounded by ``Settings.close_timeout``, abort, and one
  :meth:`Owner.closed` with who closed, code and reason (1006 without a close frame).

The phases: HANDSHAKE (bytes go to :meth:`Engine.handshake_received`: the generic server
handshake, the client's answer, or a subclass's own, as `serve`'s), OPEN (frames), DISCARD
(after a plain HTTP answer: input dropped, bounded) and DONE (closing or closed: nothing more
is delivered).

Memory: `serve` keeps tens of thousands of idle connections, so an engine is one object
with ``__slots__``, shares its settings and owner, and holds no timer, closure or task while
idle (timers exist only during a handshake, a close or a stall). A server that opens with
``open(None)`` has no protocol object until one is needed (:meth:`Engine.new_protocol`: the
first bytes from the client, a message to encode), and an idle client's protocol that only
read a ping or pong is let go again: about 1.4 KB of the 3.6 KB an idle client held.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Any, cast

from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.server import ServerProtocol

from wscli.wire.owner import Ending, Owner, Settings, parse_close

HANDSHAKE, OPEN, DISCARD, DONE = range(4)
"""Phases of a connection (see the module docstring)."""

# Reasons to pause reading (bits of Engine.flags): reading resumes when none is left.
HOLD_HANDSHAKE = 1
"""The server's decision on the upgrade is pending: no frame may be read before it."""
HOLD_BUDGET = 2
"""What is queued for this peer passed the byte budget."""
HOLD_PEER = 4
"""The other side of a relay cannot take more."""
HOLD_CONSUMER = 8
"""The consumer of the messages (a queue, stdout) is full."""
HOLD_OWNER = 16
"""The owner's own reason (a backplane behind, a shutdown)."""
HOLD_QUEUE = 32
"""A relay holds too much for the other side (frames it delays)."""
HOLDS = 63
"""Every reason to pause reading."""
# State bits of Engine.flags.
WRITE_PAUSED = 64
_EOF = 128
_STALLED = 256
_FLUSH_SCHEDULED = 512
_LOST = 1024
_OVER = 2048  # what is queued passed the budget: the owner was told
_DISCARD_ALL = 4096  # input dropped without limit (the proxy's --stall)

DISCARD_LIMIT = 1 << 20
"""Bytes read and dropped after a plain HTTP answer or a refusal before aborting."""
PINGS_KEPT = 64
"""Unanswered pings remembered for their round trip; the oldest is forgotten first."""

KEEPALIVE_PING = b"\x89\x05wscli"
"""The keepalive ping a server without a protocol object writes itself (unmasked, FIN)."""

_OPEN, _CLOSED = State.OPEN, State.CLOSED
_TEXT, _BINARY, _CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
_PING, _PONG, _CLOSE = Opcode.PING, Opcode.PONG, Opcode.CLOSE


class Engine(asyncio.Protocol):
    """One WebSocket connection (see the module docstring).

    ``protocol`` is the sans-I/O protocol object: a ``ClientProtocol`` that has sent its
    request (:mod:`wscli.wire.client`), a ``ServerProtocol`` for the generic server
    handshake, or None until a subclass's own handshake gives one to :meth:`open`.
    The counters (``bytes_in``, ``bytes_out``, ``messages_in``, ``messages_out``) are plain
    integers of WebSocket traffic after the handshake, for metrics to read cheaply.
    """

    __slots__ = (
        "_closing",
        "_fragments",
        "_pings",
        "_timer",
        "bytes_in",
        "bytes_out",
        "flags",
        "messages_in",
        "messages_out",
        "owner",
        "phase",
        "protocol",
        "reserved",
        "settings",
        "transport",
    )

    def __init__(
        self,
        owner: Owner[Any],
        settings: Settings,
        protocol: ServerProtocol | ClientProtocol | None = None,
    ) -> None:
        self.owner = owner
        self.settings = settings
        self.protocol = protocol
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.phase = HANDSHAKE
        self.flags = 0
        self.reserved = 0
        """Bytes a relay holds for this peer (delayed frames): part of the budget."""
        self.bytes_in = 0
        self.bytes_out = 0
        self.messages_in = 0
        self.messages_out = 0
        self._timer: asyncio.TimerHandle | None = None
        self._fragments: tuple[bytearray, bool] | None = None
        self._pings: dict[bytes, float] | None = None
        # (close received, close sent, the peer's came first, closed without a frame)
        self._closing: tuple[Close | None, Close | None, bool, Close | None] | None = None

    # What the owner reads

    @property
    def is_open(self) -> bool:
        """True while messages may be sent."""
        protocol = self.protocol
        return self.phase == OPEN and (protocol is None or protocol.state is _OPEN)

    @property
    def lost(self) -> bool:
        """True once the TCP connection is gone."""
        return bool(self.flags & _LOST)

    @property
    def stalled(self) -> bool:
        """True if dropped because the peer read nothing within the budget's deadline."""
        return bool(self.flags & _STALLED)

    def queued(self) -> int:
        """Bytes queued for the peer: the transport's buffer plus what a relay holds."""
        transport = self.transport
        buffered = transport.get_write_buffer_size() if transport is not None else 0
        return buffered + self.reserved

    def close_frames(self) -> tuple[Close | None, Close | None]:
        """The close frames received and sent so far (before the end: see :meth:`ending`)."""
        closing = self._closing
        return (closing[0], closing[1]) if closing is not None else (None, None)

    def ending(self) -> Ending:
        """How the connection ended, or is ending (close frames known so far)."""
        rcvd, sent, peer_first, dropped = self._closing or (None, None, False, None)
        protocol = self.protocol
        if protocol is not None and protocol.state is _CLOSED:
            # The protocol's own account, public once closed: it knows the close frames it
            # sent itself (1002, 1007, 1009 for a peer's bad bytes).
            closed = protocol.close_exc
            rcvd, sent = closed.rcvd, closed.sent
            peer_first = bool(closed.rcvd_then_sent) or (rcvd is not None and sent is None)
        return Ending(rcvd, sent, peer_first, dropped, self.stalled)

    # Sending

    def send_text(self, data: bytes | str) -> None:
        """Queue a text message; it goes out with the others of this loop iteration."""
        payload = data.encode() if isinstance(data, str) else data
        self.protocol_now().send_text(payload)
        self.messages_out += 1
        self._sent(len(payload))

    def send_binary(self, data: bytes) -> None:
        """Queue a binary message (see :meth:`send_text`)."""
        self.protocol_now().send_binary(data)
        self.messages_out += 1
        self._sent(len(data))

    def send_frame(self, opcode: Opcode, data: bytes, fin: bool = True) -> None:
        """Queue one frame as a relay received it: data, continuation, ping or pong (a
        close goes through :meth:`close`)."""
        protocol = self.protocol_now()
        if opcode is _TEXT:
            protocol.send_text(data, fin)
        elif opcode is _BINARY:
            protocol.send_binary(data, fin)
        elif opcode is _CONT:
            protocol.send_continuation(data, fin)
        elif opcode is _PING:
            protocol.send_ping(data)
        elif opcode is _PONG:
            protocol.send_pong(data)
        if fin and opcode in (_TEXT, _BINARY, _CONT):
            self.messages_out += 1
        self._sent(len(data))

    def write_frames(self, data: bytes, limit: int) -> int:
        """Write pre-encoded frames now, unless what is queued would pass ``limit``:
        returns 0 when written (or when not open: nothing to do), else the bytes queued
        (nothing written)."""
        if self.phase != OPEN:
            return 0
        transport = self.transport
        buffered = transport.get_write_buffer_size() + self.reserved
        if buffered and buffered + len(data) > limit:
            return buffered
        if self.flags & _FLUSH_SCHEDULED:
            self.flush()  # what the protocol holds goes first
        transport.write(data)
        self.bytes_out += len(data)
        return 0

    def ping(self, data: bytes | None = None) -> bytes:
        """Send a ping now (4 random bytes unless ``data``); its pong's round trip comes
        with :meth:`Owner.pong` when ``Settings.track_pings``. Returns the payload."""
        payload = os.urandom(4) if data is None else data
        self.protocol_now().send_ping(payload)
        if self.settings.track_pings:
            pings = self._pings
            if pings is None:
                pings = self._pings = {}
            elif len(pings) >= PINGS_KEPT:  # never answered: forget the oldest
                del pings[next(iter(pings))]
            pings[payload] = asyncio.get_running_loop().time()
        self.owner.ping(self, payload, True)
        self.flush()
        return payload

    def keepalive_ping(self) -> bool:
        """The keepalive's ping (see :mod:`wscli.wire.keepalive`); False when not open."""
        if not self.is_open:
            return False
        if self.protocol is None and not self.settings.track_pings:
            # Nothing to remember and no protocol yet: none is made for a ping.
            self._write([KEEPALIVE_PING])
            self.owner.ping(self, KEEPALIVE_PING[2:], True)
            return True
        self.ping(None if self.settings.track_pings else KEEPALIVE_PING[2:])
        return True

    def close(self, code: int | None = 1000, reason: str = "") -> None:
        """Start the closing handshake (``code`` None: a close frame without a code); the
        socket is aborted if it has not ended after ``Settings.close_timeout``."""
        protocol = self.protocol if self.phase != OPEN else self.protocol_now()
        if protocol is None or protocol.state is not _OPEN:
            return
        if code is None:
            protocol.send_close()
            close = Close(1005, "")
        else:
            protocol.send_close(code, reason)
            close = Close(code, reason)
        self._record(sent=close)
        self.phase = DONE
        self.flush()
        self._arm_close()

    def fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 §7.1.7): a close frame, then end without waiting
        for the peer's (e.g. invalid UTF-8, a keepalive timeout)."""
        protocol = self.protocol if self.phase != OPEN else self.protocol_now()
        if protocol is None or self.phase == DISCARD:
            return
        self.phase = DONE  # what follows in the same read is not delivered
        if protocol.state is _OPEN:
            self._record(sent=Close(code, reason))
            protocol.fail(code, reason)
            self.flush()
        self._arm_close()

    def drop(self, code: int, reason: str, timeout: float | None = None) -> None:
        """End now without waiting for the queued bytes to drain.

        ``timeout`` None: abort at once, which frees the buffer (``code`` and ``reason``
        are recorded as this side's, though no frame went out). Otherwise a close frame
        goes out behind what is queued and the socket is aborted after ``timeout``.
        """
        protocol = self.protocol if self.phase != OPEN else self.protocol_now()
        if self.phase != OPEN or protocol is None:
            if self.phase in (HANDSHAKE, DISCARD):
                self.abort()
            return
        self.phase = DONE
        if protocol.state is _OPEN:
            if timeout is None:
                self._record(dropped=Close(code, reason))
            else:
                protocol.send_close(code, reason)
                self._record(sent=Close(code, reason))
                self.flush()
        if timeout is None:
            self.abort()
        else:
            self.set_deadline(timeout, self.abort)

    def abort(self) -> None:
        """Drop the TCP connection now (the peer sees no close frame: 1006)."""
        self.clear_deadline()
        if self.phase == OPEN:
            self.phase = DONE
        if self.transport is not None and not self.flags & _LOST:
            self.transport.abort()

    def flush(self) -> None:
        """Write what the protocol has to send now, in one write; an end-of-stream marker
        half-closes the socket (or closes it, over TLS)."""
        self.flags &= ~_FLUSH_SCHEDULED
        protocol = self.protocol
        if protocol is not None:
            self._output(protocol.data_to_send())

    def _output(self, chunks: list[bytes]) -> None:
        if not chunks:
            return
        transport = self.transport
        if transport is None or self.flags & _LOST:
            return  # nowhere to go
        pending: list[bytes] = []
        for chunk in chunks:
            if chunk:
                pending.append(chunk)
                continue
            self._write(pending)
            pending = []
            self._end_of_stream()
        if pending:
            self._write(pending)

    # Flow control

    def hold(self, reason: int) -> None:
        """Stop reading for ``reason`` (a HOLD_* bit; other reasons may hold it too)."""
        flags = self.flags
        if not flags & HOLDS and not flags & _LOST and self.transport is not None:
            self.transport.pause_reading()
        self.flags = flags | reason

    def release(self, reason: int) -> None:
        """Drop ``reason``; reading resumes when no reason is left."""
        flags = self.flags
        if not flags & reason:
            return
        flags &= ~reason
        self.flags = flags
        transport = self.transport
        if not flags & (HOLDS | _LOST) and transport is not None and not transport.is_closing():
            transport.resume_reading()

    def reserve(self, size: int) -> None:
        """A relay holds ``size`` more bytes for this peer (they count in the budget)."""
        self.reserved += size
        self._check_budget()

    def unreserve(self, size: int) -> None:
        """A relay gave up (or sent) ``size`` bytes it held for this peer."""
        self.reserved -= size
        self._check_drained()

    def set_deadline(self, delay: float, callback: object) -> None:
        """Call ``callback`` after ``delay`` seconds (one deadline at a time: it replaces
        the previous one)."""
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(delay, callback)  # type: ignore[arg-type]

    def clear_deadline(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # The handshake

    def answer(self, response: Response) -> None:
        """Send ``response`` (not a 101) and close: the rest of the input is discarded."""
        if self.phase == DONE or self.flags & _LOST:
            return
        self.transport.write(response.serialize())
        self.end()

    def end(self) -> None:
        """Close after what was written; what the client still sends is discarded."""
        self.phase = DISCARD
        self.flags &= ~HOLDS
        transport = self.transport
        if transport.is_closing():
            return
        transport.resume_reading()
        if transport.can_write_eof():
            # Half-close: the peer reads the whole answer, then closes; bytes it still sends
            # are dropped. (Closing with unread input would reset the connection and could
            # destroy the answer in flight.)
            transport.write_eof()
            self.set_deadline(self.settings.close_timeout, self.abort)
        else:
            transport.close()

    def discard_input(self) -> None:
        """From now on read and drop whatever comes, answer and send nothing; the
        connection stays until the peer ends it (the proxy's --stall)."""
        self.phase = DISCARD
        self.flags |= _DISCARD_ALL
        self.release(HOLDS)

    def open(self, protocol: ServerProtocol | ClientProtocol | None, rest: bytes = b"") -> None:
        """The opening handshake is done: frames flow on ``protocol`` (the seam where a
        subclass's own handshake hands over), starting with ``rest``, the bytes that came
        after the request head. ``protocol`` None: made when needed (:meth:`new_protocol`)."""
        self.protocol = protocol
        self.phase = OPEN
        self.clear_deadline()
        self.owner.opened(self)
        self.release(HOLD_HANDSHAKE)
        if rest and self.phase == OPEN:
            self._frames_received(rest)

    def new_protocol(self) -> ServerProtocol | ClientProtocol:
        """The protocol of a connection opened without one (``open(None)``): a subclass
        that does so makes it here (a fresh ``ServerProtocol(state=OPEN)``)."""
        raise NotImplementedError("opened without a protocol, and cannot make one")

    def protocol_now(self) -> ServerProtocol | ClientProtocol:
        """The protocol, made now if the connection opened without one."""
        protocol = self.protocol
        if protocol is None:
            protocol = self.protocol = self.new_protocol()
        return protocol

    def handshake_received(self, data: bytes) -> None:
        """Bytes before the connection is open: each side's handshake (wscli.wire.server,
        wscli.wire.client, `serve`'s own) replaces this; by default they are dropped."""

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        high = self.settings.high_water
        if high is None and self.settings.limit < 65536:
            high = self.settings.limit  # so that a backlog past the limit is reported
        if high is not None:
            self.transport.set_write_buffer_limits(high=high)
        if self.flags & HOLDS:
            self.transport.pause_reading()

    def data_received(self, data: bytes) -> None:
        phase = self.phase
        if phase == OPEN:
            self._frames_received(data)
        elif phase == HANDSHAKE:
            self.handshake_received(data)
        elif phase == DISCARD:
            self.bytes_in += len(data)
            if self.bytes_in > DISCARD_LIMIT and not self.flags & _DISCARD_ALL:
                self.abort()
        # DONE after a local close or failure: the protocol still reads the close answer
        elif self.protocol is not None and self.protocol.state is not _CLOSED:
            self._frames_received(data)

    def eof_received(self) -> bool | None:
        self.flags |= _EOF
        protocol = self.protocol if self.phase != OPEN else self.protocol_now()
        if protocol is not None and self.phase in (OPEN, DONE):
            protocol.receive_eof()
            if self.phase == OPEN:
                self._deliver(protocol.events_received())
                self.phase = DONE
                self.owner.closing(self)
            self.flush()
        return None  # the transport closes itself

    def pause_writing(self) -> None:
        self.flags |= WRITE_PAUSED
        self.owner.writable(self, False)

    def resume_writing(self) -> None:
        self.flags &= ~WRITE_PAUSED
        self._check_drained()
        self.owner.writable(self, True)

    def connection_lost(self, exc: Exception | None) -> None:
        self.flags |= _LOST
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        protocol = self.protocol
        if protocol is not None and not self.flags & _EOF and self.phase != HANDSHAKE:
            self.flags |= _EOF
            protocol.receive_eof()
            protocol.data_to_send()  # nowhere to send it now
        keepalive = self.settings.keepalive
        if keepalive is not None:
            keepalive.forget(self)
        ending = self.ending()
        if exc is not None:
            ending = Ending(
                ending.rcvd, ending.sent, ending.peer_first, ending.dropped, ending.stalled, exc
            )
        self.owner.closed(self, ending)  # still in the phase it ended in
        self.phase = DONE

    # Frames

    def _frames_received(self, data: bytes) -> None:
        protocol = self.protocol
        fresh = protocol is None
        if protocol is None:
            protocol = self.protocol = self.new_protocol()
        self.bytes_in += len(data)
        protocol.receive_data(data)
        events = protocol.events_received()
        if events and self.phase == OPEN:
            self._deliver(events)
            if fresh and _only_control(events, len(data)) and protocol.state is _OPEN:
                # A protocol made for this read, which held nothing but pings and pongs
                # (the client's answer to the keepalive), holds no state once they are
                # answered: let it go, an idle client stays small.
                self.flush()
                self.protocol = None
                return
        if self.phase == OPEN and protocol.state is not _OPEN:
            answer = protocol.data_to_send()
            if self._closing is None or self._closing[1] is None:
                # The protocol failed the connection itself (1002, 1007, 1009): the code
                # it sent is public only once closed, but its close frame is right here.
                self._record(sent=_close_in(answer))
            # Still OPEN while the owner hears it: what it writes now (`serve` relays the
            # messages that came with the close frame, to this client too) goes out
            # before the answer.
            self.owner.closing(self)
            self.phase = DONE
            self._output(answer)
        self.flush()
        self._arm_close()

    def _deliver(self, events: Sequence[object]) -> None:
        owner = self.owner
        if self.settings.frames:
            for event in events:
                if self.phase != OPEN:
                    return
                frame = cast(Frame, event)
                if frame.opcode is _CLOSE:
                    self._record(rcvd=parse_close(bytes(frame.data)))
                elif frame.opcode is _PONG:
                    self._pong_seen(bytes(frame.data))
                elif frame.fin and frame.opcode in (_TEXT, _BINARY, _CONT):
                    self.messages_in += 1
                owner.frame(self, frame)
            return
        for event in events:
            if self.phase != OPEN:
                return
            frame = cast(Frame, event)
            opcode = frame.opcode
            if opcode is _TEXT or opcode is _BINARY:
                if frame.fin:
                    self._message(bytes(frame.data), opcode is _TEXT)
                else:
                    self._fragments = (bytearray(frame.data), opcode is _TEXT)
            elif opcode is _CONT:
                # The protocol has checked the sequence: a CONT always follows a start frame.
                assert self._fragments is not None
                fragments, text = self._fragments
                fragments += frame.data
                if frame.fin:
                    self._fragments = None
                    self._message(bytes(fragments), text)
            elif opcode is _PING:
                owner.ping(self, bytes(frame.data), False)
            elif opcode is _PONG:
                owner.pong(self, bytes(frame.data), self._pong_seen(bytes(frame.data)))
            elif opcode is _CLOSE:
                self._record(rcvd=parse_close(bytes(frame.data)))

    def _message(self, data: bytes, text: bool) -> None:
        if text:
            try:
                data.decode()
            except UnicodeDecodeError as exc:
                self.fail(1007, f"invalid UTF-8: {exc.reason} at position {exc.start}")
                return
        self.messages_in += 1
        self.owner.message(self, data, text)

    def _pong_seen(self, data: bytes) -> float | None:
        """The round trip of the ping ``data`` answers, if ours (earlier unanswered ones
        are forgotten: a pong answers them all, RFC 6455 §5.5.3)."""
        keepalive = self.settings.keepalive
        if keepalive is not None:
            keepalive.pong(self)
        pings = self._pings
        if not pings or data not in pings:
            return None
        now = asyncio.get_running_loop().time()
        sent = pings[data]
        for payload in list(pings):
            del pings[payload]
            if payload == data:
                break
        return now - sent

    def _record(
        self, *, rcvd: Close | None = None, sent: Close | None = None, dropped: Close | None = None
    ) -> None:
        old_rcvd, old_sent, peer_first, old_dropped = self._closing or (None, None, False, None)
        if rcvd is not None and old_rcvd is None:
            old_rcvd = rcvd
            if old_sent is None:
                peer_first = True
                old_sent = rcvd  # the protocol echoes it
        if sent is not None and old_sent is None:
            old_sent = sent
        self._closing = (old_rcvd, old_sent, peer_first, dropped or old_dropped)

    # Output

    def _sent(self, size: int) -> None:
        self.bytes_out += size
        if not self.flags & _FLUSH_SCHEDULED:
            self.flags |= _FLUSH_SCHEDULED
            asyncio.get_running_loop().call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        if self.flags & _FLUSH_SCHEDULED:
            self.flush()

    def _write(self, chunks: list[bytes]) -> None:
        """Write ``chunks`` (whole frames) in one write, or two when the frame that would
        pass the budget comes between them: the owner hears of it then, with what was
        queued before it (at most the limit), and may drop the connection before the rest
        (`serve` does). Then the budget is checked on what is really queued."""
        transport = self.transport
        if not chunks or transport.is_closing():
            return
        total = transport.get_write_buffer_size() + self.reserved
        limit = self.settings.limit
        cut = len(chunks)
        for index, chunk in enumerate(chunks):
            if total and total + len(chunk) > limit:
                cut = index
                break
            total += len(chunk)
        if cut:
            transport.write(chunks[0] if cut == 1 else b"".join(chunks[:cut]))
        told = cut < len(chunks)
        if told:
            self.flags |= _OVER
            self.owner.over_budget(self, total)
            if transport.is_closing():
                return
            transport.write(b"".join(chunks[cut:]))
        self._check_budget(told)

    def _end_of_stream(self) -> None:
        # The end of the closing handshake (or a failure): half-close when possible and drop
        # what the peer still sends until it closes too (bounded by close_timeout): closing
        # with unread input would reset the connection and could destroy the close frame.
        transport = self.transport
        if transport.is_closing():
            return
        if transport.can_write_eof():
            transport.write_eof()
            if self._timer is None:
                self.set_deadline(self.settings.close_timeout, self.abort)
        else:
            transport.close()

    def _arm_close(self) -> None:
        protocol = self.protocol
        if protocol is None or self._timer is not None or self.flags & _LOST:
            return
        if protocol.close_expected():
            self.set_deadline(self.settings.close_timeout, self.abort)

    # The budget

    def _check_budget(self, told: bool = False) -> None:
        """Past the limit, the owner hears it once (unless ``told``); a peer that reads
        none of its backlog (the transport's buffer alone over the limit) stops being
        read, and is dropped if it stays so past the deadline."""
        flags = self.flags
        transport = self.transport
        if flags & _LOST or transport.is_closing():
            return
        buffered = transport.get_write_buffer_size()
        queued = buffered + self.reserved
        limit = self.settings.limit
        if queued <= limit:
            if flags & _OVER and queued <= limit // 2:
                self.flags = flags & ~_OVER
            return
        if not flags & _OVER:
            self.flags = flags | _OVER
            if not told:
                self.owner.over_budget(self, queued)  # `serve` drops the client here
        if buffered > limit and not self.flags & (HOLD_BUDGET | _LOST):
            self.hold(HOLD_BUDGET)
            stall = self.settings.stall_timeout
            if stall is not None and self._timer is None:
                self.set_deadline(stall, self._stall_expired)

    def _check_drained(self) -> None:
        """After the peer read (resume_writing) or a relay sent what it held."""
        flags = self.flags
        limit = self.settings.limit
        buffered = self.transport.get_write_buffer_size()
        if flags & HOLD_BUDGET and buffered <= limit // 2:
            if self._timer is not None and not self.protocol_closing():
                self.clear_deadline()  # the stall deadline (a close keeps its own)
            self.release(HOLD_BUDGET)
        if flags & _OVER and buffered + self.reserved <= limit // 2:
            self.flags &= ~_OVER

    def protocol_closing(self) -> bool:
        """True once a close is under way (its deadline must stay)."""
        protocol = self.protocol
        return protocol is not None and protocol.state is not _OPEN

    def _stall_expired(self) -> None:
        self._timer = None
        if self.flags & HOLD_BUDGET and not self.flags & _LOST:
            self.flags |= _STALLED
            self.abort()  # a close frame would only queue behind the backlog


def _only_control(events: Sequence[object], size: int) -> bool:
    """True when ``events`` are pings and pongs whose masked frames (client to server, the
    shortest length encoding) add up to ``size`` bytes: the read held nothing else, not
    even the start of another frame."""
    total = 0
    for event in events:
        frame = cast(Frame, event)
        if frame.opcode is not _PING and frame.opcode is not _PONG:
            return False
        total += 6 + len(frame.data)  # control payloads are at most 125 bytes
    return total == size


def _close_in(chunks: list[bytes]) -> Close | None:
    """The close frame among frames this side just wrote (masked on the client side)."""
    for chunk in chunks:
        if len(chunk) >= 2 and chunk[0] == 0x88:
            length = chunk[1] & 0x7F  # a control frame: at most 125 bytes
            if chunk[1] & 0x80:
                mask, payload = chunk[2:6], chunk[6 : 6 + length]
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            else:
                payload = chunk[2 : 2 + length]
            return parse_close(payload)
    return None
