"""One Engine.IO v4 session on the server, sans I/O: packets in, packets out.

A session lives on one :class:`Transport` at a time — HTTP long-polling or a WebSocket —
and may move from polling to a WebSocket once (the upgrade):

1. the client opens a WebSocket with the session's ``sid`` (the *probe*) and sends
   ``2probe``; the session answers ``3probe`` on it and empties the pending long-poll
   (a ``6`` noop), so the client can pause polling;
2. the client sends ``5`` (upgrade) on the probe: the probe becomes the transport, what
   was queued for polling is sent on it, and the poll in flight is answered with a noop.

Heartbeats are the server's (protocol v4): a ``2`` ping every interval, a ``3`` pong
expected within the timeout (driven by :class:`~wscli.wire.keepalive.Keepalive`, which
calls :meth:`keepalive_ping` and :meth:`fail`). Socket.IO packets (``4...``) and
binary attachments go to the session's :class:`Upper` layer
(:class:`~wscli.serve.socketio.sockets.SocketIOClient`). Anything else — a packet that is
not Engine.IO, a ping from the client, a probe on the established transport — closes the
session with ``parse error`` or ``transport error``, logged once, never a traceback.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Protocol

from wscli.core.socketio import (
    ENGINE_CLOSE,
    ENGINE_MESSAGE,
    ENGINE_NOOP,
    ENGINE_PING,
    ENGINE_PONG,
    ENGINE_UPGRADE,
    PROBE,
    ProtocolViolation,
)

ENGINE_BINARY = "b"
"""``b<base64>`` is a binary packet in a text frame (what a client without binary support
sends; the Node server reads it over any transport)."""


class Transport(Protocol):
    """What carries one session's packets: long-polling or a WebSocket."""

    @property
    def name(self) -> str:
        """``polling`` or ``websocket`` (as in the Engine.IO URL's ``transport``)."""
        ...

    @property
    def shared_frames(self) -> bool:
        """True when it takes the hub's pre-encoded WebSocket frames (:meth:`send_frames`)."""
        ...

    def send_packets(self, packets: Sequence[str | bytes], limit: int) -> int:
        """Send Engine.IO packets in order, unless what waits unsent would pass ``limit``:
        0 when taken, else the bytes still unsent (nothing taken)."""
        ...

    def send_frames(self, data: bytes, limit: int) -> int:
        """Like :meth:`send_packets`, for pre-encoded WebSocket frames."""
        ...

    def take_queue(self) -> list[str | bytes]:
        """Take away what waits to be sent (long-polling's queue; a WebSocket holds none)."""
        ...

    def close(self, reason: str) -> None:
        """End after what was sent (long-polling: with a close packet); ``reason`` is the
        session's (empty: the client's own close, or a transport set aside)."""
        ...

    def abort(self) -> None:
        """End now, dropping what is unsent (a client that stopped reading)."""
        ...


class Upper(Protocol):
    """The Socket.IO layer above a session."""

    def receive_text(self, text: str) -> None:
        """A Socket.IO packet (what followed Engine.IO's ``4``); raises ProtocolViolation."""
        ...

    def receive_binary(self, data: bytes) -> None:
        """A binary attachment; raises ProtocolViolation."""
        ...

    def closed(self, reason: str) -> None:
        """The session ended (``reason``: Socket.IO's disconnect reason)."""
        ...


class Host(Protocol):
    """What a session reports to (the service)."""

    max_queue: int

    def pong(self, session: EngineSession) -> None: ...

    def upgraded(self, session: EngineSession) -> None:
        """The session moved to its probe WebSocket."""
        ...

    def session_closed(self, session: EngineSession, reason: str, detail: str) -> None:
        """The session ended (logged with ``detail`` when not empty)."""
        ...


