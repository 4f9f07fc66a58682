"""The opening handshake of RFC 6455 §1.2, byte for byte, shared by the tests."""

from __future__ import annotations

from wscli.core.clientrequest import USER_AGENT

KEY = "x3JJHMbDL1EzLkh9GBhXDw=="
ACCEPT = "HSmrc0sMlYUkAGmm5OPpG2HaGWk="
EXAMPLE_REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)
SENT_REQUEST = EXAMPLE_REQUEST[:-2] + f"User-Agent: {USER_AGENT}\r\n\r\n".encode()
"""The RFC's request as wscli sends it: its User-Agent (as `wscli connect`'s) added last."""
EXAMPLE_RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=\r\n"
    b"Sec-WebSocket-Protocol: chat\r\n"
    b"\r\n"
)
