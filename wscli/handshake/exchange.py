"""Run one opening handshake over our own asyncio stream and record what crossed the wire.

The bytes come from websockets' sans-I/O ClientProtocol (see
:mod:`wscli.handshake.request`), so what is shown is exactly what was sent and received.
Each phase (DNS, TCP connect, TLS, upgrade round trip, close) is bounded by the same
timeout and timed. Failures are recorded in the report, not raised, so the caller can still
show what was exchanged before them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import ssl
import threading
import time
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State

from wscli.core.closecodes import close_description
from wscli.core.errors import ClosedAbnormally, HandshakeRejected, TimedOut, WscliError, os_reason
from wscli.core.exitcodes import ExitCode, exit_code_for_close
from wscli.handshake.report import BODY_SHOWN, CloseFrame, HandshakeReport, TlsInfo, WireChunk
from wscli.handshake.request import handshake_error, judge, parse_head, parsed_response, split_head
from wscli.net.neterrors import describe_connect_error, hostport
from wscli.net.statefiles import remember_url
from wscli.net.tls import client_context
from wscli.wire.engine import close_written
from wscli.wire.owner import parse_close

READ_SIZE = 65536
BODY_GRACE = 1.0
"""After a non-101 head, stop waiting for more body once the peer is quiet this long."""
EOF_GRACE = 1.0
"""After the peer's close frame, how long to wait for it to close TCP before we do."""


