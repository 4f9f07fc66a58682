"""The client side of the engine: a ``ClientProtocol`` that has sent its upgrade request,
waiting for the answer.

A 101 that websockets accepts opens the connection (frames that came in the same read are
delivered right after :meth:`Owner.opened`); any other answer, or none, is reported by
:meth:`Owner.rejected` with the response (a redirect's Location, a refusal's body for the
proxy to pass back), and the connection closes: nothing follows a refused upgrade.
"""

from __future__ import annotations

from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Frame
from websockets.http11 import Request, Response

from wscli.wire.engine import DONE, OPEN, Engine
from wscli.wire.owner import Owner, Settings


class ClientEngine(Engine):
    """A client connection; :meth:`send_request` starts its handshake."""

    __slots__ = ("response",)

    def __init__(self, owner: Owner[Any], settings: Settings, protocol: ClientProtocol) -> None:
        super().__init__(owner, settings, protocol)
        self.response: Response | None = None
        """The server's answer to the upgrade, once it came."""

    def send_request(self, request: Request) -> None:
        """Send the upgrade request (``protocol.connect()``, perhaps with more headers)."""
        protocol = self.protocol
        assert isinstance(protocol, ClientProtocol)
        protocol.send_request(request)
        self.flush()

    def handshake_received(self, data: bytes) -> None:
        self._answer(data)

    def eof_received(self) -> bool | None:
        if self.phase == OPEN or self.phase == DONE:
            return super().eof_received()
        self._answer(None)
        return None

    def _answer(self, data: bytes | None) -> None:
        """The server's answer so far (``data`` None: the end of the stream)."""
        protocol = self.protocol
        assert isinstance(protocol, ClientProtocol)
        if data is None:
            protocol.receive_eof()
        else:
            protocol.receive_data(data)
        events = protocol.events_received()
        response = next((e for e in events if isinstance(e, Response)), None)
        if response is None and protocol.handshake_exc is None:
            return  # more of the answer to come
        self.response = response
        if response is not None and protocol.handshake_exc is None:
            # Accepted (the protocol may be closing already: a close frame can come in the
            # same read as the 101, and is handled as any other).
            self.open(protocol)
            self._process([e for e in events if isinstance(e, Frame)])
            return
        self.phase = DONE
        self.owner.rejected(self, response)
        self.flush()
        if not self.lost:
            self.transport.close()  # the answer is all there is: no frames follow
