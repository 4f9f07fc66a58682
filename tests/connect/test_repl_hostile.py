"""The prompt against hostile servers, in a real pseudo-terminal (pexpect + pyte): a huge
message must not freeze it, a server's event name must not draw lines of its own, the
toolbar must not show the URL's password, and the history file cannot be redirected."""

from __future__ import annotations

import asyncio
import json
import stat
import time
from pathlib import Path

from websockets.asyncio.server import ServerConnection

from tests.connect.test_repl import Terminal, start, state_home, term_env, terminals  # noqa: F401
from tests.support import scaled
from tests.support.connect_servers import Handler, echo, running
from tests.support.rawserver import RawConnection, RawServer, upgrade_response

MIB = 2**20


def test_a_message_after_a_1_mib_one_shows_at_once_and_pongs_keep_flowing(
    term_env: dict[str, str],  # noqa: F811
    terminals: list[Terminal],  # noqa: F811
) -> None:
    """1 MiB of ASCII held the old prompt's loop for ~30 s (quadratic folding): the next
    message showed 22.7 s late and pongs went unanswered. Only a preview is printed now,
    folded in linear time, and /show prints the rest a screenful at a time."""
    sent: dict[str, float] = {}
    rtts: list[float] = []

    async def big_then_small(ws: ServerConnection) -> None:
        async def keepalive() -> None:
            while True:
                started = time.monotonic()
                waiter = await ws.ping()
                await asyncio.wait_for(waiter, 60)
                rtts.append(time.monotonic() - started)
                await asyncio.sleep(0.1)

        pinger = asyncio.ensure_future(keepalive())
        try:
            await ws.recv()  # "go"
            await ws.send("B" * (MIB - 4) + "tail")
            await asyncio.sleep(0.3)
            sent["small"] = time.monotonic()
            await ws.send("right after the big one")
            await ws.wait_closed()
        finally:
            pinger.cancel()

    with running(big_then_small, max_size=None, compression=None) as server:
        terminal = start(terminals, server.url, term_env, "--max-size", "2M")
        terminal.child.send("go\r")
        terminal.wait_text("< right after the big one", seconds=5)
        shown = time.monotonic()
        screen = terminal.text
        assert "… 1,044,480 more characters (/show 1 for all)" in screen
        # Prompt: at most the preview's 4,096 characters of the message reached the screen.
        assert screen.count("B") <= 4096
        delay = shown - sent["small"]
        assert delay < scaled(3), f"the next message showed {delay:.1f} s late"
        before_show = list(rtts)
        # /show prints the rest a piece at a time; the loop runs between pieces. (How fast
        # the text itself goes out is the terminal's business: pyte reads ~100 KB/s here,
        # and prompt_toolkit writes stdout from the loop, so only progress is asserted.)
        terminal.child.send("/show 1\r")
        terminal.skim_until(b"Btail", seconds=60)  # the megabyte is not drawn, its end is
        assert "Btail" in terminal.text
        terminal.wait_for(lambda _: len(rtts) > len(before_show) + 2)
        terminal.child.sendcontrol("d")
        assert terminal.exit_status() == 0
    assert before_show and max(before_show) < scaled(2), f"pong round trips {before_show}"


