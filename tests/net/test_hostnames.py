"""wscli.net.hostnames: the allow-list from the bound sockets, the machine and the options."""

from __future__ import annotations

import socket

from wscli.net.hostnames import allowed_hosts


def test_the_bound_address_and_the_options_are_allowed() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        names = allowed_hosts("127.0.0.1", [sock], ["Chat.Example.", "[2001:db8::1]"])
    assert names == {"127.0.0.1", "chat.example", "2001:db8::1"}


def test_a_wildcard_bind_allows_this_machines_name_and_star_turns_the_check_off() -> None:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        names = allowed_hosts("0.0.0.0", [sock], [])
        assert names is not None and socket.gethostname().lower() in names
        assert allowed_hosts("0.0.0.0", [sock], ["*"]) is None
