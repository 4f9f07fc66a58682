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
import socket
import ssl
import threading
import time
import urllib.parse
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State

from wscli.core.closecodes import close_description
from wscli.core.errors import ClosedAbnormally, HandshakeRejected, TimedOut, WscliError, os_reason
from wscli.core.exitcodes import ExitCode, exit_code_for_close
from wscli.core.url import redact_url
from wscli.handshake.report import (
    BODY_SHOWN,
    CLOSE_WAIT_KEPT,
    CloseFrame,
    HandshakeReport,
    WireChunk,
)
from wscli.handshake.request import handshake_error, judge, parse_head, parsed_response, split_head
from wscli.handshake.tlsinfo import tls_info
from wscli.net.neterrors import describe_connect_error, hostport
from wscli.net.statefiles import remember_url
from wscli.net.tls import certificate_names, name_mismatch
from wscli.net.tunnel import http_connect, socks_connect
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
        proxy: str | None = None,
        inspect: bool = False,
        cafile: str | None = None,
    ) -> None:
        self.report = report
        self.inspect = inspect  # read a certificate that failed verification (--debug, --json)
        self.cafile = cafile  # --cacert, to name the names of a certificate for other names
        self.protocol = protocol
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.proxy = proxy
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
        self.close_out = False  # our close frame is written: nothing more but EOF

    def now(self) -> float:
        return self.loop.time() - self.start

    def timed(self, phase: str, since: float) -> None:
        self.report.timings[phase] = self.now() - since

    async def run(self) -> HandshakeReport:
        """Connect (through the proxy unless None), send ``report.request``, read and judge
        the response, close; fill the report and return it.

        The protocol must be the ClientProtocol that produced ``report.request``. The error,
        if any, is left in ``report.error``. ``inspect``: after a failed certificate
        verification, read the certificate over a second connection (for --debug and
        --json). ``cafile``: the --cacert behind ``ssl_context``, to read the names of a
        certificate valid for others.
        """
        report = self.report
        started = time.perf_counter()
        try:
            await self.connect()
            await self.upgrade()
            if report.error is None:
                remember_url(report.url)  # for shell completion of URL arguments
                await self.close()
        except WscliError as exc:
            report.error = exc
        except OSError as exc:  # a reset or broken pipe while writing, after connecting
            why = os_reason(exc)
            if report.verdict is None or report.error is not None:
                report.error = HandshakeRejected(f"handshake with {self.where} failed", why)
            else:
                report.error = ClosedAbnormally(f"connection to {self.where} failed", why)
        finally:
            await self.finish()
            report.timings["total"] = time.perf_counter() - started
        return report

    async def connect(self) -> None:
        """Resolve, connect over TCP (trying each address) or through the proxy, then TLS
        when secure."""
        if self.proxy is not None:
            sock = await self.tunnel()
        else:
            sock = await self.dial()
        await self.start_tls(sock)

    async def tunnel(self) -> socket.socket:
        """A connection to the server through --proxy (HTTP CONNECT or SOCKS)."""
        report, proxy = self.report, self.proxy
        assert proxy is not None
        since = self.now()
        try:
            if urllib.parse.urlsplit(proxy).scheme == "http":
                opening = http_connect(proxy, report.host, report.port)
            else:
                opening = socks_connect(proxy, report.host, report.port)
            sock = await asyncio.wait_for(opening, self.timeout)
        except asyncio.TimeoutError:
            raise TimedOut(
                f"cannot connect to {self.where} via proxy {redact_url(proxy)}",
                f"timed out after {self.timeout:g}s",
            ) from None
        finally:
            self.timed("connect", since)
        report.peer = f"{self.where} via proxy {redact_url(proxy)}"
        return sock

    async def dial(self) -> socket.socket:
        """A TCP connection to the first address of the server's that answers."""
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
        return sock

    async def start_tls(self, sock: socket.socket) -> None:
        """The stream over ``sock``, TLS first when the URL is wss://."""
        report = self.report
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
            if isinstance(exc, ssl.SSLCertVerificationError) and self.inspect:
                await self.inspect_refused(exc)
            names: list[str] = []
            if name_mismatch(exc) and self.proxy is None:  # valid, for other names: say which
                names = await certificate_names(
                    report.host, report.port, cafile=self.cafile, timeout=self.timeout
                )
            raise describe_connect_error(
                exc, report.host, report.port, self.ssl_context is not None, names
            ) from None
        finally:
            if self.ssl_context is not None:
                self.timed("tls", since)
        if self.ssl_context is not None:
            assert self.writer is not None
            ssl_object = self.writer.get_extra_info("ssl_object")
            report.tls = tls_info(ssl_object, self.ssl_context)

    async def inspect_refused(self, refused: ssl.SSLCertVerificationError) -> None:
        """After a failed verification: the certificate's details for --debug and --json,
        read over a second connection that does not verify (as ``curl -v`` shows them);
        nothing is sent on it. Within --timeout; if it fails too, nothing more is said."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["http/1.1"])
        why = refused.verify_message or refused.reason or str(refused)
        report = self.report
        first = (dict(report.timings), report.addresses, report.peer)  # the refused one's
        writer = None
        try:
            sock = await (self.tunnel() if self.proxy is not None else self.dial())
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(sock=sock, ssl=context, server_hostname=self.report.host),
                self.timeout,
            )
            report.tls = tls_info(
                writer.get_extra_info("ssl_object"),
                context,
                verify_error=why,
                trust=self.ssl_context,
            )
        except (OSError, ssl.SSLError, asyncio.TimeoutError, WscliError):
            return
        finally:
            report.timings, report.addresses, report.peer = first
            if writer is not None:
                writer.close()
                with contextlib.suppress(asyncio.TimeoutError, OSError, ssl.SSLError):
                    await asyncio.wait_for(writer.wait_closed(), EOF_GRACE)

    def send(self, phase: str) -> None:
        """Write what the protocol wants written (an empty chunk means half-close).

        Once our close frame is out, nothing more is written but EOF: the pongs websockets
        answers a ping flood with would pile up unsent behind a server that never reads.
        """
        assert self.writer is not None
        chunks = self.protocol.data_to_send()
        written = close_written(chunks)
        if written is not None and self.close_sent is None:
            self.close_sent = written
            if self.close_rcvd is None and not self.closing:
                self.failed = written
        for data in chunks:
            if data and self.close_out:
                self.report.writes_discarded += len(data)
            elif data:
                self.report.wire.append(WireChunk("sent", phase, self.now(), data))
                self.writer.write(data)
                self.close_out = close_written([data]) is not None
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
            self.record_received(phase, data)
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        self.note_frames(self.protocol.events_received())
        return data

    def record_received(self, phase: str, data: bytes) -> None:
        """Keep received bytes for the report; after the verdict (the close wait) only the
        first :data:`CLOSE_WAIT_KEPT`, counting the rest."""
        report = self.report
        if phase == "close":
            room = max(CLOSE_WAIT_KEPT - report.close_wait_received, 0)
            report.close_wait_received += len(data)
            if len(data) > room:
                report.close_wait_discarded += len(data) - room
                data = data[:room]
            if not data:
                return
        report.wire.append(WireChunk("received", phase, self.now(), data))

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


def close_frame(close: Close) -> CloseFrame:
    """Our record of a websockets Close."""
    return CloseFrame(int(close.code), close.reason)
