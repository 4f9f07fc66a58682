"""The control API of `wscli proxy` (``--control PORT``): plain HTTP and JSON on its own
port, so `curl` can change the faults of a running proxy.

- ``GET /faults``; ``POST /faults`` adds a rule (``{"fault": "drop", "rate": 0.5,
  "direction": "down", "path": "/chat*"}``); ``GET``, ``PATCH`` (the fields given) and
  ``DELETE /faults/ID``; ``DELETE /faults`` removes them all;
- ``GET /connections`` (and ``/connections/ID``); ``POST /connections/ID/disconnect``
  (``{"close_code": 4000, "reason": "..."}``; no code: TCP dropped, a 1006);
  ``POST /connections/ID/pause`` and ``/resume`` (``{"direction": "up"}``; default both).

A change applies before its answer is sent: the next frame of every open connection
follows it. Each change is logged by the display (a line, or a ``control`` event).

Who may call it: it listens on loopback unless told otherwise, and then needs a token
(``Authorization: Bearer TOKEN``). A request must name a loopback host or the bound address
in ``Host`` (so a DNS-rebinding page cannot reach it) and must not come from a browser
(an ``Origin`` header is refused; a body must be ``application/json``, which a web page can
send only after a CORS preflight that is never answered). Requests are read by the bounded
:class:`~wscli.core.httprequest.RequestReader`, one per connection, within
:data:`REQUEST_TIMEOUT` seconds, at most :data:`MAX_CONNECTIONS` at once.
"""

from __future__ import annotations

import asyncio
import hmac
import http
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from wscli.core.closecodes import close_problem
from wscli.core.escape import escape_control
from wscli.core.hosts import host_refusal, normal_name
from wscli.core.httprequest import BadRequest, HttpRequest, RequestReader, json_body
from wscli.core.ndjson import to_json
from wscli.core.redact import redact
from wscli.net.neterrors import hostport
from wscli.proxy.rules import RuleError

if TYPE_CHECKING:
    from wscli.proxy.pair import Pair, ProxyRun

REQUEST_TIMEOUT = 10.0
"""Seconds a caller has to send its whole request."""
MAX_CONNECTIONS = 16
"""Control connections at once; more are closed at once."""
MAX_BODY = 16 * 1024


