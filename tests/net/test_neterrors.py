"""Real connection failures on loopback, explained by describe_connect_error."""

from __future__ import annotations

import asyncio
import socket
import ssl

import pytest

from wscli.core.errors import ConnectFailed, TimedOut
from wscli.core.exitcodes import ExitCode
from wscli.net.neterrors import describe_connect_error


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_refused() -> None:
    port = _free_port()
    with pytest.raises(OSError) as info:
        await asyncio.open_connection("127.0.0.1", port)
    error = describe_connect_error(info.value, "127.0.0.1", port)
    assert isinstance(error, ConnectFailed)
    assert error.exit_code == ExitCode.CONNECT_FAILED
    assert str(error) == (
        f"cannot connect to 127.0.0.1:{port}: connection refused (hint: is the server running?)"
    )


async def test_tls_to_plain_port_hints_ws() -> None:
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(plain, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        context = ssl.create_default_context()
        with pytest.raises(ssl.SSLError) as info:
            await asyncio.open_connection("127.0.0.1", port, ssl=context)
    error = describe_connect_error(info.value, "127.0.0.1", port, secure=True)
    assert "wss:// to a plain-text port?" in str(error)


def test_ipv6_and_timeout() -> None:
    error = describe_connect_error(TimeoutError(), "::1", 80)
    assert isinstance(error, TimedOut)
    assert str(error) == "cannot connect to [::1]:80: timed out"


def test_a_name_mismatch_names_the_certificates_names_not_cacert() -> None:
    mismatch = ssl.SSLCertVerificationError(1, "certificate verify failed")
    mismatch.verify_code = 62  # X509_V_ERR_HOSTNAME_MISMATCH
    mismatch.verify_message = "Hostname mismatch, certificate is not valid for 'h'."
    names = [f"DNS:n{i}.test" for i in range(12)]
    error = describe_connect_error(mismatch, "h", 443, True, names)
    assert error.hint == (
        "the certificate is for DNS:n0.test, DNS:n1.test, DNS:n2.test, DNS:n3.test,"
        " DNS:n4.test, DNS:n5.test, DNS:n6.test, DNS:n7.test and 4 more: use a URL with one"
        " of those names"
    )
    unread = describe_connect_error(mismatch, "h", 443, True)
    assert unread.hint == "the certificate is for other names than this one"
    untrusted = ssl.SSLCertVerificationError(1, "certificate verify failed")
    untrusted.verify_code = 20  # unable to get local issuer certificate
    untrusted.verify_message = "unable to get local issuer certificate"
    assert "--cacert" in (describe_connect_error(untrusted, "h", 443, True).hint or "")
