"""wscli.core.target: which request targets are taken, and one spelling per path (any
target, tried with Hypothesis: only the declared error, bounded output, linear time)."""

from __future__ import annotations

import contextlib
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support import growth
from wscli.core.target import RequestTargetError, normalize_path, origin_form


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


def test_target_parsing_is_linear_in_the_targets_length() -> None:
    def run(n: int) -> None:
        for target in ("/" + "a/@?" * n, "http://proxy.example/" + "%2F" * n, "@" * n):
            with contextlib.suppress(RequestTargetError):
                origin_form(target, own)

    assert growth(run, 20_000) < 24  # 8 when linear; 64 when quadratic


@pytest.mark.parametrize(
    ("path", "normal"),
    [
        ("/chat", "/chat"),
        ("/%63h%61t", "/chat"),
        ("/%7E%2d%2E%5f", "/~-._"),
        ("/a%2fb%3f", "/a%2Fb%3F"),  # reserved characters stay encoded
        ("/%2563", "/%2563"),  # decoded once
        ("/%zz%4", "/%zz%4"),
        ("/%C3%A9", "/%C3%A9"),
        # A decoded hex digit after a stray % would make a new escape (%00: a NUL).
        ("/%0%30", "/%0%30"),
        ("/%%41%30", "/%%410"),
        ("/%X%41%30", "/%XA0"),
    ],
)
def test_normalize_path(path: str, normal: str) -> None:
    assert normalize_path(path) == normal


@given(st.text(alphabet=st.sampled_from("%/aZ09-.~_2fF5C3"), max_size=80) | st.text(max_size=80))
def test_normalized_paths_are_fixed_points_and_never_longer(path: str) -> None:
    normal = normalize_path(path)
    assert len(normal) <= len(path) and normalize_path(normal) == normal
    assert urllib.parse.unquote(normal) == urllib.parse.unquote(path)  # the same path


def test_path_normalization_is_linear() -> None:
    assert growth(lambda n: normalize_path("/%63%2f%zz" * n), 5000) < 24
