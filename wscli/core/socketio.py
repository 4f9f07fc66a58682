"""The Socket.IO v5 / Engine.IO v4 wire format, pure: text in, packets out, and back.

Wire format (over WebSocket one frame each; over HTTP long-polling joined by ``\\x1e``):

- Engine.IO: ``0{json}`` open (server → client), ``1`` close, ``2`` ping (server →
  client), ``3`` pong, ``4<socket.io packet>`` message, ``6`` noop.
- Socket.IO: ``<type>[<attachments>-][/<namespace>,][<ack id>][<json>]`` with types 0
  CONNECT, 1 DISCONNECT, 2 EVENT, 3 ACK, 4 CONNECT_ERROR, 5 BINARY_EVENT, 6 BINARY_ACK;
  binary attachments follow as binary frames, replaced by ``{"_placeholder": true, "num": i}``.

Every packet comes from the network and is hostile: :func:`decode_packet` bounds what it
accepts (ASCII digits only, ack ids and attachment counts of bounded length and size,
nesting depth, valid Unicode) and raises :class:`ProtocolViolation` — never another
exception — so a malformed packet becomes a protocol-error close, one line, exit 5.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import math
import struct
import urllib.parse
from collections.abc import Sequence
from typing import Any, NamedTuple

from wscli.core.url import normalize_url

ENGINE_OPEN = "0"
ENGINE_CLOSE = "1"
ENGINE_PING = "2"
ENGINE_PONG = "3"
ENGINE_MESSAGE = "4"
ENGINE_UPGRADE = "5"
ENGINE_NOOP = "6"
PROBE = "probe"
"""The payload of the ping/pong pair that tests a WebSocket before an upgrade."""

RECORD_SEPARATOR = "\x1e"  # between packets in one long-polling body
MAX_PACKETS_PER_BODY = 10_000
"""A long-polling body of more packets is refused: each costs a Python object, so a body of
separators alone would cost ~60 times its size in memory."""
ENGINE_BINARY = "b"
"""A text packet ``b<base64>`` is a binary message (engine.io-parser reads it so over any
transport; long-polling sends binary no other way)."""

MAX_DEPTH = 32
"""Deepest nesting of arrays/objects accepted in a packet (real apps use a handful)."""
MAX_ACK_ID_DIGITS = 15
"""Ack ids are counters; 15 digits stay exact in JavaScript (2**53)."""
MAX_ATTACHMENTS = 1000
"""Most binary attachments one packet may announce; their bytes count against --max-size."""

_DIGITS = frozenset("0123456789")  # str.isdigit() also accepts "²" and other digits


class PacketType(enum.IntEnum):
    """Socket.IO packet types (protocol v5)."""

    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


@dataclasses.dataclass
class Packet:
    """One Socket.IO packet (what follows Engine.IO's ``4``)."""

    type: PacketType
    namespace: str = "/"
    data: Any = None
    id: int | None = None
    attachments: int = 0


class RelayedEvent(NamedTuple):
    """A Socket.IO event as a server relays it to a room (a tuple: made once per message).

    ``data`` is the JSON array ``["name", ...args]`` as text, binary arguments replaced by
    placeholders for ``attachments``; ``ack`` is the sender's acknowledgement id, which only
    the sender's own server uses (receivers never see it).
    """

    data: str
    attachments: tuple[bytes, ...] = ()
    ack: int | None = None

    @property
    def size(self) -> int:
        """Bytes held (for the history's byte bound)."""
        attachments = self.attachments
        return len(self.data) + (sum(map(len, attachments)) if attachments else 0)


class ProtocolViolation(ValueError):
    """A frame that is not valid Engine.IO / Socket.IO; ``code`` is the close code it earns
    (1002 protocol error, 1007 invalid data, 1009 too big)."""

    def __init__(self, message: str, code: int = 1002) -> None:
        super().__init__(message)
        self.code = code


def socketio_url(url: str, transport: str = "websocket") -> str:
    """The Engine.IO URL of a Socket.IO server: ``/socket.io/?EIO=4&transport=websocket``.

    A URL with no path (or ``/``) gets the default ``/socket.io/`` path; an explicit path
    (a custom server ``path`` option) is kept. Existing query parameters are kept.
    """
    parts = urllib.parse.urlsplit(normalize_url(url))
    path = parts.path if parts.path not in ("", "/") else "/socket.io/"
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    names = {name for name, _ in query}
    query += [(k, v) for k, v in (("EIO", "4"), ("transport", transport)) if k not in names]
    return urllib.parse.urlunsplit(
        (parts.scheme, parts.netloc, path, urllib.parse.urlencode(query), "")
    )


def polling_url(ws_url: str) -> str:
    """The HTTP long-polling URL for the WebSocket URL ``ws_url`` of :func:`socketio_url`."""
    parts = urllib.parse.urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    query = [
        (k, "polling" if k == "transport" else v)
        for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urllib.parse.urlunsplit(
        (scheme, parts.netloc, parts.path, urllib.parse.urlencode(query), "")
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    """A JSON number with a fraction or exponent, refused when it overflows: ``1e999``
    became ``inf`` and was written back out as ``Infinity``, which is not JSON (Node's
    ``JSON.parse`` throws on it)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def loads_bounded(text: str) -> Any:
    """``json.loads`` that raises only ValueError: for bad JSON, NaN/Infinity, numbers
    that overflow a float (``1e999``), nesting deeper than :data:`MAX_DEPTH` (checked
    without recursion) or lone surrogates."""
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    if not _plainly_bounded(text):
        check_value(value)
    return value


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
"""One decoder for every packet: ``json.loads`` with an option builds a new one per call
(measured: a third of the time of a small chat event)."""


def _plainly_bounded(text: str) -> bool:
    """True when :func:`check_value` cannot fail on what ``text`` decodes to, told by C-speed
    scans: ASCII without ``\\u`` escapes holds no lone surrogate, and fewer brackets than
    :data:`MAX_DEPTH` cannot nest deeper (the walk over every value is then skipped)."""
    return text.isascii() and "\\u" not in text and text.count("[") + text.count("{") <= MAX_DEPTH


def check_value(value: Any) -> None:
    """Raise ValueError for nesting deeper than :data:`MAX_DEPTH` or a string (or key) that
    is not valid Unicode (a lone surrogate from a ``\\ud800`` escape)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, list | dict):
            if depth >= MAX_DEPTH:
                raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                for key in item:
                    _check_text(key)
                children = list(item.values())
            else:
                children = item
            stack.extend((child, depth + 1) for child in children)


class InvalidText(ValueError):
    """A string that is not valid Unicode."""


def _check_text(text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidText("a string holds a lone surrogate (not valid Unicode)") from None


def encode_packet(packet: Packet) -> str:
    """The Socket.IO packet as text, without Engine.IO's ``4`` prefix."""
    text = str(int(packet.type))
    if packet.attachments:
        text += f"{packet.attachments}-"
    if packet.namespace != "/":
        text += packet.namespace + ","
    if packet.id is not None:
        text += str(packet.id)
    if packet.data is not None:
        text += json.dumps(packet.data, ensure_ascii=False, separators=(",", ":"))
    return text


def _digits_end(text: str, pos: int, limit: int, what: str) -> int:
    end = pos
    while end < len(text) and text[end] in _DIGITS:
        end += 1
        if end - pos > limit:
            raise ProtocolViolation(f"{what} longer than {limit} digits")
    return end


_PACKET_TYPES = {str(int(kind)): kind for kind in PacketType}


def decode_packet(text: str) -> Packet:
    """Parse a Socket.IO packet (without Engine.IO's ``4``); raise ProtocolViolation."""
    kind = _PACKET_TYPES.get(text[:1])  # an enum call costs a microsecond a packet
    if kind is None:
        if not text or text[0] not in _DIGITS:
            raise ProtocolViolation("not a Socket.IO packet type")
        raise ProtocolViolation(f"unknown Socket.IO packet type {text[0]}")
    pos = 1
    attachments = 0
    if kind in (PacketType.BINARY_EVENT, PacketType.BINARY_ACK):
        try:
            end = _digits_end(text, pos, len(str(MAX_ATTACHMENTS)), "attachment count")
        except ProtocolViolation:  # more digits than the limit has: over the limit
            raise ProtocolViolation(
                f"more than {MAX_ATTACHMENTS} binary attachments", 1009
            ) from None
        if end == pos or not text.startswith("-", end):
            raise ProtocolViolation("binary packet without attachment count")
        attachments = int(text[pos:end])
        if attachments > MAX_ATTACHMENTS:
            raise ProtocolViolation(f"more than {MAX_ATTACHMENTS} binary attachments", 1009)
        pos = end + 1
    namespace = "/"
    if text.startswith("/", pos):
        comma = text.find(",", pos)
        end = comma if comma >= 0 else len(text)
        namespace = text[pos:end]
        pos = end + 1 if comma >= 0 else end
    end = _digits_end(text, pos, MAX_ACK_ID_DIGITS, "ack id")
    ack_id = int(text[pos:end]) if end > pos else None
    data = None
    if end < len(text):
        try:
            data = loads_bounded(text[end:])
        except InvalidText as exc:
            raise ProtocolViolation(str(exc), 1007) from None
        except ValueError as exc:
            raise ProtocolViolation(f"bad JSON in Socket.IO packet: {exc}") from None
    packet = Packet(kind, namespace, data, ack_id, attachments)
    _check_shape(packet)
    return packet


def _check_shape(packet: Packet) -> None:
    """Events carry ``[name, *args]`` with a string name; acks a list of arguments."""
    if packet.type in (PacketType.EVENT, PacketType.BINARY_EVENT):
        if not (isinstance(packet.data, list) and packet.data and isinstance(packet.data[0], str)):
            raise ProtocolViolation("an event without a [name, ...] array")
    elif packet.type in (PacketType.ACK, PacketType.BINARY_ACK) and (
        not isinstance(packet.data, list) or packet.id is None
    ):
        raise ProtocolViolation("an acknowledgement without an id and an array")


def fill_placeholders(data: Any, attachments: list[bytes]) -> Any:
    """Replace binary placeholders with ``{"base64": ...}`` (JSON-friendly) objects.

    Each attachment may be named by one placeholder only, and ``num`` must name one that
    came (an object whose ``num`` is not an integer, ``true`` included, is data): a
    packet naming one 150 KB attachment five thousand times made five thousand base64
    copies of it (RSS past 1 GB in 1-2 s). A reused or
    out-of-range ``num`` raises :class:`ProtocolViolation`, so the expanded data is at
    most the packet plus :func:`expanded_size` of each attachment (what ``--max-size``
    counts). Recursion is safe: ``data`` passed :func:`check_value` (depth ≤
    :data:`MAX_DEPTH`).
    """
    return _fill(data, attachments, set())


def expanded_size(attachment_size: int) -> int:
    """Bytes an attachment of ``attachment_size`` bytes takes once filled in: its base64
    text and the ``{"base64":""}`` around it."""
    return 4 * ((attachment_size + 2) // 3) + len('{"base64":""}')


def _fill(data: Any, attachments: list[bytes], used: set[int]) -> Any:
    if isinstance(data, list):
        return [_fill(item, attachments, used) for item in data]
    if isinstance(data, dict):
        num = data.get("num")
        if data.get("_placeholder") is True and isinstance(num, int) and not isinstance(num, bool):
            if not 0 <= num < len(attachments):
                raise ProtocolViolation(f"placeholder for a missing attachment {num}")
            if num in used:
                raise ProtocolViolation(f"placeholder for attachment {num} used twice")
            used.add(num)
            return {"base64": base64.b64encode(attachments[num]).decode("ascii")}
        return {k: _fill(v, attachments, used) for k, v in data.items()}
    return data


def _extract_binary(args: list[Any], attachments: list[bytes]) -> list[Any]:
    """Top-level bytes arguments become placeholders; their bytes go to ``attachments``."""
    out: list[Any] = []
    for arg in args:
        if isinstance(arg, bytes):
            out.append({"_placeholder": True, "num": len(attachments)})
            attachments.append(arg)
        else:
            out.append(arg)
    return out


def emit_frames(
    name: str, args: list[Any], namespace: str = "/", ack_id: int | None = None
) -> list[str | bytes]:
    """The Engine.IO frames (text packet, then binary attachments) that emit ``name``."""
    attachments: list[bytes] = []
    data = [name, *_extract_binary(args, attachments)]
    kind = PacketType.BINARY_EVENT if attachments else PacketType.EVENT
    packet = Packet(kind, namespace, data, ack_id, len(attachments))
    return [ENGINE_MESSAGE + encode_packet(packet), *attachments]


def ack_frames(ack_id: int, args: list[Any], namespace: str = "/") -> list[str | bytes]:
    """The Engine.IO frames that acknowledge the server's event ``ack_id`` with ``args``."""
    attachments: list[bytes] = []
    data = _extract_binary(args, attachments)
    kind = PacketType.BINARY_ACK if attachments else PacketType.ACK
    packet = Packet(kind, namespace, data, ack_id, len(attachments))
    return [ENGINE_MESSAGE + encode_packet(packet), *attachments]


def event_packet(name: str, data: str | bytes, namespace: str = "/") -> tuple[str, bytes | None]:
    """The Engine.IO frame (and binary attachment) that emits ``name`` with one argument."""
    frames = emit_frames(name, [data], namespace)
    attachment = frames[1] if len(frames) > 1 else None
    assert isinstance(frames[0], str) and not isinstance(attachment, str)
    return frames[0], attachment


def line_arguments(line: str, raw_strings: bool = False, spread: bool = False) -> list[Any]:
    """The event arguments a typed or piped line stands for.

    A line that is valid JSON is that JSON value (``{"x":1}`` → one object, ``42`` → a
    number, ``"hi"`` → a string); anything else is one string, as typed. ``raw_strings``:
    always one string. ``spread``: a JSON array is the list of arguments (``[1,"a"]`` →
    two arguments), which is how one line sends several.
    """
    if raw_strings:
        return [line]
    try:
        value = loads_bounded(line)
    except ValueError:
        return [line]
    if spread and isinstance(value, list):
        return value
    return [value]


def json_sequence(text: str) -> list[Any]:
    """Several JSON values separated by spaces (``"hi" {"x":1} 3``), as ``/emit`` takes them;
    text that is not such a sequence is one string argument."""
    decoder = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
    values: list[Any] = []
    pos = 0
    text = text.strip()
    try:
        while pos < len(text):
            value, pos = decoder.raw_decode(text, pos)
            check_value(value)
            values.append(value)
            while pos < len(text) and text[pos].isspace():
                pos += 1
    except (ValueError, RecursionError):
        return [text]
    return values


def decode_base64_packet(text: str) -> bytes:
    """The bytes of a ``b<base64>`` packet; raise ProtocolViolation for bad base64."""
    try:
        return base64.b64decode(text[len(ENGINE_BINARY) :], validate=True)
    except ValueError:
        raise ProtocolViolation("bad base64 in a binary packet") from None


def engine_open(text: str) -> dict[str, Any]:
    """The Engine.IO open packet's JSON (``0{"sid": ...}``); raise ProtocolViolation."""
    if not text.startswith(ENGINE_OPEN):
        raise ProtocolViolation("no Engine.IO open packet")
    try:
        value = loads_bounded(text[1:])
    except ValueError:
        raise ProtocolViolation("bad Engine.IO open") from None
    if not isinstance(value, dict):
        raise ProtocolViolation("bad Engine.IO open")
    return value


def decode_payload(body: bytes) -> list[str | bytes]:
    """A long-polling body: packets joined by ``\\x1e``; ``b<base64>`` is a binary one."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolViolation("a long-polling body that is not UTF-8", 1007) from None
    if text.count(RECORD_SEPARATOR) >= MAX_PACKETS_PER_BODY:
        raise ProtocolViolation(f"more than {MAX_PACKETS_PER_BODY} packets in one long poll")
    packets: list[str | bytes] = []
    for packet in text.split(RECORD_SEPARATOR):
        packets.append(decode_base64_packet(packet) if packet.startswith(ENGINE_BINARY) else packet)
    return packets


def encode_payload(packets: Sequence[str | bytes]) -> bytes:
    """Packets as one long-polling body (the inverse of :func:`decode_payload`)."""
    parts = [
        ENGINE_BINARY + base64.b64encode(p).decode("ascii") if isinstance(p, bytes) else p
        for p in packets
    ]
    return RECORD_SEPARATOR.join(parts).encode("utf-8")


# The server side: what `wscli serve` sends, and the checks the Node server makes.

RESERVED_EVENTS = frozenset(
    ("connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener")
)
"""Event names a client may not emit (the reference parser refuses them: a relayed
``disconnect`` event would fire every receiver's own disconnect handler)."""


def open_packet(
    sid: str, upgrades: Sequence[str], ping_interval: float, ping_timeout: float, max_payload: int
) -> str:
    """The Engine.IO open packet a server sends first (intervals in seconds, sent in ms)."""
    handshake = {
        "sid": sid,
        "upgrades": list(upgrades),
        "pingInterval": round(ping_interval * 1000),
        "pingTimeout": round(ping_timeout * 1000),
        "maxPayload": max_payload,
    }
    return ENGINE_OPEN + json.dumps(handshake, separators=(",", ":"))


def event_header(namespace: str, attachments: int) -> str:
    """The Engine.IO message prefix of an event packet without an ack id, up to its JSON:
    ``42``, ``42/chat,``, ``451-`` ..."""
    text = ENGINE_MESSAGE + ("2" if not attachments else f"5{attachments}-")
    return text if namespace == "/" else f"{text}{namespace},"


def server_packet(
    kind: PacketType, namespace: str, data: Any = None, ack: int | None = None
) -> str:
    """A Socket.IO packet from the server as one Engine.IO message (no attachments):
    CONNECT (``{"sid": ...}``), CONNECT_ERROR (``{"message": ...}``), DISCONNECT, ACK."""
    return ENGINE_MESSAGE + encode_packet(Packet(kind, namespace, data, ack))


def check_placeholders(data: Any, attachments: int) -> None:
    """Raise ProtocolViolation unless every binary placeholder in ``data`` names one of the
    ``attachments``, each at most once.

    The reference parser requires the first; clients never break the second (each binary
    value is its own attachment), and a server that expands placeholders (to base64 for
    raw clients) must not let one attachment be named thousands of times. ``data`` passed
    :func:`check_value`: its depth is bounded, and it is walked without recursion.
    """
    used: set[int] = set()
    stack: list[Any] = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            if item.get("_placeholder") is True:
                num = item.get("num")
                if not (isinstance(num, int) and not isinstance(num, bool)) or not (
                    0 <= num < attachments
                ):
                    raise ProtocolViolation(f"placeholder for a missing attachment {num!r}")
                if num in used:
                    raise ProtocolViolation(f"placeholder for attachment {num} used twice")
                used.add(num)
            else:
                stack.extend(item.values())


def placeholder_index(value: Any) -> int | None:
    """The attachment a binary placeholder stands for, or None for any other value."""
    if isinstance(value, dict) and value.get("_placeholder") is True:
        num = value.get("num")
        if isinstance(num, int) and not isinstance(num, bool):
            return num
    return None


_EVENT_HEAD = struct.Struct("!qI")  # ack id (-1: none), attachment count
_LENGTH = struct.Struct("!I")


def pack_event(event: RelayedEvent) -> bytes:
    """``event`` as bytes, for a backplane between servers (inverse: :func:`unpack_event`)."""
    ack = -1 if event.ack is None else event.ack
    parts = [_EVENT_HEAD.pack(ack, len(event.attachments))]
    parts += [_LENGTH.pack(len(a)) for a in event.attachments]
    parts += [*event.attachments, event.data.encode("utf-8")]
    return b"".join(parts)


def packed_event_size(event: RelayedEvent) -> int:
    """``len(pack_event(event))`` without building it."""
    attachments = event.attachments
    data = len(event.data) if event.data.isascii() else len(event.data.encode("utf-8"))
    return _EVENT_HEAD.size + _LENGTH.size * len(attachments) + sum(map(len, attachments)) + data


def unpack_event(blob: bytes) -> RelayedEvent:
    """The event :func:`pack_event` made; ValueError for anything else (a backplane's
    bytes are checked like a client's: the counts, the lengths, the JSON and its
    placeholders)."""
    if len(blob) < _EVENT_HEAD.size:
        raise ValueError("event too short")
    ack, count = _EVENT_HEAD.unpack_from(blob)
    if ack < -1 or count > MAX_ATTACHMENTS:
        raise ValueError("bad event header")
    pos = _EVENT_HEAD.size
    if len(blob) < pos + count * _LENGTH.size:
        raise ValueError("event attachment lengths missing")
    lengths = [_LENGTH.unpack_from(blob, pos + i * _LENGTH.size)[0] for i in range(count)]
    pos += count * _LENGTH.size
    attachments = []
    for length in lengths:
        if pos + length > len(blob):
            raise ValueError("event attachment past the end")
        attachments.append(blob[pos : pos + length])
        pos += length
    data = blob[pos:].decode("utf-8")
    value = loads_bounded(data)
    if not (isinstance(value, list) and value and isinstance(value[0], str)):
        raise ValueError("an event without a [name, ...] array")
    if attachments:
        check_placeholders(value, len(attachments))
    return RelayedEvent(data, tuple(attachments), None if ack == -1 else ack)


def packet_json(text: str, packet: Packet) -> str:
    """The JSON text of ``packet``, decoded from ``text``: the client's own text when its
    header is written the usual way (``2``, ``51-/chat,7``: what clients send), so a relay
    need not encode it again; else encoded from the decoded data."""
    header = text[:1]  # the type: one digit, as decode_packet read it
    if packet.attachments:
        header += f"{packet.attachments}-"
    if packet.namespace != "/":
        header += packet.namespace + ","
    if packet.id is not None:
        header += str(packet.id)
    start = len(header)
    if text.startswith(header) and text[start : start + 1] in ("[", "{"):
        return text[start:]
    return json.dumps(packet.data, ensure_ascii=False, separators=(",", ":"))


REFUSAL_DATA_SHOWN = 200
"""Characters of a connect_error's ``data`` shown in the error line (the rest cut)."""


def connect_error_text(data: Any) -> str:
    """Why a server refused a namespace (a ``connect_error`` packet's payload) as one line:
    its ``message``, then its ``data`` (Socket.IO v4 servers put the details there:
    ``next(err)`` with ``err.data``); any other payload as JSON. JSON is compact and cut
    after :data:`REFUSAL_DATA_SHOWN` characters. Unescaped: the error line escapes it."""
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, str):
        return data if isinstance(data, str) else _shown_json(data)
    if "data" in data:
        return f"{message} (data: {_shown_json(data['data'])})"
    return message


def _shown_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= REFUSAL_DATA_SHOWN else text[: REFUSAL_DATA_SHOWN - 1] + "…"
