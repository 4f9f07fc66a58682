"""The one WebSocket connection engine of wscli, below the commands.

:class:`~wscli.wire.engine.Engine` is an ``asyncio.Protocol`` driving websockets' public
sans-I/O ``ServerProtocol`` or ``ClientProtocol``: bytes in, protocol output out, one byte
budget for everything queued for the peer and flow control both ways
(:mod:`~wscli.wire.stream`), keepalive
(:mod:`~wscli.wire.keepalive`), the close handshake and write coalescing. It reports to
its owner (`serve`'s server, the proxy's relay, `connect`'s channel) through the small
typed interface of :mod:`~wscli.wire.owner`; :mod:`~wscli.wire.client` opens a client
connection on it (TCP, proxy tunnel, TLS, the opening handshake).
"""
