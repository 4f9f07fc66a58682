"""Socket.IO (protocol v5) over Engine.IO v4 for `wscli connect --socketio`.

Why our own small layer rather than python-socketio: wscli wants websockets' connection
(its TLS, proxy, header, ping and exit-code handling), the same link interface as plain
WebSockets for the pipe and the prompt, and hostile-input limits of its own; a library
with its own transports and event loop would hide all three.

- :mod:`~wscli.core.socketio`: the wire format, pure and bounded;
- :mod:`~wscli.connect.socketio.http` and :mod:`~wscli.connect.socketio.transport`:
  Engine.IO over a WebSocket or HTTP long-polling;
- :mod:`~wscli.connect.socketio.link`: the session glue (namespace, events, acks);
- its options: :class:`wscli.connect.config.SocketIOOptions`.
"""
