"""The opening handshake's answer without I/O: judge the response (RFC 6455 §4).

The request is `wscli connect`'s own (:mod:`wscli.core.clientrequest`); websockets' sans-I/O
:class:`~websockets.client.ClientProtocol` validates the response, and this module turns
what came back into a :class:`Verdict` a human can read (expected vs received) and a
:class:`~wscli.core.errors.WscliError` when it is not a valid 101.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from websockets.client import ClientProtocol
from websockets.exceptions import (
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidMessage,
    InvalidStatus,
    InvalidUpgrade,
    NegotiationError,
    SecurityError,
)
from websockets.headers import parse_extension
from websockets.http11 import MAX_LINE_LENGTH, MAX_NUM_HEADERS

from wscli.core.accept import accept_for
from wscli.core.errors import CLIENT_CERT_HINT, NO_ANSWER_HINT, HandshakeRejected, WscliError
from wscli.core.escape import escape_control

HEAD_END = b"\r\n\r\n"


def split_head(data: bytes) -> tuple[bytes, bytes] | None:
    """Split received bytes into the response head (with its blank line) and the rest."""
    end = data.find(HEAD_END)
    if end < 0:
        return None
    return data[: end + len(HEAD_END)], data[end + len(HEAD_END) :]


@dataclasses.dataclass(frozen=True)
class ResponseHead:
    """The status line and header lines of a response, as text (no validation)."""

    status_code: int | None
    reason: str
    headers: list[tuple[str, str]]
    status_text: str = ""
    """The status code as the server wrote it (what is shown when it is not one)."""

    def get_all(self, name: str) -> list[str]:
        """Every value of the header ``name`` (case-insensitive), in order."""
        return [v for n, v in self.headers if n.lower() == name.lower()]


def parse_head(head: bytes) -> ResponseHead:
    """Read a response head leniently, for display; websockets does the strict validation."""
    lines = head.decode("iso-8859-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    # ASCII digits only: isdigit() also accepts "²", which int() refuses (a traceback).
    code = parts[1] if len(parts) > 1 else ""
    status_code = int(code) if len(code) == 3 and code.isascii() and code.isdigit() else None
    reason = parts[2] if len(parts) > 2 else ""
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip(), value.strip()))
    return ResponseHead(status_code, reason, headers, code)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What the response said against what the request asked for."""

    status_code: int | None
    reason: str
    accept_expected: str
    accept_received: list[str]
    subprotocols_offered: list[str]
    subprotocols_received: list[str]
    extensions_offered: str | None
    extensions_received: list[tuple[str, list[tuple[str, str | None]]]]
    extensions_error: str | None = None
    status_text: str = ""
    """The status code as written, for a response whose status is not a number."""

    @property
    def status_ok(self) -> bool:
        return self.status_code == 101

    @property
    def accept_ok(self) -> bool:
        return self.accept_received == [self.accept_expected]

    @property
    def subprotocol_ok(self) -> bool:
        received = self.subprotocols_received
        return not received or (len(received) == 1 and received[0] in self.subprotocols_offered)

    @property
    def subprotocol_ignored(self) -> bool:
        """Subprotocols were offered and the server chose none: legal (RFC 6455 §4.1), and
        the classic reason a client and a server talk past each other (graphql-ws)."""
        return bool(self.subprotocols_offered) and not self.subprotocols_received

    @property
    def extensions_ok(self) -> bool:
        return self.extensions_error is None

    @property
    def ok(self) -> bool:
        return self.status_ok and self.accept_ok and self.subprotocol_ok and self.extensions_ok