async def resolve(host: str, port: int) -> list[Any]:
    """getaddrinfo in a daemon thread.

    ``loop.getaddrinfo`` uses the default executor, which ``asyncio.run`` joins on the way
    out: a hung resolver would then hold the process past --timeout. A daemon thread is
    simply abandoned.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[list[Any]] = loop.create_future()

    def settle(result: list[Any] | None, exc: BaseException | None) -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result or [])

    def work() -> None:
        try:
            result, exc = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM), None
        except OSError as error:
            result, exc = None, error
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle, result, exc)

    threading.Thread(target=work, name="wscli-resolve", daemon=True).start()
    return await future


class Exchange:
    """One opening handshake with a server: the stream, the protocol and the report being
    filled, phase by phase (connect, upgrade, close)."""

    def __init__(
        self,
        report: HandshakeReport,
        protocol: ClientProtocol,
        ssl_context: ssl.SSLContext | None,
        timeout: float,
    ) -> None:
        self.report = report
        self.protocol = protocol
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.loop = asyncio.get_running_loop()
        self.start = self.loop.time()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.where = hostport(report.host, report.port)
        self.closing = False  # our close has begun
        # The close frames, from what went over the wire (the protocol's own record of
        # them is not public before the end).
        self.close_sent: Close | None = None
        self.close_rcvd: Close | None = None
        self.failed: Close | None = None  # the close websockets sent itself: a broken peer

    def now(self) -> float:
        return self.loop.time() - self.start

    def timed(self, phase: str, since: float) -> None:
        self.report.timings[phase] = self.now() - since

    async def connect(self) -> None:
        """Resolve, connect over TCP (trying each address), then TLS when secure."""
        report = self.report
        since = self.now()
        try:
            infos = await asyncio.wait_for(resolve(report.host, report.port), self.timeout)
        except asyncio.TimeoutError:
            raise TimedOut(
                f"cannot resolve host {report.host!r}", f"timed out after {self.timeout:g}s"
            ) from None
        except OSError as exc:
            raise describe_connect_error(exc, report.host, report.port) from None
        finally:
            self.timed("dns", since)
        report.addresses = [str(info[4][0]) for info in infos]

        since = self.now()
        deadline = self.loop.time() + self.timeout
        sock: socket.socket | None = None
        last: OSError | None = None
        for family, type_, proto, _, address in infos:
            candidate = socket.socket(family, type_, proto)
            candidate.setblocking(False)
            try:
                await asyncio.wait_for(
                    self.loop.sock_connect(candidate, address), deadline - self.loop.time()
                )
            except asyncio.TimeoutError:
                candidate.close()
                self.timed("connect", since)
                raise TimedOut(
                    f"cannot connect to {self.where}", f"timed out after {self.timeout:g}s"
                ) from None
            except OSError as exc:
                candidate.close()
                last = exc
                continue
            sock = candidate
            report.peer = hostport(str(address[0]), int(address[1]))
            break
        self.timed("connect", since)
        if sock is None:
            assert last is not None
            raise describe_connect_error(last, report.host, report.port)

        since = self.now()
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(
                    sock=sock,
                    ssl=self.ssl_context,
                    server_hostname=report.host if self.ssl_context else None,
                    limit=READ_SIZE,
                ),
                self.timeout,
            )
        except asyncio.TimeoutError:
            sock.close()
            raise TimedOut(
                f"TLS handshake with {self.where} failed", f"timed out after {self.timeout:g}s"
            ) from None
        except (OSError, ssl.SSLError) as exc:
            sock.close()
            raise describe_connect_error(
                exc, report.host, report.port, secure=self.ssl_context is not None
            ) from None
        finally:
            if self.ssl_context is not None:
                self.timed("tls", since)
        if self.ssl_context is not None:
            assert self.writer is not None
            ssl_object = self.writer.get_extra_info("ssl_object")
            report.tls = tls_info(ssl_object, self.ssl_context)

    def send(self, phase: str) -> None:
        """Write what the protocol wants written (an empty chunk means half-close)."""
        assert self.writer is not None
        chunks = self.protocol.data_to_send()
        written = close_written(chunks)
        if written is not None and self.close_sent is None:
            self.close_sent = written
            if self.close_rcvd is None and not self.closing:
                self.failed = written
        for data in chunks:
            if data:
                self.report.wire.append(WireChunk("sent", phase, self.now(), data))
                self.writer.write(data)
            elif self.writer.can_write_eof():
                with contextlib.suppress(OSError):  # the peer may be gone already
                    self.writer.write_eof()

    async def receive(self, phase: str, wait: float) -> bytes:
        """Read one chunk (b"" at EOF or reset) and feed it to the protocol."""
        assert self.reader is not None
        try:
            data = await asyncio.wait_for(self.reader.read(READ_SIZE), wait)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            data = b""
        if data:
            self.report.wire.append(WireChunk("received", phase, self.now(), data))
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        self.note_frames(self.protocol.events_received())
        return data

    def note_frames(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
                self.close_rcvd = parse_close(bytes(event.data))
                self.report.close_received = close_frame(self.close_rcvd)

    async def upgrade(self) -> None:
        """Send the request, read the response head (and some body after a non-101)."""
        assert self.writer is not None
        report, protocol = self.report, self.protocol
        since = self.now()
        deadline = self.loop.time() + self.timeout
        report.wire.append(WireChunk("sent", "upgrade", self.now(), report.request))
        self.writer.write(report.request)
        report.request_sent = True
        received = bytearray()
        rejected_head = False
        try:
            while protocol.state is State.CONNECTING and protocol.handshake_exc is None:
                split = split_head(bytes(received))
                if split is not None and not split[0].startswith(b"HTTP/1.1 101 "):
                    rejected_head = True
                    if len(split[1]) > BODY_SHOWN:
                        break
                remaining = deadline - self.loop.time()
                wait = min(remaining, BODY_GRACE) if rejected_head else remaining
                if wait <= 0:
                    raise asyncio.TimeoutError
                data = await self.receive("upgrade", wait)
                if not data:
                    break
                received += data
        except asyncio.TimeoutError:
            if not rejected_head:
                self.timed("upgrade", since)
                self.keep_response(bytes(received))
                raise TimedOut(
                    f"handshake with {self.where} failed",
                    f"no complete response within {self.timeout:g}s",
                ) from None
        self.timed("upgrade", since)
        self.keep_response(bytes(received))
        report.error = handshake_error(
            protocol,
            report.verdict,
            self.where,
            len(received),
            secure=self.ssl_context is not None,
        )

    def keep_response(self, received: bytes) -> None:
        """Record the head (or what arrived of it), the first KiB of body, and the verdict."""
        report = self.report
        split = split_head(received)
        if split is None:
            report.response = received
            return
        head, rest = split
        report.response = head
        report.response_complete = True
        parsed = parse_head(head)
        if parsed.status_code == 101 and not parsed_response(self.protocol):
            return  # e.g. an oversized 101 head: no verdict on headers websockets refused
        report.verdict = judge(report.request, self.protocol.handshake_exc, parsed)
        if report.verdict.status_code != 101:
            report.body = rest[:BODY_SHOWN]
            report.body_truncated = len(rest) > BODY_SHOWN

    def broken(self) -> str | None:
        """Why websockets failed the connection (a protocol error), if it did: the reason of
        the close frame it sent on its own."""
        return self.failed.reason if self.failed is not None else None

    async def close(self) -> None:
        """Close cleanly with 1000; wait (bounded) for the peer's close frame and its EOF."""
        protocol = self.protocol
        since = self.now()
        deadline = self.loop.time() + self.timeout
        self.send("close")  # what websockets has to send on its own first (a failure)
        self.closing = True
        if protocol.state is State.OPEN:
            protocol.send_close(1000)
        self.send("close")
        if self.close_sent is not None:
            self.report.close_sent = close_frame(self.close_sent)
        try:
            while protocol.state is not State.CLOSED:
                remaining = deadline - self.loop.time()
                if self.close_rcvd is not None or self.broken() is not None:
                    remaining = min(remaining, EOF_GRACE)  # only the TCP close is left
                if remaining <= 0:
                    raise asyncio.TimeoutError
                data = await self.receive("close", remaining)
                self.send("close")
                if not data:
                    break
        except asyncio.TimeoutError:
            if self.close_rcvd is None and self.broken() is None:
                self.timed("close", since)
                raise TimedOut(
                    f"closing the connection to {self.where} failed",
                    f"no close frame within {self.timeout:g}s",
                ) from None
        self.timed("close", since)
        received = self.report.close_received
        broken = self.broken()
        if received is None and broken is not None:
            # websockets answered with its own close (1002, 1009...): say what was wrong.
            sent = self.close_sent
            raise ClosedAbnormally(
                f"connection to {self.where} closed abnormally",
                f"the server broke the protocol: {broken}",
                code=None if sent is None else int(sent.code),
            )
        if received is None:
            raise ClosedAbnormally(
                f"closing the connection to {self.where} failed",
                "the server closed the connection without a close frame",
            )
        if exit_code_for_close(received.code) is not ExitCode.OK:
            raise ClosedAbnormally(
                f"connection to {self.where} closed abnormally",
                f"close code {close_description(received.code, received.reason)}",
                code=received.code,
                reason=received.reason,
            )

    async def finish(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(asyncio.TimeoutError, OSError, ssl.SSLError):
                await asyncio.wait_for(self.writer.wait_closed(), EOF_GRACE)


async def run_handshake(
    report: HandshakeReport,
    protocol: ClientProtocol,
    ssl_context: ssl.SSLContext | None,
    timeout: float,
) -> HandshakeReport:
    """Connect, send ``report.request``, read and judge the response, close; fill ``report``.

    ``protocol`` must be the ClientProtocol that produced ``report.request``. The error, if
    any, is left in ``report.error``.
    """
    run = Exchange(report, protocol, ssl_context, timeout)
    started = time.perf_counter()
    try:
        await run.connect()
        await run.upgrade()
        if report.error is None:
            remember_url(report.url)  # for shell completion of URL arguments
            await run.close()
    except WscliError as exc:
        report.error = exc
    except OSError as exc:  # a reset or broken pipe while writing, after connecting
        why = os_reason(exc)
        if report.verdict is None or report.error is not None:
            report.error = HandshakeRejected(f"handshake with {run.where} failed", why)
        else:
            report.error = ClosedAbnormally(f"connection to {run.where} failed", why)
    finally:
        await run.finish()
        report.timings["total"] = time.perf_counter() - started
    return report


def close_frame(close: Close) -> CloseFrame:
    """Our record of a websockets Close."""
    return CloseFrame(int(close.code), close.reason)


def tls_context(*, insecure: bool = False, cafile: str | None = None) -> ssl.SSLContext:
    """A verifying client context (see :mod:`wscli.net.tls`) offering ALPN http/1.1, as browsers do
    for WebSocket over HTTP/1.1."""
    context = client_context(insecure=insecure, cafile=cafile)
    context.set_alpn_protocols(["http/1.1"])
    return context


def tls_info(ssl_object: ssl.SSLObject | None, context: ssl.SSLContext) -> TlsInfo | None:
    """The TLS version, cipher, ALPN and (when verified) the certificate of a connection."""
    if ssl_object is None:
        return None
    cipher = ssl_object.cipher()
    verified = context.verify_mode != ssl.CERT_NONE
    cert: dict[str, Any] = dict(ssl_object.getpeercert() or {}) if verified else {}
    return TlsInfo(
        version=ssl_object.version(),
        cipher=cipher[0] if cipher else None,
        bits=cipher[2] if cipher else None,
        alpn=ssl_object.selected_alpn_protocol(),
        verified=verified,
        subject=_name(cert.get("subject")),
        issuer=_name(cert.get("issuer")),
        san=[f"{kind}:{value}" for kind, value in cert.get("subjectAltName", ())],
        not_before=cert.get("notBefore"),
        not_after=cert.get("notAfter"),
        sha256=fingerprint(ssl_object.getpeercert(binary_form=True)),
    )


def fingerprint(der: bytes | None) -> str | None:
    """``AB:CD:...``: the SHA-256 fingerprint of a DER certificate, as browsers show it."""
    if not der:
        return None
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


_SHORT_NAMES = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
}


def _name(rdns: Any) -> str | None:
    """A certificate name as ``CN=..., O=...`` (the short forms of RFC 4514)."""
    if not rdns:
        return None
    return ", ".join(f"{_SHORT_NAMES.get(k, k)}={v}" for rdn in rdns for k, v in rdn)
