"""Typed errors raised by wscli's lower layers; the CLI turns them into text and exit codes.

Nothing here does I/O: :func:`format_error` renders the one line shown on stderr.

An error's ``what``, ``why`` and ``hint`` may quote the network (an HTTP reason phrase, a
close reason, a Socket.IO refusal, a header value): they are kept as received, and
:func:`format_error` escapes the whole line for the terminal, so no raiser has to remember
to. Machine-readable outputs take :func:`error_text` (raw) and escape it their own way
(:mod:`wscli.core.ndjson`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wscli.core.escape import escape_control
from wscli.core.exitcodes import ExitCode

if TYPE_CHECKING:
    from wscli.core.refusal import Refusal

NO_ANSWER_HINT = "is it a TLS port (try wss://), or the wrong path?"
"""Hint when a ws:// server hangs up on the upgrade request without a word."""
CLIENT_CERT_HINT = "does it require a client certificate (--cert/--key)?"
"""Hint when a TLS server hangs up before any HTTP answer: typically a client certificate
it requires (TLS 1.3 reports that only after the handshake) or did not accept."""
QUOTE_MAX = 240
"""Characters of a server's own words (:attr:`WscliError.quote`) kept in an error line
that no terminal width bounds (a pipe, --json)."""
QUOTE_MIN = 24
"""Characters of the quote shown however narrow the terminal."""


class WscliError(Exception):
    """Base of every error wscli reports to the user.

    ``what`` says what failed, ``why`` the cause, ``hint`` a likely fix when one is known.
    """

    exit_code: ExitCode = ExitCode.ERROR
    quote: str | None = None
    """The server's own words about it (the first line of a refusal's body), shown after
    ``why`` and cut to fit the terminal's width."""

    def __init__(self, what: str, why: str | None = None, hint: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.why = why
        self.hint = hint

    def __str__(self) -> str:
        return format_error(self, prefix="")


class UsageProblem(WscliError):
    """The command line was wrong: a bad URL, scheme, key, header or value."""

    exit_code = ExitCode.USAGE


class ConnectFailed(WscliError):
    """The TCP, TLS or proxy connection could not be made (DNS, refused, TLS)."""

    exit_code = ExitCode.CONNECT_FAILED


class HandshakeRejected(WscliError):
    """The server answered the upgrade request, but not with a valid 101."""

    exit_code = ExitCode.HANDSHAKE_REJECTED

    def __init__(
        self,
        what: str,
        why: str | None = None,
        hint: str | None = None,
        *,
        status: int | None = None,
        refusal: Refusal | None = None,
    ) -> None:
        super().__init__(what, why, hint)
        self.status = status if refusal is None else refusal.status
        self.refusal = refusal
        """The server's answer (status, headers, bounded body), when it gave one."""
        if refusal is not None:
            self.quote = refusal.first_line or None


class ClosedAbnormally(WscliError):
    """The connection ended with an abnormal close code, or with no close frame."""

    exit_code = ExitCode.CLOSED_ABNORMALLY

    def __init__(
        self,
        what: str,
        why: str | None = None,
        hint: str | None = None,
        *,
        code: int | None = None,
        reason: str = "",
    ) -> None:
        super().__init__(what, why, hint)
        self.code = code
        self.reason = reason


class TimedOut(WscliError):
    """A network wait ran past its timeout."""

    exit_code = ExitCode.TIMEOUT


class NoReply(WscliError):
    """The server fell silent before the replies a pipe waited for came: a slow or quiet
    server, not a failed connection (never worth a reconnect)."""

    exit_code = ExitCode.NO_REPLY


def os_reason(exc: BaseException) -> str:
    """Why an OS-level call failed, in lower case: ``connection refused``, ``no such file or
    directory``; the message (or the exception's name) when there is no strerror."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return (str(exc) or type(exc).__name__).lower()


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def error_text(error: WscliError, quote: str | None = None) -> str:
    """``error`` as one line of text, unescaped: for writers that escape on their own.

    The server's words (``error.quote``, or ``quote`` instead) follow ``why``, cut at
    :data:`QUOTE_MAX` characters.
    """
    text = error.what
    if error.why:
        text = f"{text}: {error.why}"
    said = quote if quote is not None else error.quote
    if said:
        text = f"{text}: {_cut(said, QUOTE_MAX)}"
    if error.hint:
        text = f"{text} (hint: {error.hint})"
    # One line, always: a multi-line cause (e.g. from an OS error) is folded.
    return " ".join(text.split())


def format_error(
    error: WscliError, prefix: str = "wscli: error: ", width: int | None = None
) -> str:
    """Render ``error`` as the single line shown on stderr, control characters escaped.

    Every error line wscli prints passes here, so text a server chose (``\\e]52;…``,
    C1 bytes, bidi overrides) reaches the terminal as inert escapes. ``width``: the
    terminal's columns; the server's words (``error.quote``) are cut so the line fits
    (keeping at least :data:`QUOTE_MIN` characters of them).
    """
    quote = error.quote
    if quote and width is not None:
        quote = " ".join(escape_control(quote, keep_newlines=False).split())
        rest = len(prefix) + len(escape_control(error_text(error, quote=""), keep_newlines=False))
        quote = _cut(quote, max(width - rest - len(": "), QUOTE_MIN))
    return prefix + escape_control(error_text(error, quote), keep_newlines=False)