class ApiError(Exception):
    """An answer other than success: ``status`` and a message for the caller."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ControlApi:
    """The routes: each request in, (status, JSON object) out; changes logged."""

    def __init__(self, run: ProxyRun, host: str, port: int, token: str | None) -> None:
        self.run = run
        self.host = host
        self.port = port
        self.token = token

    # Who may call

    def check_caller(self, request: HttpRequest) -> None:
        host = request.header("host")
        if host is None:
            raise ApiError(400, "no Host header")
        if host_refusal(host, {normal_name(self.host)}) is not None:
            raise ApiError(403, "the Host header does not name this control API")
        if request.header("origin") is not None:
            raise ApiError(403, "browsers may not use the control API (an Origin header)")
        if self.token is not None:
            given = request.header("authorization") or ""
            scheme, _, value = given.partition(" ")
            if scheme.lower() != "bearer" or not value:
                raise ApiError(401, "this control API needs Authorization: Bearer TOKEN")
            if not hmac.compare_digest(value.strip().encode(), self.token.encode()):
                raise ApiError(403, "wrong token")

    # Routes

    def handle(self, request: HttpRequest, caller: str) -> tuple[int, dict[str, Any]]:
        """The answer to one request (after :meth:`check_caller`)."""
        parts = [p for p in request.path.split("/") if p]
        method = request.method
        body = json_body(request)
        if not parts:
            self._allow(method, "GET")
            return 200, {"faults": "/faults", "connections": "/connections"}
        if parts[0] == "faults" and len(parts) <= 2:
            return self._faults(method, parts[1:], body, caller)
        if parts[0] == "connections" and len(parts) <= 3:
            return self._connections(method, parts[1:], body, caller)
        raise ApiError(404, "no such resource: see GET /")

    @staticmethod
    def _allow(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise ApiError(405, f"use {' or '.join(allowed)}")

    def _faults(
        self, method: str, parts: list[str], body: Any, caller: str
    ) -> tuple[int, dict[str, Any]]:
        rules = self.run.faults.rules
        if not parts:
            self._allow(method, "GET", "POST", "DELETE")
            if method == "GET":
                return 200, {"faults": [rule.to_json() for rule in rules]}
            if method == "DELETE":
                removed = [rules.remove(rule.id) for rule in rules]
                for rule in removed:
                    self._changed("fault-removed", caller, fault=rule.to_json())
                return 200, {"removed": [rule.id for rule in removed]}
            try:
                rule = rules.add(body)
            except RuleError as exc:
                raise ApiError(400, str(exc)) from None
            self._changed("fault-added", caller, fault=rule.to_json())
            return 201, {"fault": rule.to_json()}
        rule_id = _number(parts[0], "fault")
        found = rules.get(rule_id)
        if found is None:
            raise ApiError(404, f"no fault {rule_id}")
        self._allow(method, "GET", "PATCH", "DELETE")
        if method == "GET":
            return 200, {"fault": found.to_json()}
        if method == "DELETE":
            rules.remove(rule_id)
            self._changed("fault-removed", caller, fault=found.to_json())
            return 200, {"fault": found.to_json()}
        try:
            rule = rules.change(rule_id, body)
        except RuleError as exc:
            raise ApiError(400, str(exc)) from None
        self._changed("fault-changed", caller, fault=rule.to_json())
        return 200, {"fault": rule.to_json()}

    def _connections(
        self, method: str, parts: list[str], body: Any, caller: str
    ) -> tuple[int, dict[str, Any]]:
        if not parts:
            self._allow(method, "GET")
            pairs = sorted((p for p in self.run.pairs if p.started), key=lambda p: p.id)
            return 200, {"connections": [describe(pair) for pair in pairs]}
        pair = self._pair(_number(parts[0], "connection"))
        if len(parts) == 1:
            self._allow(method, "GET")
            return 200, {"connection": describe(pair)}
        self._allow(method, "POST")
        action = parts[1]
        options = body if isinstance(body, dict) else {}
        if body is not None and not isinstance(body, dict):
            raise ApiError(400, "expected a JSON object")
        if action == "disconnect":
            code, reason = _close(options)
            self._changed("disconnect", caller, connection=pair.id, close_code=code)
            pair.display.fault(pair.id, "disconnect", None, by="control", close_code=code)
            pair.end(code, reason)
        elif action in ("pause", "resume"):
            direction = options.get("direction", "both")
            if direction not in ("up", "down", "both"):
                raise ApiError(400, "direction: expected up, down or both")
            for relay in pair.relays.values():
                if direction in ("both", relay.way):
                    (relay.pause if action == "pause" else relay.resume)()
            self._changed(action, caller, connection=pair.id, direction=direction)
        else:
            raise ApiError(404, "no such action: disconnect, pause or resume")
        return 200, {"connection": describe(pair)}

    def _pair(self, number: int) -> Pair:
        for pair in self.run.pairs:
            if pair.id == number and pair.started:
                return pair
        raise ApiError(404, f"no open connection {number}")

    def _changed(self, action: str, caller: str, **details: Any) -> None:
        self.run.display.control(action, caller, **details)
        if action.startswith("fault-"):
            for pair in list(self.run.pairs):
                pair.rules_changed()
        self.run.flush_display_soon()


def _number(text: str, what: str) -> int:
    if not text.isdigit() or len(text) > 12:
        raise ApiError(404, f"no such {what}: expected a number")
    return int(text)


def _close(options: dict[str, Any]) -> tuple[int | None, str]:
    code = options.get("close_code")
    reason = options.get("reason", "wscli proxy: disconnected")
    if not isinstance(reason, str):
        raise ApiError(400, "reason: expected text")
    if code is None:
        return None, reason
    if isinstance(code, bool) or not isinstance(code, int):
        raise ApiError(400, "close_code: expected a number such as 4000")
    problem = close_problem(code, reason)
    if problem is not None:
        raise ApiError(400, problem)
    return code, reason


def describe(pair: Pair) -> dict[str, Any]:
    """An open connection as the API shows it."""
    paused = sorted({relay.way for relay in pair.relays.values() if relay.paused})
    return {
        "id": pair.id,
        "path": escape_control(redact(pair.path), keep_newlines=False),
        "client": pair.client_address,
        "opened": pair.opened_at,
        "messages": {
            "up": pair.client.messages_in,
            "down": pair.upstream.messages_in if pair.upstream is not None else 0,
        },
        "paused": paused,
        "stalled": pair.stalled,
    }


def answer(status: int, body: dict[str, Any]) -> bytes:
    """A whole HTTP response: JSON, not cached, the connection closed after it."""
    data = (to_json(body) + "\n").encode("utf-8")
    phrase = http.HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + data


class ControlConnection(asyncio.Protocol):
    """One caller: one request read (bounded in size and time), one answer, then close."""

    def __init__(self, api: ControlApi, open_connections: set[ControlConnection]) -> None:
        self.api = api
        self.open = open_connections
        self.reader = RequestReader(MAX_BODY)
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.caller = "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if len(self.open) >= MAX_CONNECTIONS:
            self.transport.abort()
            return
        self.open.add(self)
        peer = transport.get_extra_info("peername")
        self.caller = hostport(str(peer[0]), int(peer[1])) if peer else "?"
        self.timer = asyncio.get_running_loop().call_later(REQUEST_TIMEOUT, self.transport.abort)

    def data_received(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        try:
            request = self.reader.feed(data)
            if request is None:
                return
            self.api.check_caller(request)
            status, body = self.api.handle(request, self.caller)
        except BadRequest as exc:
            status, body = exc.status, {"error": exc.reason}
        except ApiError as exc:
            status, body = exc.status, {"error": exc.message}
        self.transport.write(answer(status, body))
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.open.discard(self)
        if self.timer is not None:
            self.timer.cancel()


def control_factory(api: ControlApi) -> Callable[[], ControlConnection]:
    """The protocol factory of the control port's listening socket."""
    connections: set[ControlConnection] = set()
    return lambda: ControlConnection(api, connections)
