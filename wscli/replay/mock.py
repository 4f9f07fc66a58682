"""The mock server of `wscli replay`: every client that connects is answered with the
recorded server side of one conversation (its subprotocol if the client offers it, then
its messages and its close, at their recorded times), each client on its own.

Only the request head goes to websockets' ``ServerProtocol`` (the engine's generic server
handshake); a request that names a foreign ``Host`` (DNS rebinding) or comes from a browser
page (an ``Origin`` not allowed with ``--origin``) is refused with 403: the recording may
hold what a web page must not read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from websockets.http11 import Request
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from wscli.core.hosts import host_allowed, host_name, normal_name
from wscli.core.recording import Conversation
from wscli.replay.play import Pace, Player, Verdict
from wscli.wire.engine import Engine
from wscli.wire.owner import Ending, Settings
from wscli.wire.server import ServerEngine

Report = Callable[[str, Verdict], None]
"""Told each client's address and verdict."""


class MockClient(Player):
    """One client of the mock server."""

    def __init__(
        self, server: MockServer, conversation: Conversation, pace: Pace, expect: bool
    ) -> None:
        super().__init__(conversation.steps, "server", pace, expect)
        self.server = server
        self.task: asyncio.Task[None] | None = None
        self.address = "?"

    def upgrade_requested(self, conn: Engine, request: Request) -> None:
        protocol = conn.protocol
        assert isinstance(protocol, ServerProtocol) and isinstance(conn, ServerEngine)
        transport = conn.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        self.address = f"{peer[0]}:{peer[1]}" if peer else "?"
        refusal = self.server.refusal(request)
        if refusal is not None:
            conn.accept(protocol.reject(403, f"wscli replay: {refusal}\n"))
            return
        conn.accept(protocol.accept(request))

    def opened(self, conn: Engine) -> None:
        super().opened(conn)
        self.task = asyncio.get_running_loop().create_task(self._run())

    def closed(self, conn: Engine, ending: Ending) -> None:
        super().closed(conn, ending)
        if self.task is None:
            self.server.clients.discard(self)  # never opened: nothing to report

    async def _run(self) -> None:
        verdict = await self.play()
        self.server.clients.discard(self)
        self.server.report(self.address, verdict)


class MockServer:
    """The listening side: a :class:`MockClient` per connection."""

    def __init__(
        self,
        conversation: Conversation,
        pace: Pace,
        expect: bool,
        settings: Settings,
        host: str,
        origins: Sequence[str],
        report: Report,
    ) -> None:
        self.conversation = conversation
        self.pace = pace
        self.expect = expect
        self.settings = settings
        self.host = host
        self.origins = set(origins)
        self.report = report
        self.clients: set[MockClient] = set()

    def refusal(self, request: Request) -> str | None:
        """Why this request may not be answered (None: it may)."""
        hosts = request.headers.get_all("Host")
        if len(hosts) != 1:
            return "a request needs one Host header"
        if not host_allowed(host_name(hosts[0]), {normal_name(self.host)}):
            return "the Host header does not name this server"
        origin = request.headers.get("Origin")
        if origin is not None and "*" not in self.origins and origin not in self.origins:
            return "browser origins are refused unless allowed with --origin"
        return None

    def new_client(self) -> ServerEngine:
        """The protocol factory of the listening socket."""
        recorded = self.conversation.subprotocol

        def select(protocol: ServerProtocol, offers: Sequence[Subprotocol]) -> Subprotocol | None:
            return Subprotocol(recorded) if recorded is not None and recorded in offers else None

        client = MockClient(self, self.conversation, self.pace, self.expect)
        self.clients.add(client)
        return ServerEngine(
            client,
            self.settings,
            ServerProtocol(select_subprotocol=select, max_size=self.settings.limit),
        )
