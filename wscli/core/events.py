"""The event model of `wscli connect --json` and `wscli proxy --json` (NDJSON).

Shared by both commands, so a conversation seen through the proxy reads like the same
conversation seen by `wscli connect`. Pure: no I/O. Every event is a flat JSON object with
stable keys, always ``event`` and ``time``; binary payloads are base64; every timestamp
uses the one format of :func:`wscli.core.ndjson.timestamp` (ISO 8601, UTC, milliseconds,
``Z``), so the output is ready for `jq`.

Events and their keys (besides ``event`` and ``time``):

- ``open``: ``url``, ``subprotocol`` (or null), ``extensions`` (list), ``headers``
  (response headers, name → value; repeated names joined with ", "; secret values such as
  a ``Set-Cookie`` as ``[redacted]``, by :mod:`wscli.core.redact`)
- ``message``: ``direction`` ("in"/"out"), ``type`` ("text"/"binary"), ``text`` or
  ``base64``, ``length`` (bytes); Socket.IO adds ``socketio``: ``"event"`` with ``name`` (the
  event name; ``event`` is taken by the NDJSON event type) and ``args`` (list of JSON
  values, binary attachments as ``{"base64": ...}``), plus ``ack_id`` when an
  acknowledgement is asked for (by us, or by the server: wscli answers it with
  --ack-reply); or ``"ack"`` with ``ack_id`` and ``args`` for an acknowledgement
- ``ping`` / ``pong``: ``direction``, ``base64`` (payload); a pong answering our ping adds
  ``rtt_ms``
- ``close``: ``code`` (null without close frame), ``reason``, ``by`` ("client", "server"
  or null when the connection dropped)
- ``error``: ``message``, ``exit_code``; for a refused upgrade also the server's answer:
  ``status``, ``reason``, ``headers`` (as in ``open``), ``body`` (the first KiB, as text)
  and ``body_truncated``
- ``reconnect``: ``attempt``, ``delay`` (seconds before it), ``max_retries`` (or null),
  ``reason`` (the failure that is retried; retried failures are not ``error`` events)
- ``redirect``: ``status``, ``from``, ``url`` (one per hop followed with -L/--location)
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from wscli.core.ndjson import timestamp
from wscli.core.redact import redact_header

if TYPE_CHECKING:
    from wscli.core.refusal import Refusal

Direction = Literal["in", "out"]
FrameKind = Literal["ping", "pong"]
ClosedBy = Literal["client", "server"] | None
"""Who closed first: the client, the server, or nobody (no close frame either way)."""


@dataclasses.dataclass(frozen=True)
class Message:
    """One WebSocket message (or Socket.IO event) sent or received.

    ``data`` is ``str`` for a text message and ``bytes`` for a binary one. For a Socket.IO
    event, ``name`` is the event name and ``args`` its decoded arguments; ``ack_id`` the
    acknowledgement it asks for. A Socket.IO acknowledgement has ``is_ack``, its
    ``ack_id`` and ``args``.
    """

    direction: Direction
    data: str | bytes
    name: str | None = None
    args: tuple[Any, ...] = ()
    ack_id: int | None = None
    is_ack: bool = False

    @property
    def length(self) -> int:
        """Payload size in bytes (UTF-8 for text)."""
        if isinstance(self.data, bytes):
            return len(self.data)
        return len(self.data.encode("utf-8", "surrogatepass"))


class Messages(Sequence[Message]):
    """Plain WebSocket messages of one ``direction``, kept as their ``payloads`` (text as
    str, binary as bytes); each :class:`Message` is made only when read. A pipe passes
    bursts of thousands of messages: one that shows none of them (what it sent) makes none,
    and one that writes text as received reads the payloads themselves."""

    def __init__(self, direction: Direction, payloads: Sequence[str | bytes]) -> None:
        self.direction = direction
        self.payloads = payloads

    def __len__(self) -> int:
        return len(self.payloads)

    @overload
    def __getitem__(self, index: int) -> Message: ...

    @overload
    def __getitem__(self, index: slice) -> Messages: ...

    def __getitem__(self, index: int | slice) -> Message | Messages:
        if isinstance(index, slice):
            return Messages(self.direction, self.payloads[index])
        return Message(self.direction, self.payloads[index])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _event(kind: str, when: str | None, **fields: Any) -> dict[str, Any]:
    return {"event": kind, "time": when or timestamp(), **fields}


def open_event(
    url: str,
    subprotocol: str | None,
    extensions: Iterable[str],
    headers: Iterable[tuple[str, str]],
    when: str | None = None,
) -> dict[str, Any]:
    """The connection is open: what was negotiated and the response headers."""
    return _event(
        "open",
        when,
        url=url,
        subprotocol=subprotocol,
        extensions=list(extensions),
        headers=_headers(headers),
    )


def _headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Response headers as name → value (repeated names joined with ", "); a secret a
    header carries (a Set-Cookie session) ``[redacted]``: an NDJSON file is kept and
    shared."""
    merged: dict[str, str] = {}
    for name, raw in headers:
        value = redact_header(name, raw)
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    return merged


