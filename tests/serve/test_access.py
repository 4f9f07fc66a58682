"""wscli.serve.access: rooms, nicknames, the origin policy and tokens (pure functions)."""

from __future__ import annotations

import pytest

from wscli.serve.access import (
    MAX_NICK,
    Refusal,
    admission_document,
    check_origin_option,
    clean_nick,
    origin_allowed,
    presented_token,
    refusal,
    same_origin,
    split_path,
    token_matches,
)


@pytest.mark.parametrize(
    ("path", "room", "params"),
    [
        ("/chat", "/chat", {}),
        ("/chat?nick=al&nick=bo&x=", "/chat", {"nick": "al", "x": ""}),
        ("/?token=a%20b", "/", {"token": "a b"}),
        ("?nick=x", "/", {"nick": "x"}),
    ],
)
def test_split_path(path: str, room: str, params: dict[str, str]) -> None:
    assert split_path(path) == (room, params)


@pytest.mark.parametrize(
    ("raw", "nick"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("ann", "ann"),
        ("\x1b[31mred\x07", "[31mred"),
        ("a\u202eb\u200bc", "abc"),  # bidi override and zero-width space removed
        ("two\nlines\t here", "two lines here"),
        ("émile ✓", "émile ✓"),
        ("x" * 100, "x" * MAX_NICK),
        ("#2", "2"),  # #ID names anonymous clients only
        ("# #\uff03\ufe5f7 #b", "7 #b"),
        ("\u2800", None),  # renders blank
        ("\u3164\u115f\u1160\uffa0\u034f\u17b4", None),
        ("a\u2800 b", "a b"),
    ],
)
def test_clean_nick(raw: str | None, nick: str | None) -> None:
    assert clean_nick(raw) == nick


MINE = {"127.0.0.1", "chat.example"}


def test_same_origin_compares_scheme_port_and_an_allowed_host() -> None:
    assert same_origin("http://127.0.0.1:3000", MINE, "127.0.0.1:3000", 3000, tls=False)
    assert same_origin("HTTP://LOCALHOST", MINE, "localhost:80", 80, tls=False)
    assert same_origin("https://[::1]:8443", MINE, "[::1]:8443", 8443, tls=True)
    assert same_origin("https://chat.example", MINE, "chat.example", 443, tls=True)
    assert not same_origin("https://127.0.0.1:3000", MINE, "127.0.0.1:3000", 3000, tls=False)
    assert not same_origin("http://127.0.0.1:3001", MINE, "127.0.0.1:3000", 3000, tls=False)
    assert not same_origin("http://evil.example", MINE, None, 80, tls=False)


def test_same_origin_is_not_judged_by_the_requests_own_host() -> None:
    # Issue 9, finding 6 (DNS rebinding): the attacker's page sends its own name as Host.
    rebind = "rebind.attacker.example:3000"
    assert not same_origin("http://" + rebind, MINE, rebind, 3000, tls=False)
    # Only with the Host check off ('--allowed-host *') does the Host header decide.
    assert same_origin("http://" + rebind, None, rebind, 3000, tls=False)


def test_origin_policy() -> None:
    host = "127.0.0.1:3000"

    def allowed(origin: str | None, listed: list[str]) -> bool:
        return origin_allowed(origin, listed, MINE, host, 3000, False)

    assert allowed(None, [])  # not a browser
    assert allowed("http://127.0.0.1:3000", [])
    assert not allowed("http://evil.example", [])
    assert not allowed("null", [])
    assert allowed("null", ["null"])
    assert allowed("https://ok.example", ["https://ok.example:443"])
    assert not allowed("http://ok.example", ["https://ok.example"])
    assert allowed("http://any.example", ["*"])
    assert not allowed("http://x:notaport", ["http://x"])


def test_presented_token_from_bearer_header_or_query() -> None:
    assert presented_token({"Authorization": "Bearer abc"}, {}) == "abc"
    assert presented_token({"Authorization": "bearer  abc "}, {}) == "abc"
    assert presented_token({"Authorization": "Basic abc"}, {"token": "q"}) == "q"
    assert presented_token({}, {"token": "q"}) == "q"
    assert presented_token({}, {}) is None


def test_token_matches_exactly() -> None:
    assert token_matches("s3cret", "s3cret")
    assert not token_matches("s3cre", "s3cret")
    assert not token_matches("s3cretx", "s3cret")
    assert token_matches("ünïcode", "ünïcode")


@pytest.mark.parametrize(
    "value", ["*", "null", "https://a.example", "http://127.0.0.1:3000", "http://[::1]:8080"]
)
def test_origin_option_accepted(value: str) -> None:
    assert check_origin_option(value) is None


@pytest.mark.parametrize("value", ["", "example.com", "https://a.example/path", "https://"])
def test_origin_option_rejected_with_a_reason(value: str) -> None:
    why = check_origin_option(value)
    assert why is not None and "scheme://host" in why


def _verdict(
    origin: str | None = None,
    token: str | None = None,
    expected_token: str | None = None,
    clients: int = 0,
    max_clients: int | None = None,
) -> Refusal | None:
    return refusal(
        origin=origin,
        origins=(),
        host_header="127.0.0.1:3000",
        tls=False,
        token=token,
        expected_token=expected_token,
        clients=clients,
        max_clients=max_clients,
    )


def test_refusal_in_the_order_the_upgrade_checks() -> None:
    assert _verdict() is None
    assert _verdict(origin="http://127.0.0.1:3000") is None
    assert _verdict(origin="https://evil.example") == Refusal(
        403, "origin https://evil.example not allowed", "origin"
    )
    assert _verdict(expected_token="t") == Refusal(401, "token required", "token")
    assert _verdict(expected_token="t", token="x") == Refusal(403, "invalid token", "token")
    assert _verdict(expected_token="t", token="t") is None
    assert _verdict(clients=2, max_clients=2) == Refusal(503, "server full (2 clients)", "full")
    assert _verdict(clients=1, max_clients=2) is None
    # Origin first, then the token, then capacity: a stranger learns nothing about the rest.
    both = _verdict(origin="https://evil.example", expected_token="t", clients=5, max_clients=1)
    assert both is not None and both.kind == "origin"


def test_admission_document() -> None:
    assert admission_document(None) == {"admitted": True}
    assert admission_document(Refusal(401, "token required", "token")) == {
        "admitted": False,
        "refusal": "token",
        "status": 401,
    }
    assert admission_document(Refusal(503, "server full (1 clients)", "full")) == {
        "admitted": False,
        "refusal": "full",
        "status": 503,
        "retry_after": 30,
    }
