"""The ``Host`` allow-list: which names a request may give for this server (pure: no I/O).

DNS rebinding: a web page on ``rebind.attacker.example`` whose name is made to resolve to
127.0.0.1 is, for the browser, its own origin, so it may read every answer of a server on
the visitor's machine. The request still names ``rebind.attacker.example`` in its ``Host``
header, so a server that answers only the names it knows defeats it. `wscli serve` and
`wscli proxy` apply this one rule to every request (page, ``/healthz``, WebSocket, anything
passed through):

- loopback names and addresses (``localhost``, ``*.localhost``, 127.0.0.0/8, ``::1``) are
  always allowed;
- other names must be in the allow-list: the bound address, for a wildcard bind this
  machine's names and addresses (see :func:`wscli.net.hostnames.allowed_hosts`), and every
  ``--allowed-host NAME``;
- ``--allowed-host '*'`` (the allow-list None) answers any ``Host``: for use behind a proxy
  that checks it, since DNS rebinding is then possible again.
"""

from __future__ import annotations

import contextlib
import ipaddress
import urllib.parse
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet

from wscli.core.errors import UsageProblem
from wscli.core.options import option

ANY_HOST = "*"
"""The ``--allowed-host`` value that turns the check off."""


def host_name(host_header: str | None) -> str | None:
    """The host name of a ``Host`` header (``name[:port]``, ``[v6]:port``), lower case,
    without a trailing dot; None when it is not one."""
    if host_header is None:
        return None
    value = host_header.strip()
    if not value or any(ch.isspace() or ch in "/?#@\\" for ch in value):
        return None
    try:
        parts = urllib.parse.urlsplit(f"//{value}")
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    name = parts.hostname
    return name.rstrip(".").lower() if name else None


def host_port(host_header: str | None) -> int | None:
    """The port a ``Host`` header names (None: none given, or not a ``Host``)."""
    if host_name(host_header) is None:
        return None
    assert host_header is not None
    return urllib.parse.urlsplit(f"//{host_header.strip()}").port


_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(name: str) -> bool:
    """True for ``localhost`` names and loopback addresses (127.0.0.0/8, ::1; brackets and
    case ignored): what a loopback-only listener answers to, never sent through a proxy."""
    name = name.strip("[]").lower()
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_allowed(name: str | None, allowed: AbstractSet[str] | None) -> bool:
    """Whether a request naming host ``name`` is for this server (``allowed`` None: any).

    Loopback names always are; others must be in ``allowed`` (see the module docstring).
    """
    if allowed is None:
        return True
    if name is None:
        return False
    return name in allowed or is_loopback(name)


def host_refusal(host_header: str | None, allowed: AbstractSet[str] | None) -> str | None:
    """Why a request with this ``Host`` header is not for this server (the reason logged
    with its 403), or None when it is. ``allowed`` None: every ``Host`` is (``*``)."""
    if allowed is None:
        return None
    name = host_name(host_header)
    if host_allowed(name, allowed):
        return None
    shown = name if name is not None else "(invalid)"
    return f"host {shown} not allowed (see --allowed-host)"


def check_host_option(value: str) -> str | None:
    """Why ``value`` cannot be an ``--allowed-host`` entry, or None if it can."""
    if value == ANY_HOST:
        return None
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(value.strip("[]"))
        return None
    name = host_name(value)
    if name is None or name != value.strip().rstrip(".").lower():
        return "expected * or a host name or address without a port, e.g. chat.example.com"
    return None


def allowed_host_option() -> Sequence[str]:
    """The ``--allowed-host`` option (one definition; `serve` and `proxy` each hold it)."""
    return option(
        "--allowed-host",
        multiple=True,
        metavar="NAME",
        default=(),
        help="Also answer requests whose Host is NAME (repeatable). By default only loopback "
        "names, the bound address and, for 0.0.0.0 or ::, this machine's names and addresses "
        "are answered (others get 403: defeats DNS rebinding). '*' answers any Host: then a "
        "web page on a name that resolves to this machine can read what is served here.",
    )


def check_allowed_hosts(values: Iterable[str]) -> None:
    """Raise :class:`UsageProblem` for an ``--allowed-host`` value that is no host name."""
    for value in values:
        why = check_host_option(value)
        if why is not None:
            raise UsageProblem(f"invalid --allowed-host {value!r}", why)


def allowed_host_names(values: Iterable[str]) -> set[str]:
    """``--allowed-host`` values as :func:`host_name` gives them (``*`` left out)."""
    names = set()
    for value in values:
        if value != ANY_HOST:
            names.add(normal_name(value))
    return names


def normal_name(value: str) -> str:
    """A host name or address as the allow-list holds it: no brackets, no trailing dot,
    lower case."""
    return value.strip().strip("[]").rstrip(".").lower()
