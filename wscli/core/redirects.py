"""Redirects answered to a client's upgrade request (3xx), as `connect` and `handshake` follow
them with -L/--location (pure: no I/O).

websockets would follow a 3xx itself, silently, to another host, with every -H header.
wscli follows one only when asked (as curl does), reports each hop, never downgrades
wss:// to ws://, and sends neither -H headers nor --auth on to another host (scheme, host
or port): they are credentials more often than not (``X-Api-Key``).
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from typing import Any, TypeVar

from wscli.core.clientoptions import RequestOptions
from wscli.core.errors import HandshakeRejected, UsageProblem
from wscli.core.url import normalize_url, parse_ws_url, redact_url

MAX_REDIRECTS = 10
"""Hops followed with -L before giving up (websockets' own default)."""


def redirect_target(current: str, location: str) -> str:
    """The ws:// or wss:// URL a Location header points to, resolved against ``current``.

    Raises :class:`HandshakeRejected` for a target wscli cannot or must not follow.
    """
    http_base = "http" + normalize_url(current).removeprefix("ws")  # urljoin knows http(s)
    try:
        target = urllib.parse.urljoin(http_base, location.strip())
    except ValueError as exc:  # the server's Location: "http://[::1/x", "ws://[zz]/"
        raise HandshakeRejected(
            "cannot follow the redirect", f"to {location!r}: {exc}", status=None
        ) from None
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


Hop = TypeVar("Hop", bound=RequestOptions)


def next_hop(options: Hop, current: str, target: str) -> tuple[Hop, bool]:
    """``options`` (a command's config with a ``url``) for the request to ``target``,
    redirected from ``current``: -H headers and --auth go only to the same origin. Also
    says whether they were dropped."""
    changes: dict[str, Any] = {"url": target}
    dropped = False
    if not same_origin(current, target):
        dropped = bool(options.headers or options.auth)
        changes.update(headers=(), auth=None)
    return dataclasses.replace(options, **changes), dropped
