from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import growth
from websockets.uri import parse_uri

from wscli.core.errors import UsageProblem
from wscli.core.url import (
    RequestTargetError,
    normalize_url,
    origin_form,
    parse_ws_url,
    uri_text,
    with_target,
)


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


# Request targets (what a server or proxy receives): origin-form only, built structurally

UPSTREAM = parse_uri("wss://user:pw@up.example:8443/base?k=v")


def own(host: str, port: int | None) -> bool:
    return host == "proxy.example" and port in (None, 9000)


@pytest.mark.parametrize(
    ("target", "path", "query"),
    [
        ("/", "/", ""),
        ("/chat?nick=al&x=", "/chat", "nick=al&x="),
        ("//evil.example/x", "//evil.example/x", ""),
        ("/@evil.example:1/x?y=@z", "/@evil.example:1/x", "y=@z"),
        ("/a?b?c", "/a", "b?c"),
        ("http://proxy.example/p?q", "/p", "q"),
        ("ws://proxy.example:9000", "/", ""),
        ("WSS://PROXY.EXAMPLE:9000/x", "/x", ""),
    ],
)
def test_origin_form_targets(target: str, path: str, query: str) -> None:
    assert origin_form(target, own) == (path, query)


@pytest.mark.parametrize(
    "target",
    [
        "@127.0.0.1:8080/secret",  # concatenated after ws://HOST:PORT, the upstream is userinfo
        "*",
        "",
        "127.0.0.1:8080",  # authority-form (CONNECT)
        "http://127.0.0.1:8080/secret",  # absolute-form naming another server
        "ws://proxy.example:9001/x",  # the proxy's name, another port
        "http://user@proxy.example/x",
        "http://proxy.example:bad/x",
        "ftp://proxy.example/x",
        "/a#frag",
        "/a\tb",
        "/a\x00",
        "/é",
    ],
)
def test_other_targets_are_refused(target: str) -> None:
    with pytest.raises(RequestTargetError):
        origin_form(target, own)


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


@settings(max_examples=200, deadline=None)
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


def test_target_parsing_is_linear_in_the_targets_length() -> None:
    def run(n: int) -> None:
        for target in ("/" + "a/@?" * n, "http://proxy.example/" + "%2F" * n, "@" * n):
            with contextlib.suppress(RequestTargetError):
                origin_form(target, own)

    assert growth(run, 20_000) < 24  # 8 when linear; 64 when quadratic
