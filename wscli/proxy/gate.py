"""What `wscli proxy` refuses before it opens anything upstream (pure: no I/O).

The upstream's origin (scheme, host, port, credentials) is fixed by the command line, as
nginx's ``proxy_pass`` fixes it: a client chooses only the path and query, so the proxy
cannot be made to reach another host (no open relay, no server-side request forgery with
the operator's ``-H`` headers). In this order, each refusal a ``400`` or ``403``:

- the ``Host`` header: exactly one, naming this proxy (the allow-list of `wscli serve`,
  :mod:`wscli.core.hosts`, so a DNS-rebinding page cannot read the upstream through it);
- the request target: origin-form (``/path?query``), or absolute-form naming the proxy
  itself; asterisk-form and any other target are refused
  (:func:`wscli.core.target.origin_form`).

:func:`decide` gives the upstream URI for an accepted request: the client's path and
query, except that a WebSocket client asking for ``/`` gets the upstream URL's own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from collections.abc import Set as AbstractSet

from websockets.uri import WebSocketURI

from wscli.core.hosts import host_allowed, host_refusal, normal_name
from wscli.core.target import RequestTargetError, origin_form
from wscli.core.url import with_target


@dataclasses.dataclass(frozen=True)
class Gate:
    """The proxy's fixed upstream and the names it answers to (``allowed_hosts`` None:
    any, ``--allowed-host '*'``); ``port`` and ``tls`` are its own listening ones."""

    upstream: WebSocketURI
    allowed_hosts: AbstractSet[str] | None
    port: int
    tls: bool

    def is_own(self, host: str, port: int | None) -> bool:
        """True when ``host:port`` (from an absolute-form target) names this proxy."""
        default = 443 if self.tls else 80
        return (port or default) == self.port and host_allowed(
            normal_name(host), self.allowed_hosts
        )


@dataclasses.dataclass(frozen=True)
class Refused:
    """The answer instead of a relay: ``status`` and the ``reason`` shown and logged."""

    status: int
    reason: str


def decide(gate: Gate, target: str, hosts: Sequence[str], upgrade: bool) -> WebSocketURI | Refused:
    """The upstream URI for a request for ``target`` with the ``Host`` headers ``hosts``
    (an ``upgrade`` to WebSocket or not), or why it is refused."""
    if len(hosts) != 1:
        return Refused(400, "no Host header" if not hosts else "duplicate Host header")
    foreign = host_refusal(hosts[0], gate.allowed_hosts)
    if foreign is not None:
        return Refused(403, foreign)
    try:
        path, query = origin_form(target, gate.is_own)
    except RequestTargetError as exc:
        return Refused(400, str(exc))
    if upgrade and path == "/" and not query:
        return gate.upstream  # the upstream URL's own path and query
    return with_target(gate.upstream, path, query)
