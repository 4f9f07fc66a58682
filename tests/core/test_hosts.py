"""wscli.core.hosts: the Host allow-list shared by `wscli serve` and `wscli proxy`."""

from __future__ import annotations

import pytest

from wscli.core.hosts import check_host_option, host_allowed, host_name, host_refusal

MINE = {"127.0.0.1", "chat.example"}


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("127.0.0.1:3000", "127.0.0.1"),
        ("[::1]:80", "::1"),
        ("Chat.Example.:443", "chat.example"),
        ("a b", None),
        ("x:99999", None),
        ("user@x", None),
        (None, None),
    ],
)
def test_host_name_of_a_host_header(header: str | None, name: str | None) -> None:
    assert host_name(header) == name


def test_host_allowed_loopback_always_others_only_when_listed() -> None:
    for name in ("localhost", "127.0.0.1", "127.9.9.9", "::1", "app.localhost"):
        assert host_allowed(name, set())
    assert host_allowed("chat.example", MINE)
    assert not host_allowed("rebind.attacker.example", MINE)
    assert not host_allowed(None, MINE)
    assert host_allowed("anything.example", None)  # --allowed-host '*'


@pytest.mark.parametrize("value", ["*", "chat.example", "10.0.0.5", "::1", "[::1]"])
def test_allowed_host_option_accepted(value: str) -> None:
    assert check_host_option(value) is None


@pytest.mark.parametrize("value", ["", "x:80", "http://x", "a b"])
def test_allowed_host_option_rejected_with_a_reason(value: str) -> None:
    assert "expected" in (check_host_option(value) or "")


def test_host_refusal_names_the_host_or_says_it_is_invalid() -> None:
    assert host_refusal("127.0.0.1:3000", set()) is None
    assert host_refusal("chat.example", MINE) is None
    assert host_refusal("rebind.attacker.example:80", MINE) == (
        "host rebind.attacker.example not allowed (see --allowed-host)"
    )
    assert host_refusal("a b", MINE) == "host (invalid) not allowed (see --allowed-host)"
    assert host_refusal(None, MINE) is not None
    assert host_refusal("anything", None) is None  # --allowed-host '*'
