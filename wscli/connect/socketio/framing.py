"""HTTP/1.1 message framing for Engine.IO long-polling, on h11 (sans-I/O: bytes in, a
response out; the socket, TLS and proxy stay in :mod:`wscli.connect.socketio.http`).

Why h11 rather than our own reader: the hand-written one misread framing that RFC 9112
allows — a ``100 Continue`` before the answer (exit 4), a body delimited by closing the
connection (§6.3: "not a Socket.IO server"), chunked trailers (§7.1.2: the next request
read the trailer as its answer, stalling or duplicating emits). h11 is small, pure Python
and does exactly this.

Every response is hostile until read, so it is bounded here, whatever h11 allows:

- the head: :data:`MAX_HEAD` bytes (h11's incomplete-event limit) and :data:`MAX_HEADERS`;
- the body's data: ``max_body`` bytes (``--max-size``), refused from its Content-Length
  before it is read;
- the framing around the data (1xx heads, chunk sizes and extensions, trailers): at most
  :data:`MAX_FRAMING` bytes plus as many as the data itself. Chunk extensions were not
  counted at all: a server could keep the client parsing them until its own poll timeout.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import h11

MAX_HEAD = 65536
"""Most bytes of a status line plus headers."""
MAX_HEADERS = 100
MAX_FRAMING = 2 * MAX_HEAD
"""Bytes of a response besides its body's data that are always allowed (its head and
1xx heads included); beyond them, framing may take as many bytes as the data does."""


class HttpProblem(Exception):
    """The server's answer broke HTTP (too big, malformed) or the connection dropped."""


@dataclasses.dataclass
class HttpResponse:
    """Status, headers (lower-case names) and body of one response."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    set_cookies: list[str] = dataclasses.field(default_factory=list)


def _too_big(max_body: int | None) -> HttpProblem:
    return HttpProblem(f"a response body over {max_body} bytes (--max-size)")


class ResponseReader:
    """One HTTP/1.1 client connection's framing: a request's bytes out, its response in.

    ``request()`` gives the bytes of a request; ``receive()`` takes what the socket read
    (``b""`` at EOF) until it returns the response. ``reusable`` says whether the next
    request may go on the same connection; ``received_any`` whether any byte of the
    current response came (a request whose answer began must never be sent again).
    """

    def __init__(self, max_body: int | None) -> None:
        self.max_body = max_body
        self.connection = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self.received_any = False
        self._fed = 0
        self._data = 0
        self._response: h11.Response | None = None
        self._chunks: list[bytes] = []

    def request(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes | None = None,
    ) -> bytes:
        """The bytes of one request (with ``body``: a Content-Length and the body)."""
        fields = [(name.encode("ascii"), value.encode("utf-8")) for name, value in headers]
        if body is not None:
            fields.append((b"Content-Length", str(len(body)).encode("ascii")))
        try:
            data = self.connection.send(h11.Request(method=method, target=target, headers=fields))
            if body:
                data = (data or b"") + (self.connection.send(h11.Data(data=body)) or b"")
            data = (data or b"") + (self.connection.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError as exc:
            raise HttpProblem(f"cannot send the request: {exc}") from None
        self.received_any = False
        self._fed = len(self.connection.trailing_data[0])
        self._data = 0
        self._response = None
        self._chunks = []
        return data

    def receive(self, data: bytes) -> HttpResponse | None:
        """Feed what was read (``b""``: the server closed); the response once complete."""
        if data:
            self.received_any = True
        self._fed += len(data)
        try:
            self.connection.receive_data(data)
            while True:
                event = self.connection.next_event()
                if event is h11.NEED_DATA:
                    self._check_framing()
                    return None
                response = self._take(event)
                if response is not None:
                    return response
        except h11.RemoteProtocolError as exc:
            if not data:
                cut = " mid-response" if self.received_any else ""
                raise HttpProblem(f"the server closed the connection{cut}") from None
            raise HttpProblem(f"a malformed response: {str(exc)[:200]}") from None

    def _take(self, event: object) -> HttpResponse | None:
        if isinstance(event, h11.InformationalResponse):  # 100 Continue and friends
            self._check_framing()
            return None
        if isinstance(event, h11.Response):
            self._response = event
            self._check_head(event)
            return None
        if isinstance(event, h11.Data):
            self._data += len(event.data)
            if self.max_body is not None and self._data > self.max_body:
                raise _too_big(self.max_body)
            self._chunks.append(bytes(event.data))
            self._check_framing()
            return None
        if isinstance(event, h11.EndOfMessage):  # trailers (event.headers) are ignored
            self._check_framing()
            assert self._response is not None
            return _response(self._response, b"".join(self._chunks))
        if isinstance(event, h11.ConnectionClosed):
            raise HttpProblem("the server closed the connection")
        raise HttpProblem(f"unexpected {type(event).__name__} from h11")  # PAUSED: a bug

    def _check_head(self, response: h11.Response) -> None:
        if len(response.headers) > MAX_HEADERS:
            raise HttpProblem("the response head is too large")
        limit = self.max_body
        for name, value in response.headers:  # h11 checked Content-Length is digits
            if name == b"content-length" and limit is not None and int(value) > limit:
                raise _too_big(limit)

    def _check_framing(self) -> None:
        used = self._fed - len(self.connection.trailing_data[0])
        if used - self._data > MAX_FRAMING + self._data:
            raise HttpProblem(
                f"{used - self._data} bytes of HTTP framing around {self._data} bytes of body"
            )

    @property
    def reusable(self) -> bool:
        """The exchange is complete and the connection may carry the next request."""
        connection = self.connection
        if connection.our_state is h11.DONE and connection.their_state is h11.DONE:
            connection.start_next_cycle()
        return connection.our_state is h11.IDLE and connection.their_state is h11.IDLE


def _response(head: h11.Response, body: bytes) -> HttpResponse:
    headers: dict[str, str] = {}
    set_cookies: list[str] = []
    for name, value in head.headers:
        text = value.decode("latin-1")
        headers[name.decode("latin-1")] = text
        if name == b"set-cookie":
            set_cookies.append(text)
    reason = head.reason.decode("latin-1")
    return HttpResponse(head.status_code, reason, headers, body, set_cookies)


def parse_response(
    chunks: Iterable[bytes], max_body: int | None = 2**20, method: str = "GET"
) -> HttpResponse:
    """The response the bytes ``chunks`` hold, read as the answer to one ``method``
    request, then EOF; raises :class:`HttpProblem` (and nothing else) otherwise."""
    reader = ResponseReader(max_body)
    reader.request(method, "/", [("Host", "h")], b"" if method == "POST" else None)
    for chunk in [*chunks, b""]:
        response = reader.receive(chunk)
        if response is not None:
            return response
    raise HttpProblem("the server closed the connection")
