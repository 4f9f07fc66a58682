"""Exit codes: part of wscli's interface, documented in --help, the man pages and README."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """What a wscli process tells its caller when it ends."""

    OK = 0
    """Success; for a connection, a normal close (1000 or 1001) or a clean end."""
    ERROR = 1
    """Any other error (a file that cannot be read, a port already in use, ...)."""
    USAGE = 2
    """Bad command line: unknown option, bad URL or scheme, invalid value."""
    CONNECT_FAILED = 3
    """Could not connect: DNS failure, connection refused, TLS failure, proxy failure."""
    HANDSHAKE_REJECTED = 4
    """The opening handshake failed: non-101 status, bad Sec-WebSocket-Accept, bad subprotocol."""
    CLOSED_ABNORMALLY = 5
    """The connection ended with a close code other than 1000/1001, or without a close frame."""
    TIMEOUT = 6
    """A network wait ran past its timeout."""
    INTERRUPTED = 130
    """Interrupted by Ctrl-C (SIGINT)."""


# One line per code, in the order shown to users (help epilogs, man pages, README).
EXIT_CODE_DESCRIPTIONS: dict[ExitCode, str] = {
    ExitCode.OK: "success; normal close (1000/1001) or clean end",
    ExitCode.ERROR: "other error",
    ExitCode.USAGE: "usage error (bad option, URL or value)",
    ExitCode.CONNECT_FAILED: "could not connect (DNS, refused, TLS, proxy)",
    ExitCode.HANDSHAKE_REJECTED: "handshake rejected (non-101 status, bad accept key)",
    ExitCode.CLOSED_ABNORMALLY: "closed abnormally (other close code, no close frame)",
    ExitCode.TIMEOUT: "timed out",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}


def exit_code_table() -> str:
    """Return the exit codes as aligned `code  meaning` lines, for help texts."""
    return "\n".join(f"{int(code):>3}  {text}" for code, text in EXIT_CODE_DESCRIPTIONS.items())


def exit_code_for_close(code: int | None) -> ExitCode:
    """Map a WebSocket close code (None: no close frame) to the process exit code."""
    if code in (1000, 1001):
        return ExitCode.OK
    return ExitCode.CLOSED_ABNORMALLY
