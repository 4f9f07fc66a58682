"""Who gets in: `wscli serve`'s decision on one parsed request head (pure: no I/O).

:func:`admit` takes the request and the server's :class:`Policy` and returns one of

- :class:`Admit`: a WebSocket upgrade let in (room, nickname); the library then checks the
  upgrade itself (key, version) and negotiates subprotocol and extensions;
- :class:`Plain`: a plain HTTP ``GET``/``HEAD`` for :mod:`wscli.serve.http` to answer;
- :class:`Refuse`: an answer instead (status, reason for the log, extra headers).

In this order: a malformed head (duplicate ``Host``, ``Origin``, ``Authorization``,
``Upgrade`` or ``Sec-WebSocket-Key``, no ``Host``) is 400; a ``Host`` that does not name
this server is 403 (page, ``/healthz`` and WebSocket alike); a
room path (URL path without the query) longer than :data:`MAX_ROOM_BYTES` is 414; then
plain HTTP is served; an upgrade over HTTP/1.0 is 400, with another method than GET 405;
then origin (403), token (401/403) and capacity (503).

Reasons never contain a presented token or any header value but ``Host``/``Origin``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING

from wscli.core.hosts import host_refusal
from wscli.serve import access
from wscli.serve.chat_commands import clean_token
from wscli.serve.message_id import clean_since

if TYPE_CHECKING:  # the type only: importing websockets pulls in socket and threading
    from websockets.http11 import Request

SINGLE_HEADERS = ("Host", "Origin", "Authorization", "Upgrade", "Sec-WebSocket-Key")
# A room's path names its history, its Redis key and every log line about it: longer ones
# are refused (414) instead of costing every read and log their length.
MAX_ROOM_BYTES = 1024
SHOWN_ROOM = 64


@dataclasses.dataclass(frozen=True)
class Policy:
    """What the server admits; ``allowed_hosts`` None disables the Host check (``*``)."""

    allowed_hosts: AbstractSet[str] | None
    origins: Sequence[str]
    token: str | None
    max_clients: int | None
    port: int
    tls: bool


@dataclasses.dataclass(frozen=True)
class Admit:
    """A WebSocket client let in to ``room``, announced as ``nick`` (None: anonymous),
    resuming after the message id ``since`` (``?since=``; None: not resuming), from the
    page session ``session`` (``?session=``: a reconnecting page replaces its own stale
    connection instead of getting a second name)."""

    room: str
    nick: str | None
    since: str | None = None
    session: str | None = None


@dataclasses.dataclass(frozen=True)
class Plain:
    """A plain HTTP request for ``room`` (its path without the query)."""

    room: str
    method: str


@dataclasses.dataclass(frozen=True)
class Refuse:
    """Answer ``status`` and close; ``reason`` goes to the log and the body; ``kind`` is
    the reason's family for /metrics: ``request`` (malformed), ``host``, ``origin``,
    ``token`` or ``full``."""

    room: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()
    kind: str = "request"


UNAUTHORIZED_HEADERS = (("WWW-Authenticate", 'Bearer realm="wscli"'),)


def policy_verdict(
    policy: Policy, origin: str | None, host_header: str | None, token: str | None, clients: int
) -> access.Refusal | None:
    """The origin, token and capacity rules (None: let in), for the upgrade and for the
    page's ``GET /admission`` pre-flight alike, so the two cannot disagree."""
    return access.refusal(
        origin=origin,
        origins=policy.origins,
        host_header=host_header,
        tls=policy.tls,
        token=token,
        expected_token=policy.token,
        clients=clients,
        max_clients=policy.max_clients,
        allowed_hosts=policy.allowed_hosts,
        port=policy.port,
    )


def admit(request: Request, policy: Policy, clients: int) -> Admit | Plain | Refuse:
    """The decision on ``request`` when ``clients`` clients are admitted already."""
    headers = request.headers
    room, params = access.split_path(request.path)
    for header in SINGLE_HEADERS:
        if len(headers.get_all(header)) > 1:
            return Refuse(room, 400, f"duplicate {header} header")
    host = headers.get_all("Host")
    if not host:
        return Refuse(room, 400, "no Host header")
    foreign = host_refusal(host[0], policy.allowed_hosts)
    if foreign is not None:
        return Refuse(room, 403, foreign, kind="host")
    if len(room.encode("utf-8", "surrogateescape")) > MAX_ROOM_BYTES:
        shown = room[:SHOWN_ROOM] + "…"  # the log gets a bounded part of it
        return Refuse(shown, 414, f"room path longer than {MAX_ROOM_BYTES} bytes")
    upgrade = ",".join(headers.get_all("Upgrade")).lower()
    if "websocket" not in upgrade:
        return Plain(room, request.method)
    if request.protocol != "HTTP/1.1":
        return Refuse(room, 400, "WebSocket upgrades need HTTP/1.1")
    if request.method != "GET":
        return Refuse(room, 405, "WebSocket upgrades use GET", (("Allow", "GET"),))
    origins = headers.get_all("Origin")
    token = access.presented_token(headers, params) if policy.token is not None else None
    verdict = policy_verdict(policy, origins[0] if origins else None, host[0], token, clients)
    if verdict is not None:
        extra = UNAUTHORIZED_HEADERS if verdict.status == 401 else ()
        return Refuse(room, verdict.status, verdict.reason, extra, verdict.kind)
    return Admit(
        room,
        access.clean_nick(params.get("nick")),
        clean_since(params.get("since")),
        clean_token(params.get("session")),
    )
