"""Exit codes: part of wscli's interface, documented in --help, the man pages and README."""

from __future__ import annotations

import enum

from wscli.core.closecodes import NORMAL_CLOSE_CODES


class ExitCode(enum.IntEnum):
    """What a wscli process tells its caller when it ends."""

    OK = 0
    """Success; for a connection, a normal close (1000, 1001, or a close frame without a
    code, 1005) or a clean end."""
    ERROR = 1
    """Any other error (a file that cannot be read, a port already in use, ...)."""
    USAGE = 2
    """Bad command line: unknown option, bad URL or scheme, invalid value."""
    CONNECT_FAILED = 3
    """Could not connect: DNS failure, connection refused, TLS failure, proxy failure."""
    HANDSHAKE_REJECTED = 4
    """The opening handshake failed: non-101 status, bad Sec-WebSocket-Accept, bad subprotocol."""
    CLOSED_ABNORMALLY = 5
    """The connection ended with another close code, or without a close frame (1006)."""
    TIMEOUT = 6
    """A network wait ran past its timeout."""
    MISMATCH = 7
    """`wscli replay`: the conversation differed from the recording."""
    NO_REPLY = 8
    """The server fell silent before the replies came: the wait after stdin ended (--idle)
    ran out with no message after the last one sent, or fewer than --count."""
    INTERRUPTED = 130
    """Interrupted by Ctrl-C (SIGINT)."""


NORMAL_CLOSES = "/".join(str(c) for c in sorted(NORMAL_CLOSE_CODES) if c != 1005)
"""The close codes that exit 0, as said to users (1005 is "a close frame without a code")."""

# One line per code, in the order shown to users (help epilogs, man pages, README).
EXIT_CODE_DESCRIPTIONS: dict[ExitCode, str] = {
    ExitCode.OK: f"success; normal close ({NORMAL_CLOSES}, or no code) or clean end",
    ExitCode.ERROR: "other error",
    ExitCode.USAGE: "usage error (bad option, URL or value)",
    ExitCode.CONNECT_FAILED: "could not connect (DNS, refused, TLS, proxy)",
    ExitCode.HANDSHAKE_REJECTED: "handshake rejected (non-101 status, bad accept key)",
    ExitCode.CLOSED_ABNORMALLY: "closed abnormally (other close code, no close frame)",
    ExitCode.TIMEOUT: "timed out",
    ExitCode.MISMATCH: "replay: the conversation differed from the recording",
    ExitCode.NO_REPLY: "no reply: silence (--idle) ended the wait before the replies came",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}


def exit_code_table() -> str:
    """Return the exit codes as aligned `code  meaning` lines, for help texts."""
    return "\n".join(f"{int(code):>3}  {text}" for code, text in EXIT_CODE_DESCRIPTIONS.items())


def server_close_sentence() -> str:
    """How a close by the server ends `connect`, from the same source as the table and
    :func:`exit_code_for_close` (so help, man page and code cannot drift apart)."""
    return (
        f"A close by the server exits {int(ExitCode.OK)} for {NORMAL_CLOSES} (or no code), "
        f"{int(ExitCode.CLOSED_ABNORMALLY)} for any other code or no close frame"
    )


def exit_code_for_close(code: int | None) -> ExitCode:
    """Map a WebSocket close code (None: no close frame) to the process exit code.

    A close frame without a status code (seen as 1005) is a deliberate, clean close by the
    peer, so it counts as normal; 1006 (no close frame at all) does not.
    """
    if code in NORMAL_CLOSE_CODES:
        return ExitCode.OK
    return ExitCode.CLOSED_ABNORMALLY