class EngineSession:
    """One Engine.IO session (see the module docstring)."""

    __slots__ = ("closed", "host", "probe", "probed", "sid", "transport", "upgraded", "upper")

    def __init__(self, sid: str, transport: Transport, host: Host) -> None:
        self.sid = sid
        self.transport = transport
        self.host = host
        self.upper: Upper | None = None
        self.probe: Transport | None = None
        self.probed = False  # the probe answered 3probe: the upgrade is under way
        self.upgraded = False
        self.closed = False

    # Receiving

    def receive(self, packet: str | bytes, transport: Transport) -> None:
        """A packet that came in on ``transport``."""
        if self.closed:
            return
        if transport is self.probe:
            self._probe_packet(packet)
            return
        if transport is not self.transport:
            return  # a transport already replaced
        upper = self.upper
        assert upper is not None
        try:
            if isinstance(packet, bytes):
                upper.receive_binary(packet)
                return
            kind = packet[:1]
            if kind == ENGINE_BINARY:
                upper.receive_binary(_base64_packet(packet))
            elif kind == ENGINE_MESSAGE:
                upper.receive_text(packet[1:])
            elif kind == ENGINE_PONG and len(packet) == 1:
                self.host.pong(self)
            elif kind == ENGINE_CLOSE and len(packet) == 1:
                self.close("transport close", "", by_client=True)
            elif kind == ENGINE_NOOP and len(packet) == 1:
                pass
            elif kind == ENGINE_PING:
                self.close("transport error", "a ping from the client (the server pings in v4)")
            else:
                raise ProtocolViolation(f"not an Engine.IO packet: {packet[:16]!r}")
        except ProtocolViolation as exc:
            self.close("parse error", str(exc))

    def receive_packets(self, packets: Sequence[str | bytes], transport: Transport) -> None:
        """The packets of one long-polling body, in order."""
        for packet in packets:
            if self.closed:
                return
            self.receive(packet, transport)

    # Sending

    def send_packets(self, packets: Sequence[str | bytes]) -> int:
        """Send on the current transport; past ``--max-queue`` the session is dropped as too
        slow and the unsent bytes returned."""
        if self.closed:
            return 0
        over = self.transport.send_packets(packets, self.host.max_queue)
        if over:
            self.drop("too slow: outgoing queue full")
        return over

    def keepalive_ping(self) -> bool:
        """The heartbeat's ping (for :class:`~wscli.wire.keepalive.Keepalive`)."""
        if self.closed:
            return False
        self.send_packets([ENGINE_PING])
        return not self.closed

    def fail(self, code: int, reason: str) -> None:
        """No pong in time (for :class:`~wscli.wire.keepalive.Keepalive`)."""
        self.close("ping timeout", "")

    # The upgrade

    def attach_probe(self, probe: Transport) -> str | None:
        """A WebSocket that wants to take over; why not (None: it is the probe now)."""
        if self.closed:
            return "session closed"
        if self.upgraded or self.transport.name != "polling":
            return "already upgraded"
        if self.probe is not None:
            return "already upgrading"
        self.probe = probe
        return None

    def _probe_packet(self, packet: str | bytes) -> None:
        probe = self.probe
        assert probe is not None
        if packet == ENGINE_PING + PROBE and not self.probed:
            self.probed = True
            probe.send_packets([ENGINE_PONG + PROBE], self.host.max_queue)
            self.transport.send_packets([ENGINE_NOOP], self.host.max_queue)
        elif packet == ENGINE_UPGRADE and self.probed:
            old, self.transport, self.probe = self.transport, probe, None
            self.upgraded = True
            pending = old.take_queue()
            old.close("")  # the long-poll in flight gets its noop
            if pending:
                self.send_packets(pending)
            self.host.upgraded(self)
        else:
            self.drop_probe()

    def drop_probe(self) -> None:
        """The probe failed (a wrong packet, its timeout, it closed): polling goes on."""
        probe, self.probe = self.probe, None
        self.probed = False
        if probe is not None:
            probe.close("")

    def probe_lost(self, probe: Transport) -> None:
        """The probe's connection ended."""
        if probe is self.probe:
            self.probe = None
            self.probed = False

    # The end

    def transport_lost(self, transport: Transport, reason: str = "transport close") -> None:
        """``transport`` ended: the session ends with it if it is the current one."""
        if transport is self.probe:
            self.probe_lost(transport)
        elif transport is self.transport:
            self.close(reason, "")

    def close(self, reason: str, detail: str, by_client: bool = False) -> None:
        """End the session: its sockets leave their rooms, the transport is closed."""
        self._end(reason, detail, abort=False, by_client=by_client)

    def drop(self, reason: str) -> None:
        """End at once (a client that stopped reading): its buffers are freed."""
        self._end(reason, "", abort=True)

    def _end(self, reason: str, detail: str, abort: bool, by_client: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        if self.upper is not None:
            self.upper.closed(reason)
        self.drop_probe()
        if abort:
            self.transport.abort()
        else:
            self.transport.close("" if by_client else reason)
        self.host.session_closed(self, reason, detail)


def _base64_packet(packet: str) -> bytes:
    try:
        return base64.b64decode(packet[1:], validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolViolation("bad base64 in a binary packet") from None
