"""The server's side of the RFC 6455 opening handshake (§4.2.1–§4.2.2), pure: is a request
head a valid upgrade, and the bytes of the 101 that accepts it.

The rules, as websockets' ``ServerProtocol.accept`` applies them (so a client sees the same
answers whichever path a request takes):

- ``Connection`` must list the ``upgrade`` option and ``Upgrade`` name exactly one
  protocol, ``websocket`` (any case): otherwise 426 with ``Upgrade: websocket``;
- exactly one ``Sec-WebSocket-Key``, the base64 encoding of 16 bytes: otherwise 400;
- exactly one ``Sec-WebSocket-Version``; not ``13``: 426 with ``Sec-WebSocket-Version: 13``
  (§4.4: the versions the server speaks), missing or repeated: 400;
- ``Sec-WebSocket-Protocol`` offers are tokens separated by commas: otherwise 400.

Method, HTTP version, ``Host`` and the server's own admission rules are checked before, by
whoever calls :func:`check_upgrade` (wscli.serve.admission).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence

from wscli.core.accept import accept_for
from wscli.core.httphead import HeadError

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_PROTOCOL = re.compile(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+)(?:/[!#$%&'*+\-.^_`|~0-9A-Za-z]+)?")

VERSION = "13"
"""The one WebSocket version (RFC 6455)."""


class UpgradeError(HeadError):
    """Not an upgrade the server can accept: answer ``status`` with ``headers``."""

    def __init__(self, status: int, reason: str, headers: tuple[tuple[str, str], ...] = ()):
        super().__init__(status, reason)
        self.headers = headers


_UPGRADE_REQUIRED = (("Upgrade", "websocket"),)


def check_upgrade(
    connection: Sequence[str],
    upgrade: Sequence[str],
    keys: Sequence[str],
    versions: Sequence[str],
) -> str:
    """The ``Sec-WebSocket-Accept`` value for a request with these header values (each
    list: every value of that header, in order); raises :class:`UpgradeError`."""
    options = [option.lower() for option in _tokens(connection, "Connection")]
    if "upgrade" not in options:
        raise UpgradeError(426, "the Connection header has no upgrade option", _UPGRADE_REQUIRED)
    protocols = []
    for value in upgrade:
        for item in value.split(","):
            item = item.strip(" \t")
            if item:
                match = _PROTOCOL.fullmatch(item)
                if match is None:
                    raise UpgradeError(400, "invalid Upgrade header")
                protocols.append(item.lower())
    if protocols != ["websocket"]:
        raise UpgradeError(426, "the Upgrade header is not websocket alone", _UPGRADE_REQUIRED)
    if len(keys) != 1:
        raise UpgradeError(400, f"{'no' if not keys else 'more than one'} Sec-WebSocket-Key")
    key = keys[0]
    try:
        raw = base64.b64decode(key.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raw = b""
    if len(raw) != 16:
        raise UpgradeError(400, "invalid Sec-WebSocket-Key: not the base64 of 16 bytes")
    if len(versions) != 1:
        count = "no" if not versions else "more than one"
        raise UpgradeError(400, f"{count} Sec-WebSocket-Version")
    if versions[0] != VERSION:
        raise UpgradeError(
            426,
            f"unsupported Sec-WebSocket-Version (this server speaks {VERSION})",
            (("Sec-WebSocket-Version", VERSION),),
        )
    return accept_for(key)


def offered_subprotocols(values: Sequence[str]) -> list[str]:
    """The subprotocols a client offers (every ``Sec-WebSocket-Protocol`` value, in order);
    raises :class:`UpgradeError` when one is not a token."""
    return _tokens(values, "Sec-WebSocket-Protocol")


def switching_protocols(accept: str, subprotocol: str | None) -> bytes:
    """The 101 that opens the connection (no extensions: see wscli.serve.connection)."""
    head = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept.encode("ascii") + b"\r\n"
    )
    if subprotocol is not None:
        head += b"Sec-WebSocket-Protocol: " + subprotocol.encode("ascii") + b"\r\n"
    return head + b"\r\n"


def _tokens(values: Sequence[str], header: str) -> list[str]:
    """The comma-separated tokens of every value of ``header`` (empty elements skipped,
    RFC 9110 §5.6.1); :class:`UpgradeError` 400 for anything else."""
    tokens = []
    for value in values:
        for item in value.split(","):
            item = item.strip(" \t")
            if not item:
                continue
            if _TOKEN.fullmatch(item) is None:
                raise UpgradeError(400, f"invalid {header} header")
            tokens.append(item)
    return tokens
