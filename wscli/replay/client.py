"""`wscli replay FILE --to URL`: the recorded client side played against a real server,
the server's replies compared with the recording.

The request asks for the recorded path and query (unless URL has a path of its own) and
offers the recorded subprotocol; -H adds headers (a token the recording redacted). The
connection opens on the engine (direct, TLS with -k/--cacert), within --open-timeout.
"""

from __future__ import annotations

import asyncio
import urllib.parse

from websockets.client import ClientProtocol
from websockets.http11 import Response
from websockets.typing import Subprotocol

from wscli.core.errors import HandshakeRejected, TimedOut
from wscli.core.recording import Conversation
from wscli.core.url import parse_ws_url
from wscli.net.neterrors import hostport
from wscli.net.tls import client_context
from wscli.net.tunnel import dial
from wscli.replay.config import ReplayConfig
from wscli.replay.play import Pace, Player, Verdict
from wscli.wire.client import ClientEngine
from wscli.wire.engine import Engine
from wscli.wire.owner import Settings


class ReplayClient(Player):
    """The client's side of one conversation."""

    def __init__(self, conversation: Conversation, pace: Pace) -> None:
        super().__init__(conversation.steps, "client", pace, expect=True)
        self.answer: asyncio.Future[Response | None] = asyncio.get_running_loop().create_future()

    def opened(self, conn: Engine) -> None:
        super().opened(conn)
        if not self.answer.done():
            self.answer.set_result(None)

    def rejected(self, conn: Engine, response: Response | None) -> None:
        if not self.answer.done():
            self.answer.set_result(response)


def target_url(config: ReplayConfig, conversation: Conversation) -> str:
    """The URL to connect to: URL's own path and query, else the recorded ones."""
    assert config.to is not None
    parts = urllib.parse.urlsplit(config.to)
    if parts.path not in ("", "/") or parts.query:
        return config.to
    path, _, query = conversation.path.partition("?")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path or "/", query, ""))


async def replay_client(config: ReplayConfig, conversation: Conversation, pace: Pace) -> Verdict:
    """Connect, play, and return the verdict; raise :class:`WscliError` when the server
    cannot be reached or refuses the upgrade."""
    url = target_url(config, conversation)
    uri = parse_ws_url(url)
    offers = [Subprotocol(conversation.subprotocol)] if conversation.subprotocol else None
    protocol = ClientProtocol(uri, subprotocols=offers, max_size=config.max_size)
    request = protocol.connect()
    for name, value in config.headers:
        request.headers[name] = value
    player = ReplayClient(conversation, pace)
    settings = Settings(limit=config.max_size, close_timeout=config.close_timeout)
    engine = ClientEngine(player, settings, protocol)
    tls = client_context(insecure=config.insecure, cafile=config.cacert) if uri.secure else None
    where = hostport(uri.host, uri.port)

    async def opening() -> Response | None:
        await dial(lambda: engine, uri.host, uri.port, tls=tls, timeout=None)
        engine.send_request(request)
        return await player.answer

    try:
        refused = await asyncio.wait_for(opening(), config.open_timeout)
    except (TimeoutError, asyncio.TimeoutError):
        engine.abort()
        raise TimedOut(f"opening the connection to {where} timed out") from None
    if refused is not None or not player.is_open.is_set():
        status = f"HTTP {refused.status_code} {refused.reason_phrase}" if refused else None
        raise HandshakeRejected(
            f"{where} rejected the WebSocket handshake",
            status or str(protocol.handshake_exc or "no valid answer"),
            hint="a token the recording redacted? give it with -H",
        )
    verdict = await player.play()
    try:  # the closing handshake, bounded
        await asyncio.wait_for(player.ended.wait(), config.close_timeout + 1.0)
    except (TimeoutError, asyncio.TimeoutError):
        engine.abort()
    return verdict
