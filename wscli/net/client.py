"""How a client reaches its server, from the request options `connect` and `handshake`
share (:class:`~wscli.core.clientoptions.RequestOptions`): the TLS context (--cacert, -k,
--cert/--key; ALPN http/1.1, as browsers offer for WebSocket over HTTP/1.1) and the proxy
(--proxy, else the ``*_proxy`` environment variables), each checked before anything
starts."""

from __future__ import annotations

import ssl

from websockets.uri import WebSocketURI

from wscli.core.clientoptions import RequestOptions
from wscli.core.clientrequest import request_for
from wscli.core.errors import UsageProblem
from wscli.core.url import parse_ws_url
from wscli.net.tls import client_context
from wscli.net.tunnel import resolve_proxy


def tls_context(options: RequestOptions, uri: WebSocketURI, url: str) -> ssl.SSLContext | None:
    """The TLS context of a wss:// URL (None for ws://, where --cert and --cacert are
    refused: likely meant wss://)."""
    if uri.secure:
        context = client_context(
            insecure=options.insecure,
            cafile=options.cacert,
            certfile=options.cert,
            keyfile=options.key,
        )
        context.set_alpn_protocols(["http/1.1"])
        return context
    if options.cert or options.cacert:
        raise UsageProblem("--cert/--cacert need a wss:// URL", f"{url!r} is not TLS")
    return None


def check_request(options: RequestOptions, url: str) -> None:
    """Raise :class:`UsageProblem` for a bad URL, header, --auth, TLS file or proxy, before
    anything starts."""
    uri = parse_ws_url(url)
    request_for(options, uri)
    tls_context(options, uri, url)
    resolve_proxy(options.proxy, uri.host, uri.port, uri.secure)
    if options.require_subprotocol and not options.subprotocols:
        raise UsageProblem("--require-subprotocol needs -s", "no subprotocol is offered")
