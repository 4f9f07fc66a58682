"""Redirects answered to `wscli connect`'s upgrade request: refused unless -L/--location,
followed by the rules of :mod:`wscli.core.redirects`."""

from __future__ import annotations

from collections.abc import Callable

from wscli.connect.connection import RedirectAnswer, open_websocket
from wscli.connect.websocket import FrameObserver, WebSocketChannel
from wscli.core.clientoptions import ConnectOptions
from wscli.core.errors import HandshakeRejected
from wscli.core.redirects import MAX_REDIRECTS, next_hop, redirect_target
from wscli.core.url import parse_ws_url, redact_url
from wscli.net.neterrors import hostport

RedirectObserver = Callable[[int, str, str, bool], None]
"""Called per hop followed: (status, from URL, to URL, whether -H/--auth were dropped)."""


async def open_following(
    options: ConnectOptions,
    *,
    observer: FrameObserver | None = None,
    on_redirect: RedirectObserver | None = None,
) -> tuple[WebSocketChannel, str]:
    """Open the connection; with -L (``options.location``), through up to MAX_REDIRECTS
    redirects.

    Returns the connection and the URL it was finally opened at.
    """
    current = options
    for hops in range(MAX_REDIRECTS + 1):
        try:
            return await open_websocket(current, observer), current.url
        except RedirectAnswer as answer:
            uri = parse_ws_url(current.url)
            where = hostport(uri.host, uri.port)
            said = f"HTTP {answer.status} {answer.reason}".strip()
            if not current.location:
                raise HandshakeRejected(
                    f"{where} answered with a redirect",
                    f"{said} to {answer.location}",
                    hint="follow it with -L/--location",
                    status=answer.status,
                ) from None
            if hops == MAX_REDIRECTS:
                raise HandshakeRejected(
                    f"{where} answered with a redirect",
                    f"more than {MAX_REDIRECTS} redirects",
                    status=answer.status,
                ) from None
            target = redirect_target(current.url, answer.location)
            source = current.url
            current, dropped = next_hop(current, source, target)
            if on_redirect is not None:
                on_redirect(answer.status, redact_url(source), redact_url(target), dropped)
    raise AssertionError("unreachable")  # the loop returns or raises
