"""Reaching a host through a proxy: the one HTTP CONNECT tunnel (and SOCKS, with the
optional python-socks), the environment's proxy rules, and :func:`dial`, which opens the
TCP (and TLS) connection of a protocol factory directly or through a proxy.

Used by `connect` (WebSocket and long-polling) and by the proxy's upstream. The proxy's
answer to CONNECT is hostile until read: at most :data:`MAX_ANSWER` bytes, within the
caller's timeout.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
import urllib.parse
import urllib.request
from collections.abc import Callable

from wscli.core.errors import ConnectFailed, TimedOut, UsageProblem, WscliError
from wscli.core.hosts import is_loopback
from wscli.core.url import is_direct, redact_url
from wscli.net.neterrors import describe_connect_error, hostport
from wscli.net.tls import certificate_names, name_mismatch

MAX_ANSWER = 16 * 1024
"""Most bytes of a proxy's answer to CONNECT (status line and headers)."""

SCHEMES = ("http", "socks4", "socks5", "socks5h")
"""Proxy URL schemes wscli can use."""


def environment_proxy(host: str, port: int, secure: bool, websocket: bool = True) -> str | None:
    """The proxy the ``*_proxy`` environment variables name for host:port (None: direct),
    by the standard library's rules for reading them and for ``no_proxy``.

    For a WebSocket, as RFC 6455's proxy usage suggests (and websockets does), a SOCKS
    proxy comes first, then the HTTPS proxy, then (for ws://) the HTTP one; for plain HTTP
    (long-polling) the proxy of its scheme, else ``all_proxy``. Loopback hosts go direct.
    """
    if is_loopback(host):
        return None
    proxies = urllib.request.getproxies_environment()
    # (typeshed lacks proxy_bypass_environment, a public function of urllib.request)
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if proxies.get("no") and bypass(hostport(host, port), proxies):
        return None
    order: tuple[str, ...]
    if websocket:
        order = ("wss", "socks", "https") if secure else ("ws", "socks", "https", "http")
    else:
        order = ("https", "all") if secure else ("http", "all")
    for scheme in order:
        proxy = proxies.get(scheme)
        if proxy:
            if scheme == "socks" and proxy.startswith("http://"):
                return "socks5h://" + proxy[len("http://") :]
            return proxy
    return None


def resolve_proxy(option: str | None, host: str, port: int, secure: bool) -> str | None:
    """The proxy to reach host:port through: ``--proxy`` (``none`` or empty: direct;
    :class:`UsageProblem` for one wscli cannot use), else the environment's (``*_proxy``,
    ``no_proxy``; loopback hosts never go through one)."""
    if option is not None:
        if is_direct(option):
            return None
        check_proxy(option, "--proxy")
        return option
    return environment_proxy(host, port, secure)


def check_proxy(proxy: str, name: str = "proxy") -> urllib.parse.SplitResult:
    """The parts of a proxy URL; :class:`UsageProblem` for one wscli cannot use, naming it
    ``name`` (the option it came from) with its password hidden.

    Checked before anything starts: a bad port (``:99999``) or bracket (``http://[::1``)
    raised a ValueError traceback from deep inside the connection.
    """
    what = f"invalid {name} {redact_url(proxy)!r}"
    try:
        parts = urllib.parse.urlsplit(proxy)
        host, port = parts.hostname, parts.port  # .port raises for one out of range
    except ValueError as exc:
        raise UsageProblem(what, str(exc)) from None
    if parts.scheme not in SCHEMES:
        raise UsageProblem(what, "expected http://host:port or socks5://host:port")
    if not host or (port is None and parts.netloc.rstrip("]").endswith(":")):
        raise UsageProblem(what, "no host:port")
    return parts