def judge(request: bytes, failure: Exception | None, head: ResponseHead) -> Verdict:
    """Compare ``head`` with the ``request`` sent (its exact bytes: an -H override of the
    key or the subprotocols is what the answer must match); ``failure`` is websockets'
    verdict on the answer (``handshake_exc``)."""
    sent = parse_head(request)
    received: list[str] = []
    for value in head.get_all("Sec-WebSocket-Protocol"):
        received.extend(item.strip() for item in value.split(",") if item.strip())
    extensions: list[tuple[str, list[tuple[str, str | None]]]] = []
    error = None
    for value in head.get_all("Sec-WebSocket-Extensions"):
        try:
            extensions.extend((name, list(params)) for name, params in parse_extension(value))
        except InvalidHeaderFormat as bad:
            error = escape_control(str(bad), keep_newlines=False)
    # websockets raises NegotiationError for extensions and subprotocols alike; only the
    # message tells them apart ("no subprotocols supported", "unsupported subprotocol: x").
    if isinstance(failure, NegotiationError) and "subprotocol" not in str(failure):
        error = escape_control(str(failure), keep_newlines=False)
    offered = [
        item.strip()
        for value in sent.get_all("Sec-WebSocket-Protocol")
        for item in value.split(",")
        if item.strip()
    ]
    keys = sent.get_all("Sec-WebSocket-Key")
    return Verdict(
        status_code=head.status_code,
        reason=head.reason,
        accept_expected=accept_for(keys[-1] if keys else ""),
        accept_received=head.get_all("Sec-WebSocket-Accept"),
        subprotocols_offered=offered,
        subprotocols_received=received,
        extensions_offered=", ".join(sent.get_all("Sec-WebSocket-Extensions")) or None,
        extensions_received=extensions,
        extensions_error=error,
        status_text=head.status_text,
    )


def format_extension(name: str, params: Sequence[tuple[str, str | None]]) -> str:
    """``name; key=value; flag`` as in a Sec-WebSocket-Extensions header."""
    return "; ".join([name, *(k if v is None else f"{k}={v}" for k, v in params)])


def handshake_error(
    protocol: ClientProtocol,
    verdict: Verdict | None,
    where: str,
    received: int,
    *,
    secure: bool = False,
) -> WscliError | None:
    """The error to report for this handshake, or None when it was a valid 101.

    Its text quotes the server raw; :func:`wscli.core.errors.format_error` escapes it.

    ``received`` is how many bytes came back, to say "closed before any response";
    ``secure``: over TLS (a plain ws:// to a TLS port is the usual cause of no answer).
    """
    what = f"handshake with {where} failed"
    if verdict is not None and verdict.status_code is not None and not verdict.status_ok:
        return HandshakeRejected(
            f"server at {where} rejected the upgrade",
            f"HTTP {verdict.status_code} {verdict.reason}".rstrip(),
            status=verdict.status_code,
        )
    exc = protocol.handshake_exc
    if exc is None:
        return None
    if isinstance(exc, InvalidUpgrade):
        return HandshakeRejected(what, str(exc))
    if verdict is not None and not verdict.accept_ok and isinstance(exc, InvalidHeader):
        got = ", ".join(verdict.accept_received) or "none"
        return HandshakeRejected(
            what, f"wrong Sec-WebSocket-Accept: expected {verdict.accept_expected}, received {got}"
        )
    if verdict is not None and not verdict.subprotocol_ok:
        offered = ", ".join(verdict.subprotocols_offered) or "none"
        got = ", ".join(verdict.subprotocols_received)
        return HandshakeRejected(
            what, f"server chose subprotocol {got!r}, which was not offered (offered: {offered})"
        )
    if isinstance(exc, InvalidHeader | InvalidStatus | NegotiationError):
        return HandshakeRejected(what, str(exc))
    hint = None
    if received == 0:
        # ws:// to a TLS port: the server hangs up on plain text; over TLS, typically a
        # client certificate it requires (TLS 1.3 says so only after the handshake).
        hint = CLIENT_CERT_HINT if secure else NO_ANSWER_HINT
    return HandshakeRejected(what, _describe_message_error(exc, received), hint=hint)


def _describe_message_error(exc: Exception, received: int) -> str:
    cause = exc.__cause__ if isinstance(exc, InvalidMessage) and exc.__cause__ else exc
    if isinstance(cause, EOFError):
        if received == 0:
            return "the server closed the connection without answering"
        return f"the server closed the connection mid-response ({received} bytes received)"
    text = str(cause)  # it quotes peer bytes: format_error escapes them
    if isinstance(cause, SecurityError):
        limits = f"limits: {MAX_LINE_LENGTH}-byte lines, {MAX_NUM_HEADERS} headers"
        return f"response head too large: {text} ({limits})"
    return f"malformed response: {text}"


def parsed_response(protocol: ClientProtocol) -> bool:
    """False when websockets could not parse the response as HTTP (no verdict then)."""
    return not isinstance(protocol.handshake_exc, InvalidMessage | SecurityError)
