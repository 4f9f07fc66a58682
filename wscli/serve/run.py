"""Running `wscli serve` as a process: the backplane, the event loop, signals, graceful
shutdown.

:func:`run` checks the config, builds the Redis backplane when ``--redis`` asks for one,
serves a :class:`~wscli.serve.server.ChatServer` until SIGINT or SIGTERM, then closes every
client with 1001 (bounded in time); a second signal aborts every connection at once and
surfaces as KeyboardInterrupt (the CLI exits 130).
"""

from __future__ import annotations

import asyncio
import gc
import signal

from wscli.net.eventloop import loop_factory, run_fast
from wscli.serve import fdlimit
from wscli.serve.config import ServeConfig, check_serve_config
from wscli.serve.log import EventLog
from wscli.serve.server import ChatServer


def run(config: ServeConfig, log: EventLog) -> None:
    """Serve until SIGINT/SIGTERM (graceful: 1001 to every client); a second one is at once.

    ``config.loop``: ``auto`` uses uvloop when installed (the ``speed`` extra), ``uvloop``
    requires it, ``asyncio`` never uses it. Raises UsageProblem for a bad config and
    KeyboardInterrupt after a second signal. The soft file-descriptor limit is raised to
    the hard one first (or set to ``config.max_fds``): see
    :func:`wscli.serve.fdlimit.raise_limit`.
    """
    config = check_serve_config(config)
    loop_factory(config.loop)  # a usage error (uvloop missing) before anything starts
    fd_limit = fdlimit.raise_limit(config.max_fds)

    async def main() -> None:
        running = asyncio.get_running_loop()
        stop = asyncio.Event()
        task = asyncio.current_task()
        assert task is not None
        backplane = None
        if config.redis_url:
            from wscli.serve.backplane_redis import RedisBackplane

            backplane = RedisBackplane(
                config.redis_url,
                config.redis_channel,
                history=config.history,
                on_event=log.emit,
                max_backlog_bytes=config.redis_max_backlog,
                stream_cap=config.redis_stream_cap,
                stream_ttl=config.redis_stream_ttl,
                replay_bytes=config.max_queue,
                history_bytes=config.history_bytes,
            )
        chat = ChatServer(config, log, backplane, fd_limit)
        if backplane is not None:
            backplane.on_pressure = chat.slow_client
        signals = 0

        def on_signal() -> None:
            nonlocal signals
            signals += 1
            if signals == 1:
                stop.set()
            else:
                chat.abort_all()
                task.cancel()

        for signum in (signal.SIGINT, signal.SIGTERM):
            running.add_signal_handler(signum, on_signal)
        try:
            await chat.start()
            # Everything loaded so far (modules, the page, the settings) lives as long as the
            # process: out of the collector's sight, so that its full collections, which a
            # connect storm of long-lived connections triggers, walk only what serving made.
            gc.freeze()
            try:
                announce(chat, config, log)
                await stop.wait()
            finally:
                await chat.shutdown()
        except asyncio.CancelledError:
            if signals > 1:
                raise KeyboardInterrupt from None
            raise

    run_fast(main(), config.loop)


def announce(chat: ChatServer, config: ServeConfig, log: EventLog) -> None:
    """The server listens: say where (the banner on stderr, a ``listening`` event)."""
    log.banner(f"Serving chat on {chat.url} (WebSocket {chat.ws_url})")
    if chat.socketio is not None:
        log.banner(f"Socket.IO on {chat.url.rstrip('/')}{config.socketio_path}")
    if config.verbose:
        log.banner(chat.fd_limit.describe())
    if config.json_log:
        log.emit("listening", url=chat.url, ws_url=chat.ws_url)
