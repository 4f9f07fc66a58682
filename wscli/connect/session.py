"""One `wscli connect` session: open the link, run the pipe or the prompt on it, reconnect.

The body (pipe or prompt) runs once per connection and returns an ExitCode or raises a
:class:`~wscli.core.errors.WscliError`; with ``--reconnect`` the retryable ones (refused,
dropped, abnormal close, timeout, HTTP 5xx) lead to another attempt after an exponential
backoff with jitter, up to ``--max-retries``; each attempt is reported on the output. A
server going away (close 1001, e.g. a restart) is reconnected to as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from wscli.connect.config import SessionOptions
from wscli.connect.link import (
    Link,
    WebSocketLink,
    close_result,
    connection_failed,
    is_retryable,
)
from wscli.connect.output import Output
from wscli.connect.redirects import open_following
from wscli.core.clientoptions import ConnectOptions
from wscli.core.errors import HandshakeRejected, WscliError, error_text
from wscli.core.exitcodes import ExitCode
from wscli.core.headers import REQUIRE_SUBPROTOCOL_HINT, ignored_subprotocols
from wscli.core.socketio import socketio_url
from wscli.net.backoff import backoff_delays
from wscli.net.statefiles import remember_url

Body = Callable[[Link], Awaitable[ExitCode]]


async def cancel_and_wait(*tasks: asyncio.Future[Any]) -> None:
    """Cancel ``tasks`` and wait until they have ended, whatever they raise.

    Only the tasks' own outcomes are collected: if the caller itself is cancelled while
    waiting, that cancellation propagates (it must never be swallowed, or Ctrl-C and
    deadlines stop working).
    """
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def opened_options(options: SessionOptions) -> ConnectOptions:
    """The connection options as opened: with --socketio, at the Engine.IO URL."""
    if not options.socketio:
        return options.connect
    return dataclasses.replace(options.connect, url=socketio_url(options.connect.url))


async def open_session_link(
    options: SessionOptions, output: Output, *, interactive: bool = False
) -> Link:
    """Open the WebSocket (and Socket.IO session) and report it as open.

    ``interactive``: at the prompt an overdue Socket.IO acknowledgement is a warning, in a
    pipe it ends the session (exit 6); only the prompt keeps event names (completion).
    """
    link: Link
    if options.socketio:
        from wscli.connect.socketio.link import open_socketio_link

        link = await open_socketio_link(
            opened_options(options),
            options.socketio_options,
            output,
            ack_timeout_fatal=not interactive,
            keep_event_names=interactive,
        )
    else:
        channel, url = await open_following(
            options.connect,
            observer=output.frame,
            on_redirect=output.redirected,
        )
        link = WebSocketLink(channel, url)
    try:
        await link.start()
        if not options.socketio:
            await _check_subprotocol(options.connect, link, output)
    except WscliError:
        await _abort(link)
        raise
    output.opened(link)
    remember_url(options.connect.url)  # for shell completion of URL arguments
    return link


async def _check_subprotocol(options: ConnectOptions, link: Link, output: Output) -> None:
    """A server that accepted the upgrade but chose none of the -s subprotocols: a warning,
    or with --require-subprotocol a rejected handshake (exit 4)."""
    offered = options.subprotocols
    if not offered or link.subprotocol is not None:
        return
    if options.require_subprotocol:
        raise HandshakeRejected("--require-subprotocol", ignored_subprotocols(offered))
    output.warning(f"{ignored_subprotocols(offered)}: {REQUIRE_SUBPROTOCOL_HINT}")


async def _abort(link: Link) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(link.close(1000), 2)


async def finish_closed(link: Link, output: Output) -> ExitCode:
    """The connection has ended: report it; OK for a normal close, else ClosedAbnormally."""
    code, reason, by = link.closed_info()
    output.closed(code, reason, by)
    link.check_stalled()
    return close_result(code, reason, by)


async def close_politely(
    link: Link, output: Output, code: int = 1000, reason: str = ""
) -> ExitCode:
    """Close with ``code`` (1000 by default), wait for the peer's answer, report it.

    ``link.close`` waits at most the connection's close timeout for the peer's answer.
    A connection that websockets was already closing on our side (1009 for a message over
    our --max-size, 1002/1007 for a protocol error) lost a message: it is judged as the
    close it was, never exit 0, even when --wait or --idle ends at that moment.
    """
    link.check_stalled()  # dropped by wscli (the server read nothing): never a clean end
    if not link.is_open and link.closed_info()[2] == "client":
        try:
            await link.close(code, reason)  # waits (bounded) for the close to complete
        except WscliError:
            raise  # a verdict of the close itself (an acknowledgement that never came)
        except Exception:  # the close was already under way: judged below
            pass
        return await finish_closed(link, output)
    await link.close(code, reason)
    output.closed(*link.closed_info())
    # We chose to end (EOF, --count, --idle, /close ...): a clean end whatever the code.
    return ExitCode.OK


def server_went_away(link: Link) -> bool:
    """The server closed with 1001 (going away): a restart, worth a --reconnect.

    1001 is a normal close (exit 0), but a server shutting down says it; with --reconnect
    the user asked to ride out exactly that.
    """
    code, _, by = link.closed_info()
    return by == "server" and code == 1001


async def run_session(
    options: SessionOptions,
    output: Output,
    body: Body,
    delays: Iterator[float] | None = None,
    *,
    interactive: bool = False,
) -> ExitCode:
    """Run ``body`` on a fresh link; with --reconnect, again after each retryable failure.

    Only a failed connection is retried: one that could not be opened (refused, timed out,
    HTTP 5xx), or that ended abnormally or by the server going away while ``body`` ran. A
    server that was merely slow (``-n`` short of its count after --idle, an overdue
    acknowledgement, --timeout) is not: the lines already sent are not sent again, so a
    retry could not help (5 reconnects in 15 s were seen behind a throttling proxy).

    Attempts are counted, and the backoff keeps growing, across connections that end
    within ``options.stable_after`` seconds (10) of opening: a server that accepts and
    drops at once is a failure like a refused connection, and resetting on every handshake
    would retry it forever at the shortest delay (25 connections in 10 s were seen, stuck
    at "attempt 1/5"). Only a connection that stayed up that long starts the count and the
    backoff afresh. Each retried failure is reported as a
    ``reconnect`` with its reason; only the final one is an error.
    """
    loop = asyncio.get_running_loop()
    backoff = delays or backoff_delays()
    attempt = 0
    while True:
        opened_at: float | None = None
        failure: WscliError | None = None
        try:
            link = await open_session_link(options, output, interactive=interactive)
        except WscliError as error:
            if not (options.reconnect and is_retryable(error)):
                output.error(error, final=True)
                raise
            failure, reason = error, error_text(error)
        else:
            opened_at = loop.time()
            try:
                result = await body(link)
            except WscliError as error:
                if not (options.reconnect and connection_failed(error)):
                    output.error(error, final=True)
                    raise
                failure, reason = error, error_text(error)
            else:
                if not (options.reconnect and server_went_away(link)):
                    return result
                reason = "the server went away (1001)"
        if opened_at is not None and loop.time() - opened_at >= options.stable_after:
            attempt = 0
            backoff = delays or backoff_delays()
        if options.max_retries is not None and attempt >= options.max_retries:
            if failure is None:
                return result
            output.error(failure, final=True)
            raise failure
        attempt += 1
        delay = next(backoff)
        output.reconnecting(attempt, delay, options.max_retries, reason)
        await asyncio.sleep(delay)
