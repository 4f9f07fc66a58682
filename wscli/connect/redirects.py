"""Redirects answered to `wscli connect`'s upgrade request: refused unless -L/--location.

websockets would follow a 3xx itself, silently, to another host, with every -H header.
wscli follows one only when asked (as curl does), reports each hop, never
downgrades wss:// to ws://, and sends neither -H headers nor --auth on to another host
(scheme, host or port): they are credentials more often than not (``X-Api-Key``).
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Callable

from wscli.connect.connection import RedirectAnswer, open_websocket
from wscli.connect.websocket import FrameObserver, WebSocketChannel
from wscli.core.clientoptions import ConnectOptions
from wscli.core.errors import HandshakeRejected, UsageProblem
from wscli.core.url import normalize_url, parse_ws_url, redact_url
from wscli.net.neterrors import hostport

MAX_REDIRECTS = 10
"""Hops followed with -L before giving up (websockets' own default)."""

RedirectObserver = Callable[[int, str, str, bool], None]
"""Called per hop followed: (status, from URL, to URL, whether -H/--auth were dropped)."""


def redirect_target(current: str, location: str) -> str:
    """The ws:// or wss:// URL a Location header points to, resolved against ``current``.

    Raises :class:`HandshakeRejected` for a target wscli cannot or must not follow.
    """
    http_base = "http" + normalize_url(current).removeprefix("ws")  # urljoin knows http(s)
    target = urllib.parse.urljoin(http_base, location.strip())
    try:
        uri = parse_ws_url(target)
    except UsageProblem as problem:
        raise HandshakeRejected(
            "cannot follow the redirect", f"to {target!r}: {problem.why}", status=None
        ) from None
    if parse_ws_url(current).secure and not uri.secure:
        raise HandshakeRejected(
            "refusing to follow a redirect from wss:// to ws://", f"to {redact_url(target)}"
        )
    return normalize_url(target)


def same_origin(first: str, second: str) -> bool:
    """Same scheme, host and port: where -H headers and --auth may go on."""
    a, b = parse_ws_url(first), parse_ws_url(second)
    return (a.secure, a.host.lower(), a.port) == (b.secure, b.host.lower(), b.port)


async def open_following(
    options: ConnectOptions,
    *,
    follow: bool,
    observer: FrameObserver | None = None,
    on_redirect: RedirectObserver | None = None,
) -> tuple[WebSocketChannel, str]:
    """Open the connection; with ``follow``, through up to MAX_REDIRECTS redirects.

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
            if not follow:
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
            dropped = False
            if not same_origin(current.url, target):
                dropped = bool(current.headers or current.auth)
                current = dataclasses.replace(current, headers=(), auth=None)
            if on_redirect is not None:
                on_redirect(answer.status, redact_url(current.url), redact_url(target), dropped)
            current = dataclasses.replace(current, url=target)
    raise AssertionError("unreachable")  # the loop returns or raises
