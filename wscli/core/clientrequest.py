"""The client's opening handshake request, built once for `wscli connect` and `wscli handshake`
(pure: no I/O), so both send the same bytes for the same options.

websockets' sans-I/O :class:`~websockets.client.ClientProtocol` builds the request and
later validates the answer; this module orders its headers like RFC 6455's example, adds
``User-Agent: wscli/VERSION`` and ``--auth``'s Authorization, and applies -H: a header
wscli sends anyway (Host, Origin, Sec-WebSocket-Version, ...) is replaced in place, the
others follow in the order given.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.http11 import Request
from websockets.typing import Origin, Subprotocol
from websockets.uri import WebSocketURI

from wscli import __version__
from wscli.core.clientoptions import RequestOptions
from wscli.core.errors import UsageProblem
from wscli.core.headers import check_header_values, check_subprotocols

USER_AGENT = f"wscli/{__version__}"
"""What wscli's client commands say they are (an -H User-Agent replaces it)."""

# RFC 6455 §1.2/§4.1 example order; headers not listed keep their order after these.
_ORDER = [
    "host",
    "authorization",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "origin",
    "sec-websocket-protocol",
    "sec-websocket-version",
    "sec-websocket-extensions",
]


def basic_auth_header(auth: str) -> tuple[str, str]:
    """``user:pass`` (``--auth``) as an ``Authorization: Basic`` header."""
    if ":" not in auth:
        raise UsageProblem("invalid --auth value", "expected USER:PASSWORD")
    token = base64.b64encode(auth.encode("utf-8")).decode("ascii")
    return "Authorization", f"Basic {token}"


def extra_headers(
    headers: Sequence[tuple[str, str]],
    *,
    auth: str | None = None,
    origin: str | None = None,
    subprotocols: Sequence[str] = (),
) -> list[tuple[str, str]]:
    """The request headers a client adds: -H in order, then --auth's Authorization.

    Raises :class:`UsageProblem` for a header value, --origin or -s that cannot be sent.
    """
    check_header_values([*headers, *([("Origin", origin)] if origin is not None else [])])
    check_subprotocols(subprotocols)
    found = list(headers)
    if auth is not None:
        found.append(basic_auth_header(auth))
    return found


def compression_factory() -> ClientPerMessageDeflateFactory:
    """permessage-deflate as browsers offer it (`client_max_window_bits`), like websockets."""
    return ClientPerMessageDeflateFactory(compress_settings={"memLevel": 5})


def build_client(
    uri: WebSocketURI,
    *,
    headers: Sequence[tuple[str, str]] = (),
    subprotocols: Sequence[str] = (),
    origin: str | None = None,
    auth: str | None = None,
    key: str | None = None,
    compression: bool = True,
    max_size: int | None = 2**20,
) -> tuple[ClientProtocol, Request]:
    """A ClientProtocol and the upgrade request it is to send (``protocol.send_request``).

    An -H Sec-WebSocket-Key or Sec-WebSocket-Protocol also changes what the answer is
    checked against, so the verdict stays true to the bytes sent; ``key`` chooses the key
    (`wscli handshake --ws-key`).
    """
    extra = extra_headers(headers, auth=auth, origin=origin, subprotocols=subprotocols)
    offered: list[str] = list(subprotocols)
    for name, value in extra:
        if name.lower() == "sec-websocket-key":
            key = value
        elif name.lower() == "sec-websocket-protocol":
            offered = [item.strip() for item in value.split(",") if item.strip()]
    protocol = ClientProtocol(
        uri,
        origin=Origin(origin) if origin is not None else None,
        extensions=[compression_factory()] if compression else None,
        subprotocols=[Subprotocol(name) for name in offered] or None,
        max_size=max_size,
    )
    if key is not None:
        # The public API cannot choose the key; websockets checks the answer against it.
        protocol.key = key
    request = protocol.connect()
    if not any(name.lower() == "user-agent" for name, _ in extra):
        extra.append(("User-Agent", USER_AGENT))
    return protocol, Request(request.path, order_headers(request.headers, extra))


def request_for(
    options: RequestOptions,
    uri: WebSocketURI,
    *,
    key: str | None = None,
    max_size: int | None = 2**20,
) -> tuple[ClientProtocol, Request]:
    """:func:`build_client` from a command's request options: what `connect` and
    `handshake` both send."""
    return build_client(
        uri,
        headers=options.headers,
        subprotocols=options.subprotocols,
        origin=options.origin,
        auth=options.auth,
        key=key,
        compression=options.compression,
        max_size=max_size,
    )


def order_headers(generated: Headers, overrides: Sequence[tuple[str, str]]) -> Headers:
    """Put ``generated`` in RFC 6455 example order and apply the ``overrides`` (-H)."""
    override_names = {name.lower() for name, _ in overrides}
    items = list(generated.raw_items())
    items.sort(key=lambda item: _ORDER.index(item[0].lower()) if item[0].lower() in _ORDER else 99)
    result = Headers()
    placed: set[str] = set()
    for name, value in items:
        lower = name.lower()
        if lower not in override_names:
            result[name] = value
        elif lower not in placed:  # every -H value with this name goes here, in place
            placed.add(lower)
            for o_name, o_value in overrides:
                if o_name.lower() == lower:
                    result[o_name] = o_value
    for name, value in overrides:
        if name.lower() not in placed:
            result[name] = value
    return result
