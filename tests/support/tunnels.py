"""Tiny proxies on loopback for the tests of wscli's proxy support: an HTTP CONNECT proxy and
a SOCKS5 proxy (no authentication), one thread per direction. Each records the targets it
was asked for, and resolves names itself through ``names`` (so a test can use a name that
is not loopback, as the ``*_proxy`` rules skip loopback hosts, and still reach 127.0.0.1).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Mapping


class _Tunnel:
    """Accepts clients in a thread; :meth:`_handle` opens the tunnel of each."""

    def __init__(self, names: Mapping[str, str] | None = None) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.targets: list[str] = []
        self.names = dict(names or {})
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._guarded, args=(client,), daemon=True).start()

    def _guarded(self, client: socket.socket) -> None:
        try:
            self._handle(client)
        except OSError:
            client.close()

    def _handle(self, client: socket.socket) -> None:
        raise NotImplementedError

    def _open(self, host: str, port: int) -> socket.socket:
        return socket.create_connection((self.names.get(host, host), port), timeout=5)

    def _splice(self, client: socket.socket, upstream: socket.socket) -> None:
        upstream.settimeout(None)
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


class ConnectProxy(_Tunnel):
    """An HTTP CONNECT proxy; ``targets`` holds ``"CONNECT host:port"`` per tunnel."""

    def _handle(self, client: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = client.recv(4096)
            if not chunk:
                client.close()
                return
            data += chunk
        method, target, _ = data.split(b"\r\n", 1)[0].decode().split(" ", 2)
        self.targets.append(f"{method} {target}")
        host, port = target.rsplit(":", 1)
        try:
            upstream = self._open(host.strip("[]"), int(port))
        except OSError:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            client.close()
            return
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self._splice(client, upstream)


class SocksProxy(_Tunnel):
    """A SOCKS5 proxy (RFC 1928, CONNECT, no authentication); ``targets`` holds
    ``"host:port"`` per tunnel, names as the client gave them (socks5h)."""

    def _handle(self, client: socket.socket) -> None:
        reader = client.makefile("rb")
        version, count = reader.read(2)
        methods = reader.read(count)
        if version != 5 or 0 not in methods:
            client.sendall(b"\x05\xff")
            client.close()
            return
        client.sendall(b"\x05\x00")
        _, command, _, kind = reader.read(4)
        if kind == 1:
            host = socket.inet_ntoa(reader.read(4))
        elif kind == 3:
            host = reader.read(reader.read(1)[0]).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, reader.read(16))
        (port,) = struct.unpack("!H", reader.read(2))
        self.targets.append(f"{host}:{port}")
        reply = b"\x05%c\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", 0)
        if command != 1:
            client.sendall(reply % 7)
            client.close()
            return
        try:
            upstream = self._open(host, port)
        except OSError:
            client.sendall(reply % 5)
            client.close()
            return
        client.sendall(reply % 0)
        self._splice(client, upstream)
