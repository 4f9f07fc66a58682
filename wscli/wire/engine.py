"""The WebSocket connection engine: an ``asyncio.Protocol`` over websockets' public sans-I/O
``ServerProtocol`` or ``ClientProtocol`` (bytes in, events and bytes out), the one every
command runs on. It stands on :class:`~wscli.wire.stream.Stream` (the transport, the byte
budget, flow control, deadlines) and owns, once for everyone:

- **bytes in, protocol output out**: each read is fed to the protocol; its events go to the
  owner (:class:`~wscli.wire.owner.Owner`) as whole messages or, for the proxy, as the
  frames of the read; the protocol's answer (pongs, the close echo) goes out before the
  callback returns;
- **write coalescing**: messages sent during one event-loop iteration go out in one
  ``transport.write`` when the loop is next free (:meth:`Engine.flush`, scheduled once);
  `serve` writes its pre-encoded broadcast frames itself, once per client per tick;
- **keepalive** (with :class:`~wscli.wire.keepalive.Keepalive`) and round trips from its
  own record of the pings it sent;
- **closing**: the close handshake bounded by ``Settings.close_timeout``, abort, and one
  :meth:`Owner.closed` with who closed, code and reason (1006 without a close frame).

The phases: HANDSHAKE (bytes go to :meth:`Engine.handshake_received`: each side's handshake,
:mod:`wscli.wire.server`, :mod:`wscli.wire.client` or `serve`'s own), OPEN (frames),
DISCARD (after a plain HTTP answer: input dropped, bounded) and DONE (closing or closed:
nothing more is delivered).

Memory: `serve` keeps tens of thousands of idle connections, so an engine is one object
with ``__slots__``, shares its settings and owner, and holds no timer, closure or task while
idle. A server that opens with ``open(None)`` has no protocol object until one is needed
(:meth:`Engine.new_protocol`: the first bytes from the client, a message to encode), and an
idle client's protocol that only read pings and pongs is let go again: about 1.4 KB of the
3.6 KB an idle client held.
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
from wscli.wire.stream import HOLD_HANDSHAKE, HOLDS, LOST, Stream

HANDSHAKE, OPEN, DISCARD, DONE = range(4)
"""Phases of a connection (see the module docstring)."""

# State bits of Engine.flags, above the stream's.
_EOF = 2048
_FLUSH_SCHEDULED = 4096
_DISCARD_ALL = 8192  # input dropped without limit (the proxy's --stall)

DISCARD_LIMIT = 1 << 20
"""Bytes read and dropped after a plain HTTP answer or a refusal before aborting."""
PINGS_KEPT = 64
"""Unanswered pings remembered for their round trip; the oldest is forgotten first."""

KEEPALIVE_PING = b"\x89\x05wscli"
"""The keepalive ping a server without a protocol object writes itself (unmasked, FIN)."""

_OPEN, _CLOSED = State.OPEN, State.CLOSED
_TEXT, _BINARY, _CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
_PING, _PONG, _CLOSE = Opcode.PING, Opcode.PONG, Opcode.CLOSE


class Engine(Stream):
    """One WebSocket connection (see the module docstring).

    ``protocol`` is the sans-I/O protocol object: a ``ClientProtocol`` that has sent its
    request (:mod:`wscli.wire.client`), a ``ServerProtocol`` for the generic server
    handshake, or None until a subclass's own handshake gives one to :meth:`open`.
    The counters (``bytes_in``, ``bytes_out``, ``messages_in``, ``messages_out``) are plain
    integers of WebSocket traffic after the handshake, for metrics to read cheaply.
    """

    __slots__ = (
        "_fragments",
        "_notes",
        "messages_in",
        "messages_out",
        "phase",
        "protocol",
    )

    def __init__(
        self,
        owner: Owner[Any],
        settings: Settings,
        protocol: ServerProtocol | ClientProtocol | None = None,
    ) -> None:
        super().__init__(owner, settings)
        self.protocol = protocol
        self.phase = HANDSHAKE
        self.messages_in = 0
        self.messages_out = 0
        self._fragments: tuple[bytearray, bool] | None = None
        self._notes: _Notes | None = None

    # What the owner reads

    @property
    def is_open(self) -> bool:
        """True while messages may be sent."""
        protocol = self.protocol
        return self.phase == OPEN and (protocol is None or protocol.state is _OPEN)

    def close_frames(self) -> tuple[Close | None, Close | None]:
        """The close frames received and sent so far (before the end: see :meth:`ending`)."""
        closing = self._notes.closing if self._notes is not None else None
        return (closing[0], closing[1]) if closing is not None else (None, None)

    def ending(self) -> Ending:
        """How the connection ended, or is ending (close frames known so far)."""
        notes = self._notes
        closing = notes.closing if notes is not None else None
        rcvd, sent, peer_first, dropped = closing or (None, None, False, None)
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

    def ping(self, data: bytes | None = None) -> bytes:
        """Send a ping now (4 random bytes unless ``data``); its pong's round trip comes
        with :meth:`Owner.pong_observed` when ``Settings.track_pings``. Returns the payload."""
        payload = os.urandom(4) if data is None else data
        self.protocol_now().send_ping(payload)
        if self.settings.track_pings:
            notes = self._notes or self._take_notes()
            pings = notes.pings
            if len(pings) >= PINGS_KEPT:  # never answered: forget the oldest
                del pings[next(iter(pings))]
            pings[payload] = asyncio.get_running_loop().time()
        self.owner.ping_observed(self, payload, True)
        self.flush()
        return payload

    def keepalive_ping(self) -> bool:
        """The keepalive's ping (see :mod:`wscli.wire.keepalive`); False when not open."""
        if not self.is_open:
            return False
        if self.protocol is None and not self.settings.track_pings:
            # Nothing to remember and no protocol yet: none is made for a ping.
            self.write_chunks([KEEPALIVE_PING])
            self.owner.ping_observed(self, KEEPALIVE_PING[2:], True)
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
        if self.phase == OPEN:
            self.phase = DONE
        super().abort()

    def flush(self) -> None:
        """Write what the protocol has to send now, in one write; an end-of-stream marker
        half-closes the socket (or closes it, over TLS)."""
        self.flags &= ~_FLUSH_SCHEDULED
        protocol = self.protocol
        if protocol is not None:
            self.write_chunks(protocol.data_to_send())

    # The handshake

    def answer(self, response: Response) -> None:
        """Send ``response`` (not a 101) and close: the rest of the input is discarded."""
        if self.phase == DONE or self.flags & LOST:
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
            self.receive_frames(rest)

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

    def data_received(self, data: bytes) -> None:
        phase = self.phase
        if phase == OPEN:
            self.receive_frames(data)
        elif phase == HANDSHAKE:
            self.handshake_received(data)
        elif phase == DISCARD:
            self.bytes_in += len(data)
            if self.bytes_in > DISCARD_LIMIT and not self.flags & _DISCARD_ALL:
                self.abort()
        # DONE after a local close or failure: the protocol still reads the close answer
        elif self.protocol is not None and self.protocol.state is not _CLOSED:
            self.receive_frames(data)

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

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
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

    def receive_frames(self, data: bytes) -> None:
        """Bytes of the open (or closing) connection: frames for the protocol to parse."""
        protocol = self.protocol
        fresh = protocol is None
        if protocol is None:
            protocol = self.protocol = self.new_protocol()
        self.bytes_in += len(data)
        protocol.receive_data(data)
        events = protocol.events_received()
        self._process(events)
        if (
            fresh
            and self.phase == OPEN
            and protocol.state is _OPEN
            and _only_control(events, len(data))
        ):
            # A protocol made for this read, which held nothing but pings and pongs (the
            # client's answer to the keepalive), holds no state once they are answered:
            # let it go, an idle client stays small.
            self.protocol = None

    def _process(self, events: Sequence[object]) -> None:
        """Deliver what the protocol parsed, then send its answer (pongs, the close)."""
        protocol = self.protocol
        assert protocol is not None
        if events and self.phase == OPEN:
            self._deliver(events)
        if self.phase == OPEN and protocol.state is not _OPEN:
            answer = protocol.data_to_send()
            if self.close_frames()[1] is None:
                # The protocol failed the connection itself (1002, 1007, 1009): the code
                # it sent is public only once closed, but its close frame is right here.
                self._record(sent=close_written(answer))
            # Still OPEN while the owner hears it: what it writes now (`serve` relays the
            # messages that came with the close frame, to this client too) goes out
            # before the answer.
            self.owner.closing(self)
            self.phase = DONE
            self.write_chunks(answer)
        self.flush()
        self._arm_close()

    def _deliver(self, events: Sequence[object]) -> None:
        owner = self.owner
        if self.settings.frames:
            frames: list[Frame] = []
            for event in events:
                frame = cast(Frame, event)
                opcode = frame.opcode
                if opcode is _CLOSE:
                    self._record(rcvd=parse_close(bytes(frame.data)))
                elif opcode is _PONG:
                    rtt = self._pong_seen(bytes(frame.data))
                    if rtt is not None:  # the answer to our own ping: not the peer's frame
                        owner.pong_observed(self, bytes(frame.data), rtt)
                        continue
                elif frame.fin and opcode is not _PING:
                    self.messages_in += 1
                frames.append(frame)
            if frames:
                owner.frames_received(self, frames)
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
                owner.ping_observed(self, bytes(frame.data), False)
            elif opcode is _PONG:
                owner.pong_observed(self, bytes(frame.data), self._pong_seen(bytes(frame.data)))
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
        self.owner.message_received(self, data, text)

    def _pong_seen(self, data: bytes) -> float | None:
        """The round trip of the ping ``data`` answers, if ours (earlier unanswered ones
        are forgotten: a pong answers them all, RFC 6455 §5.5.3)."""
        keepalive = self.settings.keepalive
        if keepalive is not None:
            keepalive.pong(self)
        pings = self._notes.pings if self._notes is not None else None
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
        notes = self._notes or self._take_notes()
        old_rcvd, old_sent, peer_first, old_dropped = notes.closing or (None, None, False, None)
        if rcvd is not None and old_rcvd is None:
            old_rcvd = rcvd
            if old_sent is None:
                peer_first = True
                old_sent = rcvd  # the protocol echoes it
        if sent is not None and old_sent is None:
            old_sent = sent
        notes.closing = (old_rcvd, old_sent, peer_first, dropped or old_dropped)

    def _take_notes(self) -> _Notes:
        notes = self._notes = _Notes()
        return notes

    # Output

    def _sent(self, size: int) -> None:
        self.bytes_out += size
        if not self.flags & _FLUSH_SCHEDULED:
            self.flags |= _FLUSH_SCHEDULED
            asyncio.get_running_loop().call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        if self.flags & _FLUSH_SCHEDULED:
            self.flush()

    def _arm_close(self) -> None:
        protocol = self.protocol
        if protocol is None or self._timer is not None or self.flags & LOST:
            return
        if protocol.close_expected():
            self.set_deadline(self.settings.close_timeout, self.abort)


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
    return bool(events) and total == size


class _Notes:
    """What only some connections need, kept apart so that an idle one holds none of it
    (one slot): the pings in flight (payload → when sent) and the close frames seen
    (received, sent, the peer's came first, closed without a frame)."""

    __slots__ = ("closing", "pings")

    def __init__(self) -> None:
        self.pings: dict[bytes, float] = {}
        self.closing: tuple[Close | None, Close | None, bool, Close | None] | None = None


def close_written(chunks: list[bytes]) -> Close | None:
    """The close frame among the frames a protocol just gave to send (masked on the client
    side): how it failed a connection itself (1002, 1007, 1009), before the close code is
    public (``close_exc``, once closed)."""
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
