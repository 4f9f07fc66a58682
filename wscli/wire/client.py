"""The client side of the engine: a ``ClientProtocol`` that has sent its upgrade request,
waiting for the answer.

A 101 that websockets accepts opens the connection (frames that came in the same read are
delivered right after :meth:`Owner.opened`); any other answer, or none, is reported by
:meth:`Owner.rejected` with the response (a redirect's Location, a refusal's body for the
proxy to pass back), and the connection closes: nothing follows a refused upgrade.

With ``direct`` (`wscli connect`), complete data frames are encoded and cut by the engine
itself while no extension is negotiated (:mod:`wscli.wire.frames`): the protocol object
gets every other frame, whole, and its state stays exact. A pipe of 100,000 short lines
each way spent most of its CPU in the protocol's per-frame work.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State

from wscli.wire.engine import DONE, OPEN, Engine
from wscli.wire.frames import BINARY, DIRECT_MAX, FORWARD, FrameCutter, masked_frames
from wscli.wire.owner import Owner, Settings

# State bits of Engine.flags, above the engine's.
_FRAGMENTING = 16384  # a fragmented message is being sent (send_frame)
_ANSWER_SPLIT = 32768  # the server's answer came in more than one read
_DATA = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)


class ClientEngine(Engine):
    """A client connection; :meth:`send_request` starts its handshake.

    ``direct``: frames are handled by the engine where the protocol's state allows (see
    the module docstring); ``max_size`` must then be the limit the protocol was given.
    """

    __slots__ = ("_cutter", "direct", "max_size", "response")

    def __init__(
        self,
        owner: Owner[Any],
        settings: Settings,
        protocol: ClientProtocol,
        *,
        direct: bool = False,
        max_size: int | None = None,
    ) -> None:
        super().__init__(owner, settings, protocol)
        self.response: Response | None = None
        """The server's answer to the upgrade, once it came."""
        self.direct = direct and not settings.frames
        self.max_size = max_size
        self._cutter: FrameCutter | None = None

    def send_request(self, request: Request) -> None:
        """Send the upgrade request (``protocol.connect()``, perhaps with more headers)."""
        protocol = self.protocol
        assert isinstance(protocol, ClientProtocol)
        protocol.send_request(request)
        self.flush()

    def send_messages(self, payloads: Sequence[bytes], text: bool) -> None:
        """Send complete messages (text: UTF-8 already) and write them at once, with what the
        protocol had queued before them."""
        protocol = self.protocol_now()
        direct = self._cutter is not None and not self.flags & _FRAGMENTING
        if not (direct and protocol.state is State.OPEN):
            send = protocol.send_text if text else protocol.send_binary
            for payload in payloads:
                send(payload)
                self.messages_out += 1
                self.bytes_out += len(payload)
            self.flush()
            return
        # Complete frames made here go out after whatever the protocol queued: a pong,
        # or the fragments of a message (then nothing is made here, see send_frame).
        chunks = protocol.data_to_send()
        small: list[bytes] = []
        for payload in payloads:
            if len(payload) <= DIRECT_MAX:
                small.append(payload)
                continue
            if small:  # large ones cost the protocol little per byte
                chunks.append(masked_frames(small, text, os.urandom(4 * len(small))))
                small = []
            (protocol.send_text if text else protocol.send_binary)(payload)
            chunks += protocol.data_to_send()
        if small:
            chunks.append(masked_frames(small, text, os.urandom(4 * len(small))))
        self.messages_out += len(payloads)
        self.bytes_out += sum(map(len, payloads))
        self.write_chunks(chunks)

    def send_frame(self, opcode: Opcode, data: bytes, fin: bool = True) -> None:
        if opcode in _DATA:
            # A fragmented message in flight: frames made here would land inside it.
            if fin:
                self.flags &= ~_FRAGMENTING
            else:
                self.flags |= _FRAGMENTING
        super().send_frame(opcode, data, fin)

    def handshake_received(self, data: bytes) -> None:
        self._answer(data)

    def eof_received(self) -> bool | None:
        if self.phase == OPEN or self.phase == DONE:
            self._give_up_cutting()
            return super().eof_received()
        self._answer(None)
        return None

    def receive_frames(self, data: bytes) -> None:
        cutter = self._cutter
        if cutter is None:
            super().receive_frames(data)
            return
        protocol = self.protocol
        assert protocol is not None
        if self.phase != OPEN or protocol.state is not State.OPEN:
            self._give_up_cutting()
            super().receive_frames(data)
            return
        self.bytes_in += len(data)
        batch: list[str | bytes] = []
        for opcode, payload in cutter.cut(data):
            if opcode == FORWARD:
                if batch:  # what came before the frame is delivered before it
                    self._deliver_messages(batch)
                    batch = []
                protocol.receive_data(payload)
                self._process(protocol.events_received())
            elif self.phase != OPEN:
                # Closing or failed: the protocol would discard a data frame, or parse it
                # and deliver nothing; either way it changes nothing there.
                continue
            elif opcode == BINARY:
                batch.append(payload)
            else:
                try:
                    batch.append(payload.decode())
                except UnicodeDecodeError as exc:
                    self._deliver_messages(batch)
                    batch = []
                    if self.phase == OPEN:
                        self.fail(1007, f"invalid UTF-8: {exc.reason} at position {exc.start}")
        if batch:
            self._deliver_messages(batch)
        if self.phase != OPEN:
            self._give_up_cutting()

    def _deliver_messages(self, messages: list[str | bytes]) -> None:
        if messages and self.phase == OPEN:
            self.messages_in += len(messages)
            self.owner.messages_received(self, messages)

    def _give_up_cutting(self) -> None:
        """From now on the protocol reads everything (the start of a frame held first)."""
        cutter = self._cutter
        if cutter is None:
            return
        self._cutter = None
        rest = cutter.rest()
        if rest and self.protocol is not None:
            self.protocol.receive_data(rest)
            self.protocol.events_received()  # nothing more is delivered once closing

    def _cutter_after(self, data: bytes | None) -> FrameCutter | None:
        """A cutter for the reads after the one that completed the handshake, if the
        protocol holds no partial frame after it. The protocol does not say: the frames
        that came after the 101 in this read are cut here too (and dropped: the protocol
        has them), which the answer's end can tell only if it came in this one read."""
        if data is None or self.flags & _ANSWER_SPLIT:
            return None
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return None
        cutter = FrameCutter(self.max_size)
        cutter.cut(data[end + 4 :])
        return cutter if cutter.at_boundary() else None

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
            self.flags |= _ANSWER_SPLIT
            return  # more of the answer to come
        self.response = response
        if response is not None and protocol.handshake_exc is None:
            # Accepted (the protocol may be closing already: a close frame can come in the
            # same read as the 101, and is handled as any other).
            if self.direct and not response.headers.get_all("Sec-WebSocket-Extensions"):
                self._cutter = self._cutter_after(data)
            self.open(protocol)
            self._process([e for e in events if isinstance(e, Frame)])
            return
        self.phase = DONE
        self.owner.rejected(self, response)
        self.flush()
        if not self.lost:
            self.transport.close()  # the answer is all there is: no frames follow
