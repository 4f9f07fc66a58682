"""Turn the OS, DNS and TLS errors of opening a connection into wscli's typed errors.

Shared by `connect` and `handshake` so the same failure reads the same everywhere.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
from collections.abc import Sequence
from typing import Any

from wscli.core.errors import ConnectFailed, TimedOut, WscliError, os_reason
from wscli.net.tls import NAMES_SHOWN, name_mismatch

# OpenSSL's X509_V_ERR_CERT_NOT_YET_VALID and X509_V_ERR_CERT_HAS_EXPIRED.
_OUT_OF_DATE = frozenset({9, 10})


def hostport(host: str, port: int) -> str:
    """``host:port``, with brackets around an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen_error(host: str, port: int, exc: OSError, option: str = "--port") -> WscliError:
    """One line saying why ``host:port`` cannot be listened on, with the likely fix in
    terms of ``option`` (the one that named the port: ``--port``, ``--control``)."""
    where = f"cannot listen on {hostport(host.strip('[]'), port)}"
    if option != "--port":
        where += f" for {option}"
    host_option = "--host" if option == "--port" else f"{option}'s host"
    if isinstance(exc, socket.gaierror):
        return WscliError(
            where, os_reason(exc), f"{host_option} takes an address or a name of this machine"
        )
    # asyncio wraps the bind error in a long sentence; the errno says it shortly.
    why = os.strerror(exc.errno).lower() if exc.errno else str(exc)
    hint = {
        errno.EADDRINUSE: f"pick another {option}, or {option} 0 for a free one",
        errno.EACCES: f"ports below 1024 need privileges: pick a {option} above 1023",
        errno.EADDRNOTAVAIL: f"{host_option} must be an address of this machine, e.g. "
        "127.0.0.1 or 0.0.0.0 for all",
    }.get(exc.errno or 0)
    return WscliError(where, why, hint)


def format_address(address: Any) -> str:
    """``host:port`` (``[v6]:port``) from a socket address, or ``?``."""
    if isinstance(address, tuple) and len(address) >= 2:
        return hostport(str(address[0]), address[1])
    return "?"


def peer_host(peer: Any) -> str:
    """The address of a peer (``transport.get_extra_info("peername")``), or ``?``."""
    return str(peer[0]) if isinstance(peer, tuple) and peer else "?"


def describe_connect_error(
    exc: BaseException,
    host: str,
    port: int,
    secure: bool = False,
    cert_names: Sequence[str] = (),
) -> WscliError:
    """Return the :class:`WscliError` that explains why connecting to host:port failed.

    ``cert_names``: for a certificate that is valid but for other names, the names it has
    (see :func:`wscli.net.tls.certificate_names`), quoted in the hint.
    """
    where = hostport(host, port)
    if isinstance(exc, TimeoutError):
        return TimedOut(f"cannot connect to {where}", "timed out")
    if isinstance(exc, socket.gaierror):
        return ConnectFailed(
            f"cannot resolve host {host!r}",
            os_reason(exc),
            hint="check the host name (DNS)",
        )
    if isinstance(exc, ssl.SSLCertVerificationError) and name_mismatch(exc):
        shown = ", ".join(cert_names[:NAMES_SHOWN])
        if len(cert_names) > NAMES_SHOWN:
            shown += f" and {len(cert_names) - NAMES_SHOWN} more"
        return ConnectFailed(
            f"TLS handshake with {where} failed",
            exc.verify_message or exc.reason or str(exc),
            hint=f"the certificate is for {shown}: use a URL with one of those names"
            if shown
            else "the certificate is for other names than this one",
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        advice = "pass --cacert FILE to trust its CA, or -k/--insecure to skip verification"
        if exc.verify_code in _OUT_OF_DATE:  # trusting its CA would not help
            advice = "the server must renew it; -k/--insecure skips verification"
        return ConnectFailed(
            f"TLS handshake with {where} failed",
            exc.verify_message or exc.reason or str(exc),
            hint=advice,
        )
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or str(exc)
        hint = None
        if reason in {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"}:
            hint = "wss:// to a plain-text port? try ws://"
        return ConnectFailed(f"TLS handshake with {where} failed", reason.lower(), hint=hint)
    if isinstance(exc, ConnectionRefusedError):
        return ConnectFailed(
            f"cannot connect to {where}", "connection refused", hint="is the server running?"
        )
    if isinstance(exc, ConnectionResetError | BrokenPipeError) and secure:
        return ConnectFailed(
            f"TLS handshake with {where} failed",
            "connection reset",
            hint="is this a TLS port? try ws://",
        )
    if isinstance(exc, OSError):
        return ConnectFailed(f"cannot connect to {where}", os_reason(exc))
    return ConnectFailed(f"cannot connect to {where}", str(exc) or type(exc).__name__)
