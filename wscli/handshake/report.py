"""What one `wscli handshake` run saw: plain data, filled by the asyncio code, read by the
renderer (so rendering stays pure and testable with hand-made reports)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from wscli.core.errors import WscliError
from wscli.handshake.request import Verdict

BODY_SHOWN = 1024
"""Bytes of a non-101 response body that are kept and shown."""
CLOSE_WAIT_KEPT = 64 * 1024
"""Bytes received while waiting for the server's close frame that are kept (for the
``--debug`` hex dump); the rest are counted and discarded. A server that answers 101 and
then floods frames without ever closing made the old report hold every byte (300 MB of
flood: 885 MB RSS)."""


@dataclasses.dataclass(frozen=True)
class WireChunk:
    """Bytes that crossed the wire in one read or write."""

    direction: Literal["sent", "received"]
    phase: str
    at: float
    """Seconds since the run started."""
    data: bytes


@dataclasses.dataclass(frozen=True)
class CertInfo:
    """One certificate as ``--debug`` shows it (the server's words: escaped when printed)."""

    subject: str
    issuer: str
    not_before: str
    not_after: str
    """``2030-01-01 00:00:00 UTC``."""
    expired: bool = False
    not_yet_valid: bool = False
    san: list[str] = dataclasses.field(default_factory=list)
    san_more: int = 0
    sha256: str | None = None
    self_signed: bool = False


@dataclasses.dataclass(frozen=True)
class TlsInfo:
    """The negotiated TLS session and the server's certificate, its chain, and whether it
    was verified (and why not)."""

    version: str | None
    cipher: str | None
    bits: int | None
    alpn: str | None
    verified: bool
    certificate: CertInfo | None = None
    chain: list[CertInfo] = dataclasses.field(default_factory=list)
    """The issuers above the certificate, nearest first."""
    chain_from: str | None = None
    """Where the chain was read: "server" (what it sent) or "trust store" (the issuers
    found there by name: Python before 3.13 cannot read what the server sent)."""
    verify_error: str | None = None
    """Why verification failed: the details were read over a second connection that did
    not verify."""
    unreadable: str | None = None
    """Why the certificate could not be read (it is then not shown)."""


@dataclasses.dataclass(frozen=True)
class CloseFrame:
    """A close frame's code and reason (``closecodes.close_description`` says them)."""

    code: int
    reason: str


@dataclasses.dataclass
class HandshakeReport:
    """Everything one handshake run saw, in the order it happened."""

    url: str
    host: str
    port: int
    secure: bool
    request: bytes
    request_sent: bool = False
    """False when the connection failed first (then the request is not shown as sent)."""
    addresses: list[str] = dataclasses.field(default_factory=list)
    peer: str | None = None
    response: bytes = b""
    """The response head (with its blank line), or whatever arrived when it was incomplete."""
    response_complete: bool = False
    body: bytes = b""
    """The first :data:`BODY_SHOWN` bytes after a non-101 head."""
    body_truncated: bool = False
    verdict: Verdict | None = None
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    """Seconds per phase: dns, connect, tls, upgrade, close, total (those that ran)."""
    tls: TlsInfo | None = None
    close_sent: CloseFrame | None = None
    close_received: CloseFrame | None = None
    wire: list[WireChunk] = dataclasses.field(default_factory=list)
    close_wait_received: int = 0
    """Bytes received after the verdict, while waiting for the close (kept or not)."""
    close_wait_discarded: int = 0
    """Of those, the bytes past :data:`CLOSE_WAIT_KEPT`: counted, not kept."""
    writes_discarded: int = 0
    """Bytes the protocol would have sent after our close frame (pongs to a ping flood):
    nothing but the close frame and EOF goes out once closing has begun."""
    error: WscliError | None = None
    offline: bool = False
    redirected_to: str | None = None
    """With -L: the URL this hop's redirect was followed to."""
    dropped_credentials: bool = False
    """... and -H headers and --auth were not sent on (another host)."""