async def http_connect(proxy: str, host: str, port: int) -> socket.socket:
    """A socket tunnelled to host:port through the HTTP proxy ``proxy`` (``CONNECT``).

    The caller bounds the time (every wait here is on the network). Raises
    :class:`ConnectFailed` when the proxy cannot be reached or refuses.
    """
    parts = check_proxy(proxy)
    proxy_host, proxy_port = parts.hostname or "", parts.port or 8080
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(proxy_host, proxy_port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise _proxy_unreachable(exc, proxy) from None
    try:
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
        except OSError as exc:
            raise _proxy_unreachable(exc, proxy) from None
        target = hostport(host, port)
        lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            lines.append(f"Proxy-Authorization: Basic {token}")
        await loop.sock_sendall(sock, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await _read_answer(loop, sock)
    except BaseException:
        sock.close()
        raise
    return sock


async def _read_answer(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> str:
    """The proxy's answer to CONNECT (nothing follows its head before we talk); its status
    line when it is 200."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        try:
            chunk = await loop.sock_recv(sock, MAX_ANSWER + 1 - len(answer))
        except OSError as exc:
            raise ConnectFailed("the proxy connection failed", str(exc) or "reset") from None
        if not chunk:
            raise ConnectFailed("the proxy connection failed", "no answer to CONNECT")
        answer += chunk
        if len(answer) > MAX_ANSWER:
            raise ConnectFailed(
                "the proxy connection failed", f"an answer to CONNECT over {MAX_ANSWER} bytes"
            )
    line = answer.split(b"\r\n", 1)[0].decode("latin-1")
    fields = line.split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise ConnectFailed("the proxy connection failed", "no valid answer to CONNECT")
    status = int(fields[1])
    if status != 200:
        reason = " ".join(fields[2:]).strip()
        raise ConnectFailed(
            "the proxy refused the connection",
            f"HTTP {status} {reason}".strip()[:120],
            hint="check --proxy and the proxy's credentials" if status == 407 else None,
        )
    return line


async def socks_connect(proxy: str, host: str, port: int) -> socket.socket:
    """A socket to host:port through a SOCKS proxy (python-socks, the ``socks`` extra)."""
    check_proxy(proxy)
    try:
        from python_socks.async_.asyncio import Proxy
    except ImportError:
        raise UsageProblem(
            "SOCKS proxies need python-socks", hint="pip install 'wscli-toolkit[socks]'"
        ) from None
    # socks5h: the proxy resolves the name (python-socks spells it rdns on socks5://).
    remote_dns = proxy.startswith("socks5h://")
    url = "socks5://" + proxy[len("socks5h://") :] if remote_dns else proxy
    try:
        sock: socket.socket = await Proxy.from_url(url, rdns=remote_dns or None).connect(
            dest_host=host, dest_port=port
        )
    except OSError as exc:
        raise ConnectFailed("the proxy connection failed", str(exc)) from None
    except Exception as exc:  # python-socks' own ProxyError and friends
        raise ConnectFailed("the proxy connection failed", str(exc) or type(exc).__name__) from None
    return sock


async def dial(
    factory: Callable[[], asyncio.Protocol],
    host: str,
    port: int,
    *,
    tls: ssl.SSLContext | None = None,
    proxy: str | None = None,
    timeout: float | None = None,
    cafile: str | None = None,
) -> asyncio.BaseTransport:
    """Connect ``factory()``'s protocol to host:port (through ``proxy`` unless direct),
    TLS when ``tls``; everything within ``timeout`` seconds.

    ``cafile``: the extra CAs ``tls`` trusts (--cacert); when the certificate is trusted but
    for other names, the error's hint names the names it has (read over a second, verified
    connection: see :func:`wscli.net.tls.certificate_names`).

    Raises :class:`WscliError`: connect failed (DNS, refused, TLS, proxy), timed out.
    """
    loop = asyncio.get_running_loop()
    server_hostname = host if tls is not None else None

    async def connect() -> asyncio.BaseTransport:
        if is_direct(proxy):
            transport, _ = await loop.create_connection(
                factory, host, port, ssl=tls, server_hostname=server_hostname
            )
            return transport
        assert proxy is not None
        if urllib.parse.urlsplit(proxy).scheme == "http":
            sock = await http_connect(proxy, host, port)
        else:
            sock = await socks_connect(proxy, host, port)
        try:
            transport, _ = await loop.create_connection(
                factory, sock=sock, ssl=tls, server_hostname=server_hostname
            )
        except BaseException:
            sock.close()
            raise
        return transport

    try:
        return await asyncio.wait_for(connect(), timeout)
    except WscliError:
        raise
    except (TimeoutError, asyncio.TimeoutError):
        raise TimedOut(f"opening the connection to {hostport(host, port)} timed out") from None
    except OSError as exc:
        names: list[str] = []
        if name_mismatch(exc) and is_direct(proxy):
            names = await certificate_names(host, port, cafile=cafile)
        raise describe_connect_error(exc, host, port, tls is not None, names) from None


def _proxy_unreachable(exc: OSError, proxy: str) -> WscliError:
    parts = urllib.parse.urlsplit(proxy)
    error = describe_connect_error(exc, parts.hostname or "", parts.port or 8080)
    error.what += f" (via proxy {redact_url(proxy)})"
    return error
