"""One relayed connection: the client's engine, the upstream engine opened for it
(:mod:`~wscli.proxy.handshake`), then two :class:`~wscli.proxy.relay.Relay` until both
sides are closed — and the faults that end or freeze it.

The pair is the owner of both engines (:class:`wscli.wire.owner.Owner`): their frames go
to the relay of their direction, a side that takes no more (its byte budget) stops the
other from being read, and a side that drops without a close frame is mirrored by
dropping the other (the client sees 1006, as it would without the proxy).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import ssl
from collections.abc import Callable, Sequence

from websockets.datastructures import Headers
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Close, Frame
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from wscli.core.escape import escape_control
from wscli.core.exitcodes import ExitCode
from wscli.core.headers import extension_names
from wscli.core.ndjson import timestamp
from wscli.core.redact import redact
from wscli.net.neterrors import hostport
from wscli.proxy.config import ProxyConfig
from wscli.proxy.faults import Faults, Way
from wscli.proxy.gate import Gate, Refused, decide
from wscli.proxy.handshake import Accepted, Failed, Heads, UpstreamHandshake, head
from wscli.proxy.output import Display, Opened
from wscli.proxy.relay import Relay
from wscli.proxy.rules import Rule
from wscli.proxy.upstream import OWN_HANDSHAKE, is_own_origin, passed_back, upstream_origin
from wscli.wire.client import ClientEngine
from wscli.wire.engine import Engine
from wscli.wire.keepalive import Keepalive
from wscli.wire.owner import Ending, Owner, Settings
from wscli.wire.server import ServerEngine
from wscli.wire.stream import HOLD_HANDSHAKE, HOLD_PEER


@dataclasses.dataclass
class ProxyRun:
    """What every pair of one proxy run shares."""

    config: ProxyConfig
    display: Display
    faults: Faults
    gate: Gate
    upstream_tls: ssl.SSLContext | None
    settings: Settings
    upstream_proxy: str | None = None
    """The proxy on the way to the upstream (--proxy, else the *_proxy variables)."""
    pairs: set[Pair] = dataclasses.field(default_factory=set)
    engines: set[Engine] = dataclasses.field(default_factory=set)
    """The open engines of every pair (what the keepalive pings)."""
    count: int = 0
    display_flush: asyncio.Handle | None = None

    def flush_display_soon(self) -> None:
        """The lines of one loop iteration (one read or more) reach stdout together."""
        if self.display_flush is None:
            self.display_flush = asyncio.get_running_loop().call_soon(self._flush_display)

    def _flush_display(self) -> None:
        self.display_flush = None
        self.display.flush()


def engine_settings(config: ProxyConfig, keepalive: Keepalive | None) -> Settings:
    """Both sides of every pair: frames, --max-queue as the byte budget and write limit,
    --ping-timeout as the deadline of a peer that reads none of it."""
    return Settings(
        limit=config.max_queue,
        stall_timeout=config.ping_timeout,
        close_timeout=config.close_timeout,
        frames=True,
        high_water=config.max_queue,
        keepalive=keepalive,
    )


class Pair(Owner[Engine]):
    """A client connection and the upstream connection opened for it."""

    def __init__(self, run: ProxyRun) -> None:
        run.count += 1
        self.id = run.count
        self.run = run
        self.config = run.config
        self.display = run.display
        run.pairs.add(self)
        self.client = ServerEngine(
            self,
            run.settings,
            ServerProtocol(
                extensions=[ServerPerMessageDeflateFactory()] if self.config.compression else None,
                select_subprotocol=self._subprotocol_selector(),
                max_size=self.config.max_size,
            ),
        )
        self.upstream: Engine | None = None
        self.handshake: UpstreamHandshake | None = None
        self.relays: dict[Engine, Relay] = {}  # by the engine they read
        self.chosen: Subprotocol | None = None
        self.early: list[Frame] = []  # frames the upstream sent before the client was open
        self.stalled = False
        self.started = False
        """Both sides are open: relaying."""
        self.first_close: tuple[int | None, str, str | None] | None = None
        self.path = "/"
        """The request path asked of the upstream (without its query): what rules match."""
        self.counts: dict[Rule, int] = {}  # messages counted per disconnect-after rule
        self.count_rules: tuple[Rule, ...] = ()
        self.counted_version = -1
        self.every_timers: dict[Rule, asyncio.TimerHandle] = {}
        self.client_address = "?"
        self.opened_at = ""
        self.task: asyncio.Task[None] | None = None
        self.finished = False
        loop = asyncio.get_running_loop()
        self.timers = [loop.call_later(self.config.upstream.open_timeout, self._timeout)]
        self.close_timer: asyncio.TimerHandle | None = None

    def peer(self, engine: Engine) -> Engine:
        """The other engine (the client itself while there is no upstream)."""
        if engine is self.client:
            return self.upstream if self.upstream is not None else self.client
        return self.client

    def _subprotocol_selector(
        self,
    ) -> Callable[[ServerProtocol, Sequence[Subprotocol]], Subprotocol | None]:
        """The client gets the subprotocol the upstream chose (the protocol binds the
        function to itself: it gets the protocol first)."""

        def select(protocol: ServerProtocol, offers: Sequence[Subprotocol]) -> Subprotocol | None:
            return self.chosen if self.chosen in offers else None

        return select

    # The engines' events

    def upgrade_requested(self, conn: Engine, request: Request) -> None:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._open(request))

    def opened(self, conn: Engine) -> None:
        self.run.engines.add(conn)
        if isinstance(conn, ClientEngine) and self.handshake is not None:
            conn.hold(HOLD_HANDSHAKE)  # until the client has its answer
            self.handshake.answered(conn.response)

    def invalid_request(self, conn: Engine, exc: Exception) -> None:
        self._answered()
        why = f"{exc}: {exc.__cause__}" if exc.__cause__ is not None else str(exc)
        self.display.refused(self.id, 400, "Bad Request", "proxy")
        self.display.error(self.id, redact(why)[:200], int(ExitCode.ERROR))

    def rejected(self, conn: Engine, response: Response | None) -> None:
        if self.handshake is not None:
            self.handshake.answered(response)

    def frames_received(self, conn: Engine, frames: Sequence[Frame]) -> None:
        relay = self.relays.get(conn)
        if relay is not None:
            relay.frames(frames)
            self.run.flush_display_soon()
        elif conn is self.upstream:
            self.early.extend(frames)  # the client is not open yet: they wait (reading held)

    def closing(self, conn: Engine) -> None:
        relay = self.relays.get(conn)
        if relay is None:
            return
        sent = conn.close_frames()[1]
        if sent is not None:  # the proxy closed this side itself: tell the other the same
            relay.source_failed(sent)
            self.run.flush_display_soon()

    def writable(self, conn: Engine, writable: bool) -> None:
        other = self.peer(conn)
        for relay in self.relays.values():
            if relay.dest is conn:
                (relay.room.set if writable else relay.room.clear)()
        if other is not conn:
            (other.release if writable else other.hold)(HOLD_PEER)

    def closed(self, conn: Engine, ending: Ending) -> None:
        self.run.engines.discard(conn)
        if conn is self.upstream and self.handshake is not None and not self.started:
            self.handshake.answered(None)
        other = self.peer(conn)
        if other is not conn and not other.lost:
            relay = self.relays.get(conn)
            if not self.started:
                if conn is self.client:
                    other.abort()  # the client is gone: nobody waits for the upstream
                # else the client gets (or got) an answer from _open: not dropped here.
            elif relay is not None and not relay.close_forwarded:
                if ending.sent is not None and ending.by == "local":
                    relay.source_failed(ending.sent)  # e.g. the proxy's keepalive failed it
                else:
                    other.abort()  # mirror the drop: the other side sees no close frame
            else:
                self._arm_close_timer()
        upstream = self.upstream
        if self.client.lost and (upstream is None or upstream.lost or upstream.transport is None):
            self._finish()

    # Opening

    async def _open(self, request: Request) -> None:
        try:
            await self._open_upstream(request)
        except asyncio.CancelledError:
            if self.finished or self.client.lost:
                self.abort()
            raise
        except Exception as exc:  # a bug must cost one connection, not the proxy
            self.display.error(self.id, f"internal error: {exc!r}", int(ExitCode.ERROR))
            self._reject(500, "wscli proxy: internal error\n", "proxy")
            if os.environ.get("WSCLI_TRACEBACK"):
                raise

    async def _open_upstream(self, request: Request) -> None:
        run = self.run
        upgrade = "websocket" in request.headers.get("Upgrade", "").lower()
        uri = decide(run.gate, request.path, request.headers.get_all("Host"), upgrade)
        if isinstance(uri, Refused):
            self._reject(uri.status, f"wscli proxy: {uri.reason}\n", "proxy", uri.reason)
            return
        handshake = UpstreamHandshake(
            self.config,
            uri,
            run.upstream_tls,
            request,
            upgrade,
            self,
            run.settings,
            run.upstream_proxy,
            self._origin(request),
        )
        self.path = uri.path
        refusal = run.faults.refuse(self.id, self.path) if upgrade else None
        if refusal is not None:
            self.display.fault(self.id, "refuse", None, status=refusal.status, rule=refusal.id)
            self._reject(refusal.status, "wscli proxy: refused (a refuse fault)\n", "proxy")
            return
        self.handshake, self.upstream = handshake, handshake.engine
        outcome = await handshake.run()
        if isinstance(outcome, Failed):
            if len(handshake.heads) > 2 or outcome.exit_code == ExitCode.HANDSHAKE_REJECTED:
                self.display.heads(self.id, handshake.heads)
            self.display.error(self.id, outcome.error, outcome.exit_code)
            self._reject(outcome.status, outcome.text, "proxy")
        elif isinstance(outcome, Accepted):
            self._accept(request, outcome, handshake.heads)
        else:
            plain = request if not handshake.upgrade else None
            hint = None if plain else self._refusal_hint(request, outcome.response.status_code)
            self._pass_back(outcome.response, handshake.heads, plain, hint)

    def _origin(self, request: Request) -> str | None:
        """The upstream's own origin in place of this proxy's (--rewrite-origin), else None:
        the client's Origin goes as it came."""
        origin = request.headers.get("Origin")
        config = self.config
        if not config.upstream.rewrite_origin or origin is None:
            return None
        if not is_own_origin(origin, config.host, self.run.gate.port, config.certfile is not None):
            return None  # another site's page: the upstream judges it as it is
        return upstream_origin(self.run.gate.upstream)

    def _refusal_hint(self, request: Request, status: int) -> str | None:
        """A 403 to a browser's upgrade through the proxy is most often its origin."""
        origin = request.headers.get("Origin")
        if status != 403 or origin is None or self.config.upstream.rewrite_origin:
            return None
        shown = escape_control(origin, keep_newlines=False)[:200]
        return (
            f"the upstream may refuse the origin {shown}: --rewrite-origin gives it its "
            f"own, or allow that origin there (wscli serve --origin {shown})"
        )

    def _accept(self, request: Request, outcome: Accepted, heads: Heads) -> None:
        """The upstream accepted: answer the client with the same subprotocol and the
        upstream's end-to-end headers, then start relaying."""
        assert self.upstream is not None
        self.chosen = outcome.subprotocol
        server = self.client.protocol
        assert isinstance(server, ServerProtocol)
        answer = server.accept(request)
        if answer.status_code == 101:
            skip = OWN_HANDSHAKE | {"date", "server"}
            for name, value in passed_back(outcome.response.headers, skip):
                answer.headers[name] = value
        heads.append(("response", head(answer.serialize())))
        self.display.heads(self.id, heads)
        if answer.status_code != 101:
            self._answered()
            self.client.accept(answer)
            self.display.refused(self.id, answer.status_code, answer.reason_phrase, "proxy")
            self.upstream.abort()
            return
        self._start(outcome, answer)

    def _pass_back(
        self, response: Response, heads: Heads, plain: Request | None, hint: str | None = None
    ) -> None:
        """Give the client the upstream's answer as it came (``plain``: a plain HTTP GET)."""
        server = self.client.protocol
        assert isinstance(server, ServerProtocol)
        headers = Headers(passed_back(response.headers))
        headers["Content-Length"] = str(len(response.body))
        headers["Connection"] = "close"
        answer = Response(response.status_code, response.reason_phrase, headers, response.body)
        heads.append(("response", head(answer.serialize())))
        self.display.heads(self.id, heads)
        self._answered()
        self.client.accept(answer)
        if self.upstream is not None:
            self.upstream.abort()
        if plain is not None:
            path = escape_control(redact(plain.path), keep_newlines=False)
            reason = escape_control(response.reason_phrase, keep_newlines=False)
            self.display.note(self.id, f"GET {path}: HTTP {response.status_code} {reason}")
        else:
            status, reason = response.status_code, response.reason_phrase
            self.display.refused(self.id, status, reason, "server", hint)

    def _answered(self) -> None:
        """The client has its answer (not a 101): the opening's deadline is over (the
        engine bounds what follows)."""
        for timer in self.timers:
            timer.cancel()
        self.timers = []

    def _reject(self, status: int, text: str, by: str, why: str = "") -> None:
        self._answered()
        server = self.client.protocol
        assert isinstance(server, ServerProtocol)
        answer = server.reject(status, text)
        if not self.client.lost:
            self.client.accept(answer)
        if self.upstream is not None:
            self.upstream.abort()
        reason = f"{answer.reason_phrase}: {why}" if why else answer.reason_phrase
        self.display.refused(self.id, status, reason, by)

    def _start(self, outcome: Accepted, answer: Response) -> None:
        upstream, handshake = self.upstream, self.handshake
        assert upstream is not None and handshake is not None
        self.started = True
        for timer in self.timers:
            timer.cancel()
        self.timers = []
        faults = self.run.faults
        up = Relay(self, "up", self.client, upstream, faults.direction(self.id, "up", self.path))
        down = Relay(
            self, "down", upstream, self.client, faults.direction(self.id, "down", self.path)
        )
        up.reverse, down.reverse = down, up
        self.relays = {self.client: up, upstream: down}
        transport = self.client.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        client = hostport(str(peer[0]), int(peer[1])) if peer else "?"
        self.client_address, self.opened_at = client, timestamp()
        self.display.opened(
            Opened(
                self.id,
                escape_control(handshake.uri.resource_name, keep_newlines=False),
                client,
                handshake.url,
                self.chosen,
                extension_names(answer.headers.get_all("Sec-WebSocket-Extensions")),
                outcome.extensions,
                list(outcome.response.headers.raw_items()),
            )
        )
        self._arm_faults()
        self.client.accept(answer)  # open: what the client sent early is relayed now
        if self.run.faults.rules.for_path("stall", self.path):
            self.stall("open")
            return
        early, self.early = self.early, []
        if early:
            down.frames(early)
        upstream.release(HOLD_HANDSHAKE)
        self.run.flush_display_soon()

    # Faults

    def _arm_faults(self) -> None:
        """Start the timers of the disconnect-every rules that apply to this connection
        (from now: its opening, or the rule's arrival) and stop those of rules gone."""
        loop = asyncio.get_running_loop()
        rules = self.run.faults.rules.for_path("disconnect-every", self.path)
        for rule in list(self.every_timers):
            if rule not in rules:
                self.every_timers.pop(rule).cancel()
        for rule in rules:
            if rule not in self.every_timers:
                when = f"{rule.every:g}s"
                self.every_timers[rule] = loop.call_later(
                    rule.every, self.disconnect, "disconnect-every", when, rule
                )

    def rules_changed(self) -> None:
        """The control API changed the rules: connection faults apply from now on (message
        faults are read by the relays at each message)."""
        if not self.started or self.finished or self.stalled:
            return
        counted = self.run.faults.rules.for_path("disconnect-after", self.path)
        self.counts = {rule: n for rule, n in self.counts.items() if rule in counted}
        self._arm_faults()
        stall = self.run.faults.rules.for_path("stall", self.path)
        if stall:
            self.stall(f"rule {stall[0].id}")

    def message_relayed(self, way: Way) -> None:
        """Count a forwarded message for the disconnect-after rules of its direction."""
        rules = self.run.faults.rules
        if rules.version != self.counted_version:
            self.counted_version = rules.version
            self.count_rules = rules.for_path("disconnect-after", self.path)
        for rule in self.count_rules:
            if rule.matches(way, self.path):
                count = self.counts.get(rule, 0) + 1
                self.counts[rule] = count
                if count == rule.messages:
                    self.disconnect("disconnect-after", f"{count} messages", rule)
                    return

    def disconnect(self, fault: str, when: str, rule: Rule) -> None:
        """End (or, for a rule that says so, freeze) the connection as a fault."""
        if self.finished:
            return
        if rule.stall:
            self.stall(f"{fault} {when}")
            return
        code = rule.close_code
        self.display.fault(self.id, fault, None, after=when, close_code=code, rule=rule.id)
        self.end(code, "wscli proxy fault")

    def end(self, code: int | None, reason: str) -> None:
        """End the connection now: close both sides with ``code`` (None: drop TCP, which
        the client sees as 1006). What was already handed to a side is flushed first."""
        for relay in self.relays.values():
            relay.dest.flush()
        if code is None:
            self.abort()
            return
        self._close_both(code, reason)

    def stall(self, when: str) -> None:
        """Stop reading, answering and forwarding on both sides; keep the TCP connections."""
        if self.stalled:
            return
        self.stalled = True
        self.display.fault(self.id, "stall", None, after=when)
        for engine in (self.client, self.upstream):
            if engine is not None:
                engine.discard_input()  # still read: a hang-up is noticed

    # Ending

    def close_seen(self, close: Close, by: str) -> None:
        """Remember the first close frame of the conversation (for the close line)."""
        if self.first_close is None:
            self.first_close = (close.code, close.reason, by)

    def close_sent(self) -> None:
        """A close frame was sent: bound the time the closing handshake may take."""
        self._arm_close_timer()

    def _arm_close_timer(self) -> None:
        if self.close_timer is None:
            loop = asyncio.get_running_loop()
            pending = max((r.last_due - loop.time() for r in self.relays.values()), default=0.0)
            delay = self.config.close_timeout + max(pending, 0.0)
            self.close_timer = loop.call_later(delay, self.abort)

    def _timeout(self) -> None:
        if self.started or self.finished:
            return
        if self.task is not None and not self.task.done():
            # The client asked; the upstream did not answer in time: 504 to the client.
            self.display.error(
                self.id, "the upstream did not answer in time", int(ExitCode.TIMEOUT)
            )
            self.task.cancel()
            self._reject(504, "wscli proxy: the upstream did not answer in time\n", "proxy")
            return
        # The client never finished its request (slowloris): drop it.
        self.display.error(self.id, "the opening handshake timed out", int(ExitCode.TIMEOUT))
        self.abort()

    def abort(self) -> None:
        """Drop both TCP connections now."""
        self.client.abort()
        if self.upstream is not None:
            self.upstream.abort()

    def close(self, code: int = 1001, reason: str = "proxy shutting down") -> None:
        """Close both sides properly (on SIGINT/SIGTERM)."""
        if not self.started or self.stalled:
            self.abort()
            return
        self._close_both(code, reason)

    def _close_both(self, code: int, reason: str) -> None:
        for engine in (self.client, self.upstream):
            if engine is not None and engine.is_open:
                engine.close(code, reason)
        self._arm_close_timer()

    def _finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        if self.task is not None and not self.task.done():
            self.task.cancel()  # still opening the upstream for a client that is gone
        for timer in [*self.timers, *self.every_timers.values()]:
            timer.cancel()
        if self.close_timer is not None:
            self.close_timer.cancel()
        for relay in self.relays.values():
            relay.cancel()
        self.run.pairs.discard(self)
        if self.started:
            code, reason, by = self.first_close or (None, "", None)
            self.display.closed(self.id, code, reason, by)
