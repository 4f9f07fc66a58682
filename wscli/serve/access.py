"""Who may join `wscli serve`, and under which room and name (pure: no I/O).

- Rooms are URL paths; the query string is not part of the room.
- Host policy (protection against DNS rebinding): :mod:`wscli.core.hosts`, shared with
  `wscli proxy`.
- Origin policy (protection against cross-site WebSocket hijacking): a request without
  ``Origin`` (not a browser: wscat, scripts) is accepted; a browser is accepted when its
  origin is the server's own (the chat page served here: its scheme and port, a host that
  is allowed — judged against the allow-list, not the request's own ``Host``) or is in
  the ``--origin`` allow-list; ``*`` in the list accepts every origin.
- Tokens are compared in constant time (:func:`hmac.compare_digest`).
- Nicknames come from ``?nick=``: control, format and blank-rendering characters removed,
  whitespace collapsed, no leading ``#`` (``#ID`` names anonymous clients), at most
  :data:`MAX_NICK` characters; an empty result means anonymous.
"""

from __future__ import annotations

import dataclasses
import hmac
import unicodedata
import urllib.parse
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet

from wscli.core.hosts import host_allowed
from wscli.core.target import normalize_path

MAX_NICK = 32


def split_path(path: str) -> tuple[str, dict[str, str]]:
    """``/chat?nick=al&x=1`` → ``("/chat", {"nick": "al", "x": "1"})`` (first value wins).

    The room is the path normalised (:func:`wscli.core.target.normalize_path`): ``/%63hat``
    is ``/chat``."""
    room, _, query = path.partition("?")
    params: dict[str, str] = {}
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        params.setdefault(name, value)
    return normalize_path(room) or "/", params


BLANK_FILLERS = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0")
"""Letters and marks that render as nothing or as blank space (the combining grapheme
joiner, Hangul fillers, Khmer inherent vowels, the blank Braille pattern): a nick of them
would show as no name at all."""

ANONYMOUS_MARKS = "#\uff03\ufe5f"
"""``#`` and its look-alikes: ``#ID`` names an anonymous client, so a nick never starts so."""


def clean_nick(raw: str | None) -> str | None:
    """A printable, single-line, bounded nickname, or None for anonymous: control, format
    and blank-rendering characters removed, whitespace collapsed, no leading ``#`` (the
    ``#ID`` form is reserved for anonymous clients), at most :data:`MAX_NICK` characters."""
    if raw is None:
        return None
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in raw
        if ch.isspace()
        or (
            unicodedata.category(ch) not in {"Cc", "Cf", "Cs", "Co", "Cn"}
            and ch not in BLANK_FILLERS
        )
    )
    nick = " ".join(kept.split()).lstrip(ANONYMOUS_MARKS + " ")[:MAX_NICK].strip()
    return nick or None


def _normalize_origin(origin: str) -> str | None:
    """``scheme://host[:port]`` in lower case with the default port removed."""
    try:
        parts = urllib.parse.urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme)
    if port is None or port == default:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def check_origin_option(value: str) -> str | None:
    """Why ``value`` cannot be an ``--origin`` entry, or None if it can.

    Entries are ``*``, ``null`` or ``scheme://host[:port]`` (what browsers send).
    """
    if value in {"*", "null"}:
        return None
    normalized = _normalize_origin(value)
    if normalized is None or urllib.parse.urlsplit(value.strip()).path not in {"", "/"}:
        return "expected *, null or scheme://host[:port], e.g. https://example.com"
    return None


def same_origin(
    origin: str, allowed: AbstractSet[str] | None, host_header: str | None, port: int, tls: bool
) -> bool:
    """True when ``origin`` is this server: scheme and port its own, host an allowed one.

    With no host allow-list (``--allowed-host '*'``) the request's ``Host`` header is the
    only clue, as before (DNS rebinding is then possible: documented).
    """
    theirs = _normalize_origin(origin)
    if theirs is None:
        return False
    scheme = "https" if tls else "http"
    if allowed is None:
        mine = _normalize_origin(f"{scheme}://{host_header}") if host_header else None
        return mine is not None and mine == theirs
    parts = urllib.parse.urlsplit(theirs)
    default = 443 if tls else 80
    name = (parts.hostname or "").rstrip(".").lower()
    return (
        parts.scheme == scheme and (parts.port or default) == port and host_allowed(name, allowed)
    )


def origin_allowed(
    origin: str | None,
    listed: Iterable[str],
    allowed_hosts: AbstractSet[str] | None,
    host_header: str | None,
    port: int,
    tls: bool,
) -> bool:
    """Apply the origin policy described in the module docstring."""
    if origin is None:
        return True
    listed = list(listed)
    if "*" in listed:
        return True
    if same_origin(origin, allowed_hosts, host_header, port, tls):
        return True
    normalized = _normalize_origin(origin)
    if normalized is None:
        return origin.strip() in listed  # e.g. "null" listed explicitly
    return any(_normalize_origin(a) == normalized for a in listed)


def presented_token(headers: Mapping[str, str], params: Mapping[str, str]) -> str | None:
    """The token a client presents: ``Authorization: Bearer T`` or the ``token`` query value."""
    auth = headers.get("Authorization")
    if auth:
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return params.get("token")


def token_matches(presented: str, expected: str) -> bool:
    """Constant-time comparison (no early exit that would leak the token's prefix)."""
    return hmac.compare_digest(presented.encode(), expected.encode())


FULL_RETRY_AFTER = 30  # seconds a page waits before trying a full server again


@dataclasses.dataclass(frozen=True)
class Refusal:
    """Why an upgrade is refused: HTTP ``status``, ``reason`` for the log, ``kind`` for people.

    ``kind`` is one of ``origin``, ``token``, ``full``: what the chat page explains.
    """

    status: int
    reason: str
    kind: str


def refusal(
    *,
    origin: str | None,
    origins: Iterable[str],
    host_header: str | None,
    tls: bool,
    token: str | None,
    expected_token: str | None,
    clients: int,
    max_clients: int | None,
    allowed_hosts: AbstractSet[str] | None = None,
    port: int = 0,
) -> Refusal | None:
    """The admission policy in one place: None when an upgrade like this one gets in.

    Both the upgrade (:func:`wscli.serve.admission.admit`, after its head checks) and
    ``GET /admission`` (the page's pre-flight) call it, through
    :func:`wscli.serve.admission.policy_verdict`. ``allowed_hosts`` None (and no ``port``):
    same-origin judged by ``host_header`` alone.
    """
    if not origin_allowed(origin, origins, allowed_hosts, host_header, port, tls):
        return Refusal(403, f"origin {origin} not allowed", "origin")
    if expected_token is not None:
        if token is None:
            return Refusal(401, "token required", "token")
        if not token_matches(token, expected_token):
            return Refusal(403, "invalid token", "token")
    if max_clients is not None and clients >= max_clients:
        return Refusal(503, f"server full ({max_clients} clients)", "full")
    return None


def admission_document(verdict: Refusal | None) -> dict[str, object]:
    """The JSON body of ``GET /admission``: whether, and if not why, an upgrade would fail.

    A browser sees only "1006" for a refused upgrade; the page asks this instead. It tells
    nothing a raw client does not learn from the upgrade's own 401/403/503.
    """
    if verdict is None:
        return {"admitted": True}
    document: dict[str, object] = {
        "admitted": False,
        "refusal": verdict.kind,
        "status": verdict.status,
    }
    if verdict.kind == "full":
        document["retry_after"] = FULL_RETRY_AFTER
    return document