def message_event(message: Message, when: str | None = None) -> dict[str, Any]:
    """A message sent (``out``) or received (``in``)."""
    fields: dict[str, Any] = {"direction": message.direction}
    if isinstance(message.data, bytes):
        fields.update(type="binary", base64=_b64(message.data))
    else:
        fields.update(type="text", text=message.data)
    fields["length"] = message.length
    if message.is_ack:
        fields.update(socketio="ack", ack_id=message.ack_id, args=list(message.args))
    elif message.name is not None:
        fields.update(socketio="event", name=message.name, args=list(message.args))
        if message.ack_id is not None:
            fields["ack_id"] = message.ack_id
    return _event("message", when, **fields)


def ping_event(
    kind: FrameKind,
    direction: Direction,
    payload: bytes,
    rtt: float | None = None,
    when: str | None = None,
) -> dict[str, Any]:
    """A ping or pong frame; ``rtt`` (seconds) when a pong answers our ping."""
    fields: dict[str, Any] = {"direction": direction, "base64": _b64(payload)}
    if rtt is not None:
        fields["rtt_ms"] = round(rtt * 1000, 3)
    return _event(kind, when, **fields)


def close_event(
    code: int | None,
    reason: str,
    by: ClosedBy,
    when: str | None = None,
) -> dict[str, Any]:
    """The connection ended: close code and reason (None: no close frame), who closed."""
    return _event("close", when, code=code, reason=reason, by=by)


def error_event(
    message: str, exit_code: int, when: str | None = None, refusal: Refusal | None = None
) -> dict[str, Any]:
    """An error that ends (or, with --reconnect, interrupts) the session; ``refusal``: the
    server's answer to a refused upgrade (bounded: see :mod:`wscli.core.refusal`)."""
    fields: dict[str, Any] = {"message": message, "exit_code": exit_code}
    if refusal is not None:
        fields.update(
            status=refusal.status,
            reason=refusal.reason,
            headers=_headers(refusal.headers),
            body=refusal.body.decode("utf-8", "replace"),
            body_truncated=refusal.body_size > len(refusal.body),
        )
    return _event("error", when, **fields)


def reconnect_event(
    attempt: int,
    delay: float,
    max_retries: int | None,
    reason: str = "",
    when: str | None = None,
) -> dict[str, Any]:
    """A reconnect attempt about to be made after ``delay`` seconds, and why."""
    return _event(
        "reconnect",
        when,
        attempt=attempt,
        delay=round(delay, 3),
        max_retries=max_retries,
        reason=reason,
    )


def redirect_event(status: int, source: str, url: str, when: str | None = None) -> dict[str, Any]:
    """A redirect answer (3xx) followed with -L/--location: from ``source`` to ``url``."""
    return _event("redirect", when, status=status, **{"from": source}, url=url)
