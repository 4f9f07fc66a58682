"""wscli.serve.socketio.polling: requests sorted as the Node server sorts them, its error
bodies, and the long-polling queue (bounded in bytes and packets, one parked GET)."""

from __future__ import annotations

import json

import pytest

from wscli.core.socketio import decode_payload
from wscli.serve.socketio.polling import (
    BAD_HANDSHAKE_METHOD,
    BAD_REQUEST,
    MAX_QUEUED_PACKETS,
    UNKNOWN_TRANSPORT,
    UNSUPPORTED_PROTOCOL_VERSION,
    EngineRequest,
    PollingTransport,
    classify,
    error_body,
    error_status,
)


@pytest.mark.parametrize(
    ("method", "query", "upgrade", "expected"),
    [
        ("GET", "EIO=4&transport=polling", False, EngineRequest("handshake", "polling", None)),
        ("GET", "EIO=4&transport=websocket", True, EngineRequest("handshake", "websocket", None)),
        ("GET", "EIO=4&transport=polling&sid=x", False, EngineRequest("poll", "polling", "x")),
        ("POST", "EIO=4&transport=polling&sid=x", False, EngineRequest("send", "polling", "x")),
        (
            "GET",
            "EIO=4&transport=websocket&sid=x",
            True,
            EngineRequest("upgrade", "websocket", "x"),
        ),
        ("GET", "EIO=4&transport=flash", False, UNKNOWN_TRANSPORT),
        ("GET", "EIO=4", False, UNKNOWN_TRANSPORT),
        ("GET", "EIO=3&transport=polling", False, UNSUPPORTED_PROTOCOL_VERSION),
        ("GET", "transport=polling", False, UNSUPPORTED_PROTOCOL_VERSION),
        ("GET", "EIO=3&transport=polling&sid=x", False, EngineRequest("poll", "polling", "x")),
        ("POST", "EIO=3&transport=flash", False, UNKNOWN_TRANSPORT),
        ("POST", "EIO=4&transport=polling", False, BAD_HANDSHAKE_METHOD),
        ("GET", "EIO=4&transport=websocket", False, BAD_REQUEST),  # websocket without upgrade
        ("GET", "EIO=4&transport=polling", True, BAD_REQUEST),
        ("GET", "EIO=4&transport=websocket&sid=x", False, BAD_REQUEST),
        ("PUT", "EIO=4&transport=polling&sid=x", False, BAD_REQUEST),
    ],
)
def test_classify_as_the_node_server(
    method: str, query: str, upgrade: bool, expected: EngineRequest | int
) -> None:
    params = dict(part.split("=") for part in query.split("&"))
    assert classify(method, params, upgrade) == expected


def test_error_bodies_are_the_node_servers() -> None:
    assert error_body(1) == b'{"code":1,"message":"Session ID unknown"}'
    assert json.loads(error_body(0)) == {"code": 0, "message": "Transport unknown"}
    assert json.loads(error_body(5)) == {"code": 5, "message": "Unsupported protocol version"}
    assert error_status(4) == 403 and error_status(1) == 400


class Parked:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.aborted = False

    def answer(self, body: bytes) -> None:
        self.bodies.append(body)

    def abort(self) -> None:
        self.aborted = True


def test_a_poll_waits_for_packets_then_takes_all_of_them() -> None:
    transport = PollingTransport()
    waiter = Parked()
    assert transport.poll(waiter)
    assert waiter.bodies == []
    assert not transport.poll(Parked())  # a second GET overlaps
    assert transport.send_packets(['42["message","a"]', b"\x00\x01"], 1000) == 0
    assert [decode_payload(b) for b in waiter.bodies] == [['42["message","a"]', b"\x00\x01"]]
    assert transport.send_packets(["2", "2"], 1000) == 0  # nobody waits: queued
    later = Parked()
    transport.poll(later)
    assert decode_payload(later.bodies[0]) == ["2", "2"]
    assert transport.drained


def test_the_queue_is_bounded_in_bytes_and_packets() -> None:
    transport = PollingTransport()
    assert transport.send_packets(["x" * 60], 100) == 0
    assert transport.send_packets(["y" * 60], 100) == 60  # would pass 100: refused, kept out
    assert transport.queue == ["x" * 60]
    assert transport.send_packets([b"\x00" * 20], 100) == 0  # "b" + 28 base64: fits
    assert transport.queued == 89
    assert PollingTransport().send_packets(["z" * 500], 100) == 0  # alone, anything goes
    many = PollingTransport()
    assert many.send_packets(["6"] * MAX_QUEUED_PACKETS, 10**9) == 0
    assert many.send_packets(["6"], 10**9) == MAX_QUEUED_PACKETS


def test_close_ends_with_a_close_packet_or_a_noop_after_an_upgrade() -> None:
    transport = PollingTransport()
    waiter = Parked()
    transport.poll(waiter)
    transport.close("ping timeout")
    assert decode_payload(waiter.bodies[0]) == ["1"]
    upgraded = PollingTransport()
    waiter = Parked()
    upgraded.poll(waiter)
    upgraded.close("")
    assert decode_payload(waiter.bodies[0]) == ["6"]


def test_abort_drops_the_queue_and_the_parked_request() -> None:
    transport = PollingTransport()
    transport.send_packets(["2"], 100)
    transport.abort()
    assert transport.drained
    waiter = Parked()
    transport.poll(waiter)
    transport.abort()
    assert waiter.aborted and waiter.bodies == []
    assert not transport.waiter_lost(waiter)
