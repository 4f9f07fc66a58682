"""Parse and normalise the WebSocket URLs given on the command line, and build the URI a
request target leads to field by field, never by joining text (the targets themselves:
:mod:`wscli.core.target`)."""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from typing import TYPE_CHECKING

from wscli.core.errors import UsageProblem
from wscli.core.redact import redact
from wscli.core.target import RequestTargetError

if TYPE_CHECKING:
    from websockets.uri import WebSocketURI

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SCHEME_MAP = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}
_PASSWORD = re.compile(r"(//[^/?#@:]*:)[^/?#]*@")  # the password of //user:password@


def normalize_url(url: str) -> str:
    """Return ``url`` with a ws/wss scheme: http(s) maps to ws(s); no scheme means ws://.

    Raises :class:`UsageProblem` for another scheme.
    """
    url = url.strip()
    match = _SCHEME.match(url)
    if match is None:
        return "ws://" + url
    scheme = match.group(1).lower()
    if scheme not in _SCHEME_MAP:
        raise UsageProblem(
            f"invalid URL {url!r}",
            f"unsupported scheme {scheme!r}",
            hint="use ws:// or wss://",
        )
    return _SCHEME_MAP[scheme] + url[match.end(1) :]


def parse_ws_url(url: str) -> WebSocketURI:
    """Normalise and parse ``url``, raising :class:`UsageProblem` when it is not usable."""
    # Imported here: the option declarations redact URLs and must not load websockets
    # for `wscli --help`.
    from websockets.exceptions import InvalidURI
    from websockets.uri import parse_uri

    normalized = normalize_url(url)
    try:
        explicit_port = urllib.parse.urlsplit(normalized).port
    except ValueError as exc:  # e.g. a port out of range
        raise UsageProblem(f"invalid URL {url!r}", str(exc)) from None
    if explicit_port == 0:
        # websockets would read ":0" as "no port" and connect to 80/443 instead.
        raise UsageProblem(f"invalid URL {url!r}", "port 0 cannot be connected to")
    try:
        return parse_uri(normalized)
    except InvalidURI as exc:
        why = str(exc).split(": ", 1)[-1] if ": " in str(exc) else str(exc)
        raise UsageProblem(f"invalid URL {url!r}", why) from None
    except ValueError as exc:  # e.g. a port out of range
        raise UsageProblem(f"invalid URL {url!r}", str(exc)) from None


def redact_url(url: str) -> str:
    """``url`` with the password of its ``user:password@`` part replaced by ``***``, and
    its secret query values (``?access_token=``: :mod:`wscli.core.redact`) by
    ``[redacted]``.

    For every place a URL the user gave (``--proxy``, the WebSocket URL) is printed or
    written as NDJSON: the password must not reach a terminal, a log or a CI transcript.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL urllib reads (e.g. a bad IPv6 host): by its shape
        return redact(_PASSWORD.sub(r"\1***@", url))
    if password is None:
        return redact(url)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    netloc = f"{user}:***@{hostport}"
    shown = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return redact(shown)


def redact_in(text: str, url: str | None) -> str:
    """``text`` with each occurrence of ``url`` (and of its password) redacted."""
    if not url:
        return text
    redacted = redact_url(url)
    if redacted == url:
        return text
    text = text.replace(url, redacted)
    try:
        password = urllib.parse.urlsplit(url).password
    except ValueError:
        return text
    return text.replace(password, "***") if password else text


def with_target(base: WebSocketURI, path: str, query: str) -> WebSocketURI:
    """``base`` (its scheme, host, port and credentials: the fixed upstream) with ``path``
    and ``query`` in place of its own, as an nginx ``proxy_pass`` does: built field by
    field, so nothing in ``path`` or ``query`` can change where the URI leads."""
    if not path.startswith("/"):
        raise RequestTargetError("the path must start with /")
    return dataclasses.replace(base, path=path, query=query)


def uri_text(uri: WebSocketURI) -> str:
    """``uri`` as text (``ws://host:port/path?query``), without its credentials."""
    scheme = "wss" if uri.secure else "ws"
    host = f"[{uri.host}]" if ":" in uri.host else uri.host
    return urllib.parse.urlunsplit((scheme, f"{host}:{uri.port}", uri.path, uri.query, ""))


def is_direct(proxy: str | None) -> bool:
    """True when a ``--proxy`` value says to connect directly (unset, ``none``, empty)."""
    return proxy is None or proxy.strip().lower() in {"", "none", "direct"}
