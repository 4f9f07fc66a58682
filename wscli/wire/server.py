"""The server side of the engine with websockets' own opening handshake: the proxy's
client-facing connections.

Only the request head is given to the ``ServerProtocol`` (it parses line by line, so
garbage fails at once: it is answered 400 and the owner told, :meth:`Owner.invalid_request`,
then the connection ends); bytes after the head are frames and wait,
unparsed, until the owner has answered (:meth:`ServerEngine.accept`): a client that talks
before the 101 (RFC 6455 §4.1 forbids it) loses nothing, and nothing is parsed with
extensions not yet negotiated. `serve` has its own head phase (see wscli.serve.connection).
"""

from __future__ import annotations

from typing import Any

from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from wscli.wire.engine import DISCARD, Engine
from wscli.wire.owner import Owner, Settings
from wscli.wire.stream import HOLD_HANDSHAKE, HOLDS


class ServerEngine(Engine):
    """A server connection whose upgrade the owner decides (:meth:`Owner.upgrade_requested`)."""

    __slots__ = ()

    def __init__(self, owner: Owner[Any], settings: Settings, protocol: ServerProtocol) -> None:
        super().__init__(owner, settings, protocol)

    def handshake_received(self, data: bytes) -> None:
        protocol = self.protocol
        assert isinstance(protocol, ServerProtocol)
        early = self._fragments
        if self.flags & HOLD_HANDSHAKE:
            # The request is with the owner: bytes after it wait in `_fragments` (reading
            # is paused: at most one read more).
            assert early is not None
            early[0].extend(data)
            return
        # Until the head ends, `_fragments` keeps the last 3 bytes given to the protocol,
        # for an end of head split between reads.
        tail = bytes(early[0]) if early is not None else b""
        end = (tail + data).find(b"\r\n\r\n")
        cut = len(data) if end < 0 else end + 4 - len(tail)
        protocol.receive_data(data[:cut])
        request = next((e for e in protocol.events_received() if isinstance(e, Request)), None)
        if request is None:
            exc = protocol.handshake_exc
            if exc is not None:  # not an HTTP request: 400, then the end of the stream
                self._fragments = None
                answer = protocol.reject(400, "Bad Request: not a valid HTTP request\n")
                if not self.transport.is_closing():
                    self.transport.write(answer.serialize())
                self.owner.invalid_request(self, exc)
                self.flush()
                self.end()
            else:
                self._fragments = (bytearray((tail + data)[-3:]), False)
            return
        self._fragments = (bytearray(data[cut:]), False)
        self.hold(HOLD_HANDSHAKE)
        self.owner.upgrade_requested(self, request)

    def accept(self, response: Response) -> None:
        """Send ``response`` to the request: a 101 opens the connection (then the bytes
        that followed the request are read as frames), anything else ends it."""
        protocol = self.protocol
        assert isinstance(protocol, ServerProtocol)
        protocol.send_response(response)
        early = self._fragments
        self._fragments = None
        if response.status_code == 101:
            self.flush()
            self.open(protocol, bytes(early[0]) if early is not None else b"")
            return
        # The protocol ends the stream after a refusal: what the client still sends is
        # read and dropped (bounded), as after any plain answer.
        self.phase = DISCARD
        self.release(HOLDS)
        self.flush()
