"""wscli.serve.socketio.engine: one Engine.IO session, packets in and out — heartbeats, the
upgrade from long-polling to a WebSocket, and the end of a session on bad input."""

from __future__ import annotations

from collections.abc import Sequence

from wscli.core.socketio import ProtocolViolation
from wscli.serve.socketio.engine import EngineSession
from wscli.serve.socketio.polling import PollingTransport


class Socket:
    """An in-memory WebSocket transport: records what the session sends on it."""

    name = "websocket"
    shared_frames = True

    def __init__(self) -> None:
        self.sent: list[str | bytes] = []
        self.closed: str | None = None
        self.aborted = False
        self.unsent = 0

    def send_packets(self, packets: Sequence[str | bytes], limit: int) -> int:
        if self.unsent:
            return self.unsent
        self.sent.extend(packets)
        return 0

    def send_frames(self, data: bytes, limit: int) -> int:
        return 0

    def take_queue(self) -> list[str | bytes]:
        return []

    def close(self, reason: str) -> None:
        self.closed = reason

    def abort(self) -> None:
        self.aborted = True


class Upper:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.binaries: list[bytes] = []
        self.ended: str | None = None

    def receive_text(self, text: str) -> None:
        if text == "bad":
            raise ProtocolViolation("bad packet")
        self.texts.append(text)

    def receive_binary(self, data: bytes) -> None:
        self.binaries.append(data)

    def closed(self, reason: str) -> None:
        self.ended = reason


class Host:
    max_queue = 1000

    def __init__(self) -> None:
        self.pongs = 0
        self.upgrades = 0
        self.ends: list[tuple[str, str]] = []

    def pong(self, session: EngineSession) -> None:
        self.pongs += 1

    def upgraded(self, session: EngineSession) -> None:
        self.upgrades += 1

    def session_closed(self, session: EngineSession, reason: str, detail: str) -> None:
        self.ends.append((reason, detail))


def session_on(transport: object) -> tuple[EngineSession, Upper, Host]:
    host = Host()
    session = EngineSession("sid", transport, host)  # type: ignore[arg-type]
    upper = Upper()
    session.upper = upper
    return session, upper, host


def test_messages_pongs_and_noops() -> None:
    socket = Socket()
    session, upper, host = session_on(socket)
    session.receive('42["message","hi"]', socket)
    session.receive(b"\x00\x01", socket)
    session.receive("bAAI=", socket)  # binary as base64 in a text frame
    session.receive("3", socket)
    session.receive("6", socket)
    assert upper.texts == ['2["message","hi"]'] and upper.binaries == [b"\x00\x01", b"\x00\x02"]
    assert host.pongs == 1 and not session.closed
    assert session.keepalive_ping() and socket.sent == ["2"]


def test_bad_packets_end_the_session_with_a_reason() -> None:
    for packet, reason in [
        ("4bad", "parse error"),
        ("9", "parse error"),
        ("", "parse error"),
        ("2", "transport error"),  # a ping from the client: the server pings in v4
        ("3x", "parse error"),
        ("b!!", "parse error"),
    ]:
        socket = Socket()
        session, upper, host = session_on(socket)
        session.receive(packet, socket)
        assert session.closed and upper.ended == reason, packet
        assert host.ends[0][0] == reason and host.ends[0][1]
        assert socket.closed == reason


def test_close_packet_and_ping_timeout() -> None:
    socket = Socket()
    session, upper, host = session_on(socket)
    session.receive("1", socket)
    assert upper.ended == "transport close" and host.ends == [("transport close", "")]
    socket = Socket()
    session, upper, host = session_on(socket)
    session.fail(1011, "keepalive ping timeout")
    assert upper.ended == "ping timeout"
    assert not session.keepalive_ping()


def test_upgrade_moves_the_queue_to_the_websocket() -> None:
    polling = PollingTransport()
    session, upper, host = session_on(polling)
    session.send_packets(['40{"sid":"s"}'])
    probe = Socket()
    assert session.attach_probe(probe) is None
    assert session.attach_probe(Socket()) == "already upgrading"
    session.receive("2probe", probe)
    assert probe.sent == ["3probe"]
    assert polling.queue[-1] == "6"  # the pending poll is let go
    session.receive("5", probe)
    assert session.transport is probe and session.upgraded and host.upgrades == 1
    assert probe.sent == ["3probe", '40{"sid":"s"}', "6"]
    assert polling.closing
    session.receive('42["x"]', polling)  # the old transport is no longer heard
    session.receive('42["y"]', probe)
    assert upper.texts == ['2["y"]']
    assert session.attach_probe(Socket()) == "already upgraded"


def test_a_wrong_probe_is_dropped_and_polling_goes_on() -> None:
    polling = PollingTransport()
    session, _, _ = session_on(polling)
    probe = Socket()
    session.attach_probe(probe)
    session.receive("5", probe)  # upgrade before the probe ping
    assert probe.closed == "" and session.probe is None
    assert not session.closed and session.transport is polling
    probe = Socket()
    session.attach_probe(probe)
    session.transport_lost(probe)
    assert session.probe is None and not session.closed


def test_a_slow_client_is_dropped_at_once() -> None:
    socket = Socket()
    socket.unsent = 5000
    session, upper, _ = session_on(socket)
    assert session.send_packets(["2"]) == 5000
    assert session.closed and socket.aborted and upper.ended == "too slow: outgoing queue full"
