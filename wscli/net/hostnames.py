"""The names a listening server answers to: the allow-list of :mod:`wscli.core.hosts`,
built from the bound sockets and (for a wildcard bind) this machine's names and addresses.

Shared by `wscli serve` and `wscli proxy`, so both defeat DNS rebinding the same way.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence

from wscli.core.hosts import ANY_HOST, allowed_host_names, normal_name

WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def allowed_hosts(
    host: str, sockets: Sequence[socket.socket], extra: Iterable[str]
) -> set[str] | None:
    """The names a request's ``Host`` may carry besides the loopback ones: ``host`` (the
    ``--host`` given), the addresses ``sockets`` are bound to, for a wildcard bind this
    machine's names and addresses, and ``extra`` (``--allowed-host``); None when ``extra``
    holds ``*`` (the check is off)."""
    extra = list(extra)
    if ANY_HOST in extra:
        return None
    names = allowed_host_names(extra)
    names.add(normal_name(host))
    for sock in sockets:
        names.add(str(sock.getsockname()[0]).lower())
    if host.strip("[]") in WILDCARDS:
        hostname = socket.gethostname()
        names.update({hostname.lower(), socket.getfqdn().lower()})
        try:
            for info in socket.getaddrinfo(hostname, None):
                names.add(str(info[4][0]).lower())
        except OSError:
            pass  # a host name that does not resolve: its name still counts
    names.discard("")
    return names
