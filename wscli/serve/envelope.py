"""The page's subprotocol, ``wscli.chat.v1``: each message wrapped in JSON by the server.

Raw clients (no subprotocol) get every message byte for byte, so nothing in a message can
say who sent it or that the server did. A client that negotiates ``wscli.chat.v1`` (the
chat page does) gets one JSON text message per chat message instead, built by the server:

    {"type":"message","id":7,"time":"2026-11-30T04:05:45.742Z","from":"alice","text":"hi"}
    {"type":"message","id":8,"time":"…","from":"#3","binary":"AAEC/w=="}
    {"type":"notice","id":9,"time":"…","nick":"alice","event":"joined","text":"* alice joined"}

``from`` is the sender's nickname as the server cleaned it from ``?nick=`` (or ``#ID``, its
connection number, when it gave none); ``type`` "notice" only ever comes from the server.
``id`` is stable and comparable within a room (:mod:`wscli.serve.message_id`: derived from
the Redis stream entry, else this server's epoch plus a sequence); ``time`` is when the
server relayed it (for history, when it was first relayed). Binary payloads are base64.
What a client sends is relayed unchanged: the envelope goes only to clients that
negotiated it.

A message the client sent with the ``send`` command (:mod:`wscli.serve.chat_commands`)
carries its client id, ``"cid":"…"``, so its sender recognises it. After the history replay
(and the ``resume`` line) each client gets

    {"type":"welcome","nick":"alice (2)","from":"alice (2)","renamed":true}

its nickname as the room knows it (unique in the room on this instance: a second
``alice`` becomes ``alice (2)``; ``renamed`` says so) and the ``from`` its messages carry;
the answers to its commands, ``{"type":"pong","n":7}`` and ``{"type":"ack","cid":"…"}``,
go to it alone.

A client that connects with ``?since=ID`` (the last id it saw) is replayed only the kept
messages after it, followed by

    {"type":"resume","since":"…","restored":12,"complete":true}

where ``complete`` false means some missed messages may not have been kept (the id is
unknown or too old, or the server restarted without Redis): the normal history was sent.

A replay that does not fit in the client's ``--max-queue`` once encoded (escaping can make
a message up to 6 times its size) is cut, oldest messages first, and the line that ends it
says so: ``"cut": N`` (the messages left out), ``complete`` false; a client that did not
resume gets that line too, with ``since`` null.

Pure (no I/O); JSON through :func:`wscli.core.ndjson.to_ascii_json`: every non-ASCII and
control character as a ``\\u`` escape, which runs at C speed whatever a hostile message holds
(a Python call per escaped character cost 0.5 s per 1 MiB message).
"""

from __future__ import annotations

import base64

from wscli.core.ndjson import to_ascii_json

SUBPROTOCOL = "wscli.chat.v1"


def envelope(
    data: bytes,
    text: bool,
    notice: bool,
    author: str | None,
    message_id: str,
    when: str,
    cid: str | None = None,
) -> bytes:
    """The JSON text of one message for ``wscli.chat.v1`` clients (``cid``: the client id
    its sender gave it, see :mod:`wscli.serve.chat_commands`)."""
    doc: dict[str, object] = {
        "type": "notice" if notice else "message",
        "id": message_id,
        "time": when,
    }
    if cid is not None:
        doc["cid"] = cid
    if notice:
        body = data.decode("utf-8", "replace")
        doc["nick"] = author
        doc["event"] = body.rpartition(" ")[2]
        doc["text"] = body
    else:
        doc["from"] = author
        if text:
            doc["text"] = data.decode("utf-8", "replace")
        else:
            doc["binary"] = base64.b64encode(data).decode("ascii")
    return to_ascii_json(doc).encode("ascii")


def resume_envelope(since: str | None, restored: int, complete: bool, cut: int = 0) -> bytes:
    """The JSON text that ends a resumed (or cut) replay: how many messages it restored,
    and how many it left out to stay within the client's queue (``cut``)."""
    doc: dict[str, object] = {
        "type": "resume",
        "since": since,
        "restored": restored,
        "complete": complete and not cut,
    }
    if cut:
        doc["cut"] = cut
    return to_ascii_json(doc).encode("ascii")


RESUME_RESERVE = 256
"""Bytes of a replay's budget kept for the :func:`resume_envelope` line that ends it (an
id is at most 64 characters)."""


def welcome_envelope(nick: str | None, author: str, renamed: bool) -> bytes:
    """The JSON text that tells a client who it is in the room (after the replay)."""
    doc = {"type": "welcome", "nick": nick, "from": author, "renamed": renamed}
    return to_ascii_json(doc).encode("ascii")


def pong_envelope(n: int) -> bytes:
    """The answer to a client's heartbeat ``{"type":"ping","n":N}``."""
    return b'{"type":"pong","n":%d}' % n


def ack_envelope(cid: str) -> bytes:
    """The answer to a ``send``: the server has the message (``cid`` is a checked token)."""
    return b'{"type":"ack","cid":"%s"}' % cid.encode("ascii")
