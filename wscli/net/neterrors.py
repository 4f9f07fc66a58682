"""Turn the OS, DNS and TLS errors of opening a connection into wscli's typed errors.

Shared by `connect` and `handshake` so the same failure reads the same everywhere.
"""

from __future__ import annotations

import socket
import ssl

from wscli.core.errors import ConnectFailed, TimedOut, WscliError, os_reason

# OpenSSL's X509_V_ERR_CERT_NOT_YET_VALID and X509_V_ERR_CERT_HAS_EXPIRED.
_OUT_OF_DATE = frozenset({9, 10})


def hostport(host: str, port: int) -> str:
    """``host:port``, with brackets around an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def describe_connect_error(
    exc: BaseException, host: str, port: int, secure: bool = False
) -> WscliError:
    """Return the :class:`WscliError` that explains why connecting to host:port failed."""
    where = hostport(host, port)
    if isinstance(exc, TimeoutError):
        return TimedOut(f"cannot connect to {where}", "timed out")
    if isinstance(exc, socket.gaierror):
        return ConnectFailed(
            f"cannot resolve host {host!r}",
            os_reason(exc),
            hint="check the host name (DNS)",
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
