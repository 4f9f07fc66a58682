from __future__ import annotations

import pytest

from wscli.core.errors import UsageProblem
from wscli.core.url import normalize_url, parse_ws_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("ws://h/x", "ws://h/x"),
        ("WSS://h/x", "wss://h/x"),
        ("http://h:80/", "ws://h:80/"),
        ("https://h/", "wss://h/"),
        ("localhost:3000/chat", "ws://localhost:3000/chat"),
    ],
)
def test_normalize(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


def test_parse_ipv6_and_query() -> None:
    uri = parse_ws_url("ws://[::1]:8080/room?token=a")
    assert (uri.host, uri.port, uri.path, uri.query, uri.secure) == (
        "::1",
        8080,
        "/room",
        "token=a",
        False,
    )


@pytest.mark.parametrize(
    "bad", ["ftp://h/", "ws://", "ws://h:99999/", "ws://127.0.0.1:0/", "ws://\u2100/"]
)
def test_bad_urls(bad: str) -> None:
    with pytest.raises(UsageProblem) as info:
        parse_ws_url(bad)
    assert bad in str(info.value)


def test_undecodable_host_is_a_usage_error() -> None:
    # argv bytes that are not UTF-8 arrive as surrogates; urlsplit accepts them, websockets'
    # parse_uri raises ValueError (IDNA)
    with pytest.raises(UsageProblem, match=r"^invalid URL 'ws://a\\udcff/': .*idna"):
        parse_ws_url("ws://a\udcff/")


def test_redact_url_hides_only_the_password() -> None:
    from wscli.core.url import redact_in, redact_url

    assert redact_url("http://bob:hunter2@proxy:3128/") == "http://bob:***@proxy:3128/"
    assert redact_url("ws://bob@h/") == "ws://bob@h/"  # no password, nothing to hide
    assert redact_url("ws://h/?token=x") == "ws://h/?token=x"
    proxy = "http://bob:hunter2@proxy:3128"
    said = f"cannot connect to proxy:3128 (via proxy {proxy}); hunter2 again"
    assert redact_in(said, proxy) == (
        "cannot connect to proxy:3128 (via proxy http://bob:***@proxy:3128); *** again"
    )
    assert redact_in("text", None) == "text"


def test_redact_url_hides_the_password_of_a_url_it_cannot_parse() -> None:
    from wscli.core.url import redact_url

    assert redact_url("http://bob:hunter2@[::1") == "http://bob:***@[::1"
    assert redact_url("http://bob:pa@ss@[zz]/x") == "http://bob:***@[zz]/x"
    assert redact_url("http://[::1") == "http://[::1"
