"""wscli.serve.admission.admit: who gets in, decided from a parsed request alone (no sockets)."""

from __future__ import annotations

import dataclasses

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request

from wscli.serve.admission import Admit, Plain, Policy, Refuse, admit

POLICY = Policy(
    allowed_hosts={"127.0.0.1", "chat.example"},
    origins=(),
    token=None,
    max_clients=None,
    port=3000,
    tls=False,
)
UPGRADE = [
    ("Host", "127.0.0.1:3000"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("Sec-WebSocket-Version", "13"),
]


def request(
    path: str = "/chat",
    headers: list[tuple[str, str]] | None = None,
    method: str = "GET",
    protocol: str = "HTTP/1.1",
) -> Request:
    return Request(path, Headers(UPGRADE if headers is None else headers), method, protocol)


def test_an_upgrade_is_admitted_to_its_room_with_its_cleaned_nick() -> None:
    assert admit(request("/r?nick=a%07nn"), POLICY, 0) == Admit("/r", "ann")


def test_plain_requests_go_to_http() -> None:
    plain = [h for h in UPGRADE if h[0] in {"Host"}]
    assert admit(request("/healthz?x", plain), POLICY, 0) == Plain("/healthz", "GET")
    assert admit(request("/", plain, "HEAD"), POLICY, 0) == Plain("/", "HEAD")


@pytest.mark.parametrize(
    "name", ["Host", "Origin", "Authorization", "Upgrade", "Sec-WebSocket-Key"]
)
def test_a_duplicate_header_is_400(name: str) -> None:
    headers = [*UPGRADE, (name, "x"), (name, "y")]
    decision = admit(request(headers=headers), POLICY, 0)
    assert isinstance(decision, Refuse) and decision.status == 400 and name in decision.reason


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({"headers": UPGRADE[1:]}, 400, "no Host header"),
        ({"protocol": "HTTP/1.0"}, 400, "WebSocket upgrades need HTTP/1.1"),
        ({"method": "HEAD"}, 405, "WebSocket upgrades use GET"),
        (
            {"headers": [("Host", "evil.example:3000"), *UPGRADE[1:]]},
            403,
            "host evil.example not allowed (see --allowed-host)",
        ),
        ({"headers": [*UPGRADE, ("Origin", "http://evil.example")]}, 403, "origin"),
    ],
)
def test_refusals(change: dict[str, object], status: int, reason: str) -> None:
    decision = admit(request(**change), POLICY, 0)  # type: ignore[arg-type]
    assert isinstance(decision, Refuse), decision
    assert (decision.status, decision.reason[: len(reason)]) == (status, reason)


def test_a_foreign_host_is_refused_for_plain_http_too_and_allowed_hosts_pass() -> None:
    plain = [("Host", "rebind.attacker.example:3000")]
    decision = admit(request("/", plain), POLICY, 0)
    assert isinstance(decision, Refuse) and decision.status == 403
    assert admit(request("/", [("Host", "chat.example")]), POLICY, 0) == Plain("/", "GET")
    assert admit(request("/", [("Host", "localhost:3000")]), POLICY, 0) == Plain("/", "GET")
    anyone = dataclasses.replace(POLICY, allowed_hosts=None)
    assert admit(request("/", plain), anyone, 0) == Plain("/", "GET")


def test_token_and_capacity() -> None:
    guarded = dataclasses.replace(POLICY, token="s3cret", max_clients=2)
    missing = admit(request(), guarded, 0)
    assert isinstance(missing, Refuse) and missing.status == 401
    assert ("WWW-Authenticate", 'Bearer realm="wscli"') in missing.headers
    wrong = admit(request("/chat?token=nope"), guarded, 0)
    assert isinstance(wrong, Refuse) and (wrong.status, wrong.reason) == (403, "invalid token")
    assert admit(request("/chat?token=s3cret"), guarded, 1) == Admit("/chat", None)
    full = admit(request("/chat?token=s3cret"), guarded, 2)
    assert isinstance(full, Refuse) and full.status == 503
    assert all("s3cret" not in d.reason for d in (missing, wrong, full))
