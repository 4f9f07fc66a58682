from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.uri import parse_uri

from wscli.core.errors import UsageProblem
from wscli.core.target import RequestTargetError, origin_form
from wscli.core.url import normalize_url, parse_ws_url, uri_text, with_target


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


def test_redact_url_hides_the_password_and_secret_query_values() -> None:
    from wscli.core.url import redact_in, redact_url

    assert redact_url("http://bob:hunter2@proxy:3128/") == "http://bob:***@proxy:3128/"
    assert redact_url("ws://bob@h/") == "ws://bob@h/"  # no password, nothing to hide
    assert redact_url("ws://h/?room=x") == "ws://h/?room=x"
    assert redact_url("ws://h/?access_token=x&room=y") == "ws://h/?access_token=[redacted]&room=y"
    assert redact_url("ws://a:b@h/?key=x") == "ws://a:***@h/?key=[redacted]"
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


# Request targets (what a server or proxy receives): origin-form only, built structurally

UPSTREAM = parse_uri("wss://user:pw@up.example:8443/base?k=v")


def own(host: str, port: int | None) -> bool:
    return host == "proxy.example" and port in (None, 9000)


def test_with_target_keeps_the_upstreams_origin_and_credentials() -> None:
    uri = with_target(UPSTREAM, "//evil.example/x", "a=@b")
    assert (uri.secure, uri.host, uri.port, uri.user_info) == (
        True,
        "up.example",
        8443,
        ("user", "pw"),
    )
    assert uri.resource_name == "//evil.example/x?a=@b"
    assert uri_text(uri) == "wss://up.example:8443//evil.example/x?a=@b"
    with pytest.raises(RequestTargetError):
        with_target(UPSTREAM, "@elsewhere/x", "")


TARGETS = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.sampled_from("/?#@:.%*[]\\ abc019\t\x00é"), max_size=60),
    st.builds(lambda rest: "/" + rest, st.text(max_size=100)),
    st.builds(
        lambda s, rest: s + "://" + rest,
        st.sampled_from(["http", "ws", "HTTPS"]),
        st.text(max_size=60),
    ),
)


@given(TARGETS)
def test_any_target_is_refused_or_leads_only_to_the_upstream(target: str) -> None:
    try:
        path, query = origin_form(target, own)
    except RequestTargetError:
        return
    assert path.startswith("/") and len(path) + len(query) <= len(target)
    uri = with_target(UPSTREAM, path, query)
    assert (uri.secure, uri.host, uri.port, uri.user_info) == (
        True,
        "up.example",
        8443,
        ("user", "pw"),
    )
    again = parse_uri(uri_text(uri))  # read back from the text it is shown as
    assert (again.host, again.port, again.resource_name) == ("up.example", 8443, uri.resource_name)
