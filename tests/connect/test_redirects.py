"""wscli.connect.redirects: where a Location header leads, and what may follow it there."""

from __future__ import annotations

import pytest

from wscli.core.errors import HandshakeRejected
from wscli.core.redirects import redirect_target, same_origin


def test_redirect_target_resolves_relative_and_http_locations() -> None:
    assert redirect_target("ws://h:81/a/b", "c") == "ws://h:81/a/c"
    assert redirect_target("ws://h:81/a/b", "/x?y=1") == "ws://h:81/x?y=1"
    assert redirect_target("ws://h/", "https://other/z") == "wss://other/z"
    assert redirect_target("wss://h/", "wss://other:8443/") == "wss://other:8443/"


def test_redirect_target_refuses_downgrade_and_other_schemes() -> None:
    with pytest.raises(HandshakeRejected, match="wss:// to ws://"):
        redirect_target("wss://h/", "http://h/")
    with pytest.raises(HandshakeRejected, match="cannot follow the redirect"):
        redirect_target("ws://h/", "ftp://h/file")


def test_same_origin_is_scheme_host_and_port() -> None:
    assert same_origin("ws://H:80/a", "ws://h/b")
    assert not same_origin("ws://h/", "ws://h:81/")
    assert not same_origin("ws://h/", "wss://h/")
    assert not same_origin("ws://h/", "ws://evil/")