def test_a_long_text_message_is_cut_with_a_note_and_kept_for_show(
    term_env: dict[str, str],  # noqa: F811
    terminals: list[Terminal],  # noqa: F811
) -> None:
    async def many_lines(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send("\n".join(f"line {n}" for n in range(200)))
        await ws.wait_closed()

    with running(many_lines) as server:
        terminal = start(terminals, server.url, term_env)
        terminal.child.send("go\r")
        screen = terminal.wait_text("more characters (/show 1 for all)")
        assert "  line 63" in screen.splitlines() and "  line 64" not in screen.splitlines()
        terminal.child.send("/show 1\r")
        terminal.wait_text("  line 199")
        terminal.child.sendcontrol("d")
        assert terminal.exit_status() == 0


def socketio_server(*frames: str) -> Handler:
    """A minimal Engine.IO/Socket.IO server: open, accept the CONNECT, send ``frames``."""

    async def handler(ws: ServerConnection) -> None:
        await ws.send('0{"sid":"e1","pingInterval":25000,"pingTimeout":20000}')
        await ws.recv()  # our CONNECT
        await ws.send('40{"sid":"s1"}')
        for frame in frames:
            await ws.send(frame)
        await ws.wait_closed()

    return handler


def test_an_event_name_cannot_draw_lines_of_its_own_at_the_prompt(
    term_env: dict[str, str],  # noqa: F811
    terminals: list[Terminal],  # noqa: F811
) -> None:
    """A name with newlines drew a column-0 "> transfer approved" line (as if typed by
    the user) and a fake "* closed by the server" status line."""
    name = "news\n> transfer approved\n* closed by the server: 1000 (normal)\x1b[2J"
    frame = "42" + json.dumps([name, "x"])
    with running(socketio_server(frame)) as server:
        terminal = start(terminals, server.url, term_env, "--socketio")
        screen = terminal.wait_text("transfer approved")
        rows = screen.splitlines()
        assert "< news" in rows
        assert "  > transfer approved" in rows
        assert '  * closed by the server: 1000 (normal)\\e[2J: "x"' in rows
        assert not any(row.startswith(("> transfer", "* closed")) for row in rows)
        terminal.child.sendcontrol("d")
        assert terminal.exit_status() == 0


def test_the_toolbar_never_shows_the_password_of_the_url(
    term_env: dict[str, str],  # noqa: F811
    terminals: list[Terminal],  # noqa: F811
) -> None:
    """The status line said alice:***@, the toolbar alice:S3cretPW42@ all session long."""
    # The toolbar is drawn at the bottom row once the terminal answers where the cursor is.
    env = {k: v for k, v in term_env.items() if k != "PROMPT_TOOLKIT_NO_CPR"}
    with running(echo) as server:
        url = server.url.replace("ws://", "ws://alice:S3cretPW42@")
        terminal = Terminal(["connect", url], env, cpr=True)
        terminals.append(terminal)
        screen = terminal.wait_for(lambda text: "| open |" in text)
        assert f" ws://alice:***@127.0.0.1:{server.port}/ | open |" in screen.splitlines()[-1]
        terminal.child.send("hi\r")
        screen = terminal.wait_text("< hi")
        terminal.child.sendcontrol("d")
        assert terminal.exit_status() == 0
    assert "S3cretPW42" not in screen and "S3cretPW42" not in terminal.text
    request = server.requests[0]
    assert request.headers["Authorization"] == "Basic YWxpY2U6UzNjcmV0UFc0Mg=="


def test_the_history_file_cannot_be_swapped_for_a_symlink_after_start(
    term_env: dict[str, str],  # noqa: F811
    terminals: list[Terminal],  # noqa: F811
    state_home: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """prompt_toolkit's FileHistory reopened the path for every line: a symlink planted
    after start received a typed token, a deleted history came back 0644, and the state
    directory was 0755."""
    folder = state_home / "wscli"
    folder.mkdir(parents=True)
    folder.chmod(0o755)  # as an older wscli left it
    history = folder / "history"
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    with running(echo) as server:
        terminal = start(terminals, server.url, term_env)
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        terminal.child.send("first\r")
        terminal.wait_text("< first")
        assert "+first\n" in history.read_text()
        history.unlink()
        history.symlink_to(victim)
        terminal.child.send("token-S3cret\r")
        terminal.wait_text("< token-S3cret")
        warning = f"* warning: history not saved: cannot write {history}: too many levels of"
        # Unfolded: the prompt wraps at word boundaries, and the screen drops a line's
        # trailing space.
        terminal.wait_for(lambda text: warning in " ".join(text.split()))
        history.unlink()
        terminal.child.send("third\r")
        terminal.wait_text("< third")
        terminal.child.sendcontrol("d")
        assert terminal.exit_status() == 0
    assert victim.read_text() == "keep\n"
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    assert "+third\n" in history.read_text()
    assert "S3cret" not in history.read_text()


def test_a_connection_websockets_failed_ends_the_prompt_without_a_keystroke(
    term_env: dict[str, str],  # noqa: F811
    terminals: list[Terminal],  # noqa: F811
) -> None:
    """A message over --max-size: websockets closes with 1009, the server holds TCP open
    and never answers; the prompt only learned of it when the user typed."""

    async def too_big_then_hold(conn: RawConnection) -> None:
        request = await conn.read_request()
        await conn.send(upgrade_response()(request))
        await conn.send(b"\x81\x7e\x08\x00" + b"x" * 2048)  # 2 KiB: over --max-size 1K
        await conn.hold()  # reads our close frame, never answers, never closes

    with RawServer(too_big_then_hold) as server:
        terminal = start(terminals, server.url(), term_env, "--max-size", "1K")
        started = time.monotonic()
        assert terminal.exit_status() == 5  # no key pressed
        took = time.monotonic() - started
    assert "wscli: error: wscli closed the connection with 1009" in terminal.text
    assert took < 2 + scaled(3), f"learned after {took:.1f} s"
