"""Running `wscli replay`: read the recording, choose the connection, then be the mock
server (until SIGINT/SIGTERM, or one client with --once) or the client (--to).

Each verdict is one line on stdout: ``match: ...`` or ``mismatch: ...`` (the first
difference). The exit code says it for scripts: 0 everything as recorded, 7 a difference.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from wscli.core.errors import UsageProblem, os_reason
from wscli.core.escape import escape_control
from wscli.core.exitcodes import ExitCode
from wscli.core.recording import MAX_LINE, Conversation, RecordingError, read_recording
from wscli.net.eventloop import run_fast
from wscli.net.neterrors import hostport, listen_error
from wscli.replay.client import replay_client, target_url
from wscli.replay.config import ReplayConfig, check_replay
from wscli.replay.mock import MockServer
from wscli.replay.play import Pace, Verdict
from wscli.wire.owner import Settings

Banner = Callable[[str], None]


def load(config: ReplayConfig) -> Conversation:
    """The conversation to replay; :class:`UsageProblem` when the file has none."""
    path = Path(config.file)
    what = f"cannot replay {config.file!r}"
    try:
        with path.open("rb") as handle:
            conversations = read_recording(_lines(handle))
    except OSError as exc:
        raise UsageProblem(what, os_reason(exc)) from None
    except RecordingError as exc:
        raise UsageProblem(what, str(exc)) from None
    if not conversations:
        raise UsageProblem(what, "it records no WebSocket connection")
    if config.connection is None:
        return conversations[0]
    for conversation in conversations:
        if conversation.connection == config.connection:
            return conversation
    numbers = ", ".join(f"#{c.connection}" for c in conversations[:20])
    raise UsageProblem(what, f"no connection #{config.connection} in it (it has {numbers})")


def _lines(handle: BinaryIO) -> Iterator[bytes]:
    """Lines of at most MAX_LINE + 1 bytes (a longer one is refused, not read whole)."""
    while line := handle.readline(MAX_LINE + 1):
        yield line


def verdict_line(conversation: Conversation, verdict: Verdict, peer: str) -> str:
    """``match: ...`` or ``mismatch: ...`` for one replayed connection."""
    where = f"connection #{conversation.connection} ({escape_control(conversation.path)})"
    if verdict.ok:
        return (
            f"match: {where} with {peer}: {verdict.sent} sent, "
            f"{verdict.matched} received as recorded"
        )
    return f"mismatch: {where} with {peer}: {verdict.mismatch}"


def run(config: ReplayConfig, out: TextIO, banner: Banner) -> ExitCode:
    """Replay; the exit code (0 as recorded, 7 a difference)."""
    check_replay(config)
    conversation = load(config)
    pace = Pace(config.speed, config.no_wait, config.timeout)
    return run_fast(_main(config, conversation, pace, out, banner))


async def _main(
    config: ReplayConfig, conversation: Conversation, pace: Pace, out: TextIO, banner: Banner
) -> ExitCode:
    steps = len(conversation.steps)
    if config.to is not None:
        url = target_url(config, conversation)
        banner(f"Replaying connection #{conversation.connection} ({steps} steps) to {url}")
        verdict = await replay_client(config, conversation, pace)
        _say(out, verdict_line(conversation, verdict, url))
        return ExitCode.OK if verdict.ok else ExitCode.MISMATCH
    return await _serve(config, conversation, pace, out, banner)


def _say(out: TextIO, line: str) -> None:
    out.write(line + "\n")
    out.flush()


async def _serve(
    config: ReplayConfig, conversation: Conversation, pace: Pace, out: TextIO, banner: Banner
) -> ExitCode:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    verdicts: list[Verdict] = []

    def report(address: str, verdict: Verdict) -> None:
        verdicts.append(verdict)
        _say(out, verdict_line(conversation, verdict, address))
        if config.once:
            stop.set()

    settings = Settings(limit=config.max_size, close_timeout=config.close_timeout)
    mock = MockServer(
        conversation, pace, config.expect, settings, config.host, config.origins, report
    )
    try:
        server = await loop.create_server(
            mock.new_client, config.host, config.port, reuse_address=True
        )
    except OSError as exc:
        raise listen_error(config.host, config.port, exc) from None
    port = server.sockets[0].getsockname()[1]
    banner(
        f"Replaying connection #{conversation.connection} ({len(conversation.steps)} steps, "
        f"{conversation.duration:.1f} s) on ws://{hostport(config.host, port)}"
        f"{escape_control(conversation.path.split('?', 1)[0])}"
    )
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()
        server.close()
        for client in list(mock.clients):
            if client.engine is not None and client.engine.is_open:
                client.engine.close(1001, "replay ending")
        deadline = loop.time() + config.close_timeout
        while loop.time() < deadline and any(not c.ended.is_set() for c in mock.clients):
            await asyncio.sleep(0.02)  # their closing handshakes, bounded
    if any(not verdict.ok for verdict in verdicts):
        return ExitCode.MISMATCH
    return ExitCode.OK
