"""Data frames the client engine encodes and cuts itself (pure: no I/O), RFC 6455 §5.2.

websockets' sans-I/O protocol costs about 5 µs of Python per frame each way (a generator
step per read, a ``Frame`` object, its checks, a random mask per frame): most of a pipe's
CPU when it sends and reads 100,000 short lines. While nothing is negotiated (no
extension), a complete data frame is simple enough to handle in bulk, so the client engine
(:class:`~wscli.wire.client.ClientEngine`) does so for exactly these frames:

- :func:`masked_frames`: complete (FIN) text or binary frames, masked as a client must,
  each with its own key, all of them encoded at once;
- :class:`FrameCutter`: what the server sends, cut at frame boundaries; a complete,
  unfragmented, unmasked text or binary frame within the size limit is returned as its
  payload, and every other frame (control frames, fragments, anything malformed or over the
  limit) as its bytes, whole, for the protocol object to parse. The protocol so sees whole
  frames only, in order, and its state stays what it would be had it parsed everything: a
  complete data frame outside a fragmented message changes none of it.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

FORWARD: Final = 0
"""The opcode of a :meth:`FrameCutter.cut` item whose bytes go to the protocol."""
TEXT: Final = 1
BINARY: Final = 2

DIRECT_MAX: Final = 65536
"""Payload bytes of a frame the cutter waits for in full; a longer one that is not complete
in one read goes to the protocol as it comes (it costs the protocol little per byte)."""

_LENGTH16 = struct.Struct("!BBH")
_LENGTH64 = struct.Struct("!BBQ")
_SHORT_HEADS = {first: [bytes((first, 0x80 | n)) for n in range(126)] for first in (0x81, 0x82)}
_ZEROS = bytes(14)


def masked_frames(payloads: Sequence[bytes], text: bool, keys: bytes) -> bytes:
    """The complete, masked client frames of ``payloads`` (text or binary), back to back.

    ``keys``: 4 unpredictable bytes per frame (``os.urandom(4 * len(payloads))``), the
    masking key of each. All frames are masked in one XOR of big integers: each frame's
    header and key are XORed with zeros, its payload with its key repeated.
    """
    first = 0x81 if text else 0x82
    short = _SHORT_HEADS[first]
    plain: list[bytes] = []
    masks: list[bytes] = []
    start = 0
    for payload in payloads:
        length = len(payload)
        key = keys[start : start + 4]
        start += 4
        if length < 126:
            header = short[length]
        elif length < 65536:
            header = _LENGTH16.pack(first, 0xFE, length)
        else:
            header = _LENGTH64.pack(first, 0xFF, length)
        plain += (header, key, payload)
        masks += (_ZEROS[: len(header) + 4], (key * ((length >> 2) + 1))[:length])
    data = b"".join(plain)
    mask = int.from_bytes(b"".join(masks), "big")
    return (int.from_bytes(data, "big") ^ mask).to_bytes(len(data), "big")


class FrameCutter:
    """Cuts a server's byte stream at frame boundaries (see the module docstring).

    ``max_size``: the protocol's limit on a message (None: none); a longer frame goes to the
    protocol, which closes with 1009. What it holds is bounded: a partial frame of at most
    :data:`DIRECT_MAX` payload bytes, or a header.
    """

    __slots__ = ("_forward", "_fragmented", "_rest", "max_size")

    def __init__(self, max_size: int | None) -> None:
        self.max_size = max_size
        self._rest = b""  # the start of a frame not complete yet
        self._forward = 0  # bytes of the current frame still to go to the protocol
        self._fragmented = False  # a fragmented message is under way (the protocol's)

    def at_boundary(self) -> bool:
        """True when what was cut so far ends with a whole frame."""
        return not self._rest and not self._forward

    def rest(self) -> bytes:
        """What is held (the start of a frame), given up: the caller hands it on."""
        rest, self._rest = self._rest, b""
        return rest

    def cut(self, data: bytes) -> list[tuple[int, bytes]]:
        """The items of ``data`` in order: ``(TEXT or BINARY, payload)`` for a complete data
        frame, ``(FORWARD, bytes)`` for bytes of any other frame (whole frames, except that
        a long one may come in several pieces, over several calls)."""
        items: list[tuple[int, bytes]] = []
        if self._forward:
            piece = data[: self._forward]
            self._forward -= len(piece)
            items.append((FORWARD, piece))
            data = data[len(piece) :]
        buffer = self._rest + data if self._rest else data
        end = len(buffer)
        max_size = self.max_size
        pos = 0
        while end - pos >= 2:
            first = buffer[pos]
            second = buffer[pos + 1]
            length = second & 0x7F
            head = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                head = 10
            if second & 0x80:
                head += 4  # masked: no server may, and the protocol will say so
            total = head + length
            if (
                (first == 0x81 or first == 0x82)
                and not second & 0x80
                and not self._fragmented
                and (max_size is None or length <= max_size)
            ):
                if end - pos >= total:
                    items.append((first & 0x0F, buffer[pos + head : pos + total]))
                    pos += total
                    continue
                if length <= DIRECT_MAX:
                    break  # wait for the rest of it
            # Any other frame goes to the protocol whole (or as it comes, when long).
            opcode = first & 0x0F
            if opcode in (TEXT, BINARY) and not first & 0x80:
                self._fragmented = True
            elif opcode == 0 and first & 0x80:
                self._fragmented = False
            available = min(total, end - pos)
            items.append((FORWARD, buffer[pos : pos + available]))
            pos += available
            self._forward = total - available
        self._rest = buffer[pos:]
        return items
