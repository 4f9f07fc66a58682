"""wscli: a command-line WebSocket toolkit (serve, connect, handshake)."""

__version__ = "0.1.0"
