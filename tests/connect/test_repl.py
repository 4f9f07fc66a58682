"""The prompt in a real pseudo-terminal: pexpect runs the installed `wscli connect`, pyte
renders what it writes, and the tests assert on the screen a user would see."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pyte
import pytest
from prompt_toolkit.history import InMemoryHistory
from websockets.asyncio.server import ServerConnection

from tests.support import clean_env, requires, scaled, wscli_command
from tests.support.connect_servers import (
    ServerThread,
    close_after_first,
    echo,
    echo_recording_closes,
    running,
    start_killable,
)
from tests.support.peers import peer
from tests.support.ptyscreen import PtyScreen
from wscli.connect.repl import SlashCompleter, Stats, open_history, toolbar_text
from wscli.connect.slash import HELP_TEXT, Command, CommandError, parse_line
from wscli.net.statefiles import history_path

ROWS, COLS = 24, 100


class Terminal(PtyScreen):
    """A pty running wscli, mirrored on a pyte screen (answers cursor-position requests)."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        cpr: bool = False,
        program: str = "",
        cols: int = COLS,
    ) -> None:
        child = pexpect.spawn(
            program or wscli_command()[0],
            args,
            env={**env, "COLUMNS": str(cols)},
            dimensions=(ROWS, cols),
            timeout=scaled(10),
        )

        class Screen(pyte.Screen):  # type: ignore[misc]
            def write_process_input(self, data: str) -> None:
                if cpr:
                    child.send(data)

        super().__init__(child, Screen(cols, ROWS))

    def resize(self, cols: int) -> None:
        """Make the terminal ``cols`` wide, as a user dragging the window does (SIGWINCH)."""
        self.pump(0.1)
        self.screen.resize(ROWS, cols)
        self.child.setwinsize(ROWS, cols)

    def wait_text(self, needle: str, seconds: float | None = None) -> str:
        return self.wait_for(lambda text: needle in text, seconds)

    def prompt_line(self) -> str:
        lines = [line for line in self.text.splitlines() if line.startswith("ws>")]
        return lines[-1] if lines else ""

    def exit_status(self) -> int | None:
        end = time.monotonic() + scaled(10)
        while self.child.isalive() and time.monotonic() < end:
            self.pump(0.05)
        # What it wrote before exiting may still wait in the pty (a child that ended while
        # another terminal was read): read it up to EOF, or the screen misses it.
        self.pump(scaled(1))
        self.child.close()
        return self.child.exitstatus


@pytest.fixture
def state_home(state_home: Path) -> Path:
    """The test's own XDG_STATE_HOME (conftest's), importable beside term_env."""
    return state_home


@pytest.fixture
def term_env(state_home: Path) -> dict[str, str]:
    return clean_env(
        {
            "TERM": "xterm",
            "NO_COLOR": "1",
            "PROMPT_TOOLKIT_NO_CPR": "1",
            "XDG_STATE_HOME": str(state_home),
            "COLUMNS": str(COLS),
            "LINES": str(ROWS),
        }
    )


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for terminal in started:
        terminal.child.close(force=True)


class PushServer:
    """An echo server the test can also make speak first (push)."""

    def __init__(self) -> None:
        self.connections: list[ServerConnection] = []
        self.thread = ServerThread(self.handler).start()

    async def handler(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        await echo(ws)

    def push(self, text: str | bytes) -> None:
        future = asyncio.run_coroutine_threadsafe(self.connections[-1].send(text), self.thread.loop)
        future.result(scaled(5))


@pytest.fixture
def push_server() -> Iterator[PushServer]:
    server = PushServer()
    yield server
    server.thread.stop()


def start(
    terminals: list[Terminal], url: str, env: dict[str, str], *extra: str, cols: int = COLS
) -> Terminal:
    terminal = Terminal(["connect", url, *extra], env, cols=cols)
    terminals.append(terminal)
    return ready(terminal)


def ready(terminal: Terminal) -> Terminal:
    """``terminal`` once it is connected and shows the prompt."""
    terminal.wait_text("connected to")
    terminal.wait_for(lambda text: "ws>" in text)
    return terminal


# -- pure parts ---------------------------------------------------------------------------


def test_parse_line_commands_and_literal_slash() -> None:
    assert parse_line("hi") == Command("send", "hi")
    assert parse_line("") == Command("none")
    assert parse_line("//etc") == Command("send", "/etc")
    assert parse_line("/ping abc") == Command("ping", b"abc")
    assert parse_line("/close") == Command("close")
    assert parse_line("/close 4000 bye now") == Command("close", code=4000, reason="bye now")
    assert parse_line("/binary 01 ff") == Command("binary", b"\x01\xff")
    assert parse_line("/file ~/x.bin") == Command("file", path="~/x.bin")
    assert parse_line("/file --text a b.json") == Command("file", path="a b.json", text=True)
    assert parse_line("/quit") == Command("quit")
    assert parse_line("/close 1001 bye") == Command("close", code=1001, reason="bye")
    assert parse_line("/etc/hosts\n/etc/passwd") == Command("send", "/etc/hosts\n/etc/passwd")
    for bad in (
        "/nope",
        "/binary zz",
        "/close abc",
        "/close 1006",
        "/close 1005",
        "/file",
        "/file --text",
    ):
        with pytest.raises(CommandError):
            parse_line(bad)


def test_help_descriptions_line_up_in_one_column() -> None:
    rows = [line for line in HELP_TEXT.splitlines() if line.startswith("/")]
    columns = {re.search(r"\S  +(\S)", line).start(1) for line in rows}  # type: ignore[union-attr]
    assert len(rows) == 13 and len(columns) == 1


def test_slash_completion_only_at_line_start() -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    def complete(text: str) -> list[str]:
        found = SlashCompleter().get_completions(Document(text), CompleteEvent())
        return [c.text for c in found]

    assert complete("/") == [
        "/ping",
        "/close",
        "/binary",
        "/file",
        "/show",
        "/filter",
        "/mute",
        "/pretty",
        "/emit",
        "/ack",
        "/quit",
        "/help",
    ]
    assert complete("/c") == ["/close"]
    assert complete("/ping x") == []
    assert complete("hello /p") == []
    assert complete("//") == []


def test_file_completes_paths(tmp_path: Path) -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    (tmp_path / "payload.bin").write_bytes(b"")
    (tmp_path / "request.json").write_text("{}")

    def complete(text: str) -> list[str]:
        document = Document(text)
        found = SlashCompleter().get_completions(document, CompleteEvent())
        # Each completion applied to the line, as the prompt applies it.
        return [text[: len(text) + c.start_position] + c.text for c in found]

    assert complete(f"/file {tmp_path}/pay") == [f"/file {tmp_path}/payload.bin"]
    assert complete(f"/file --text {tmp_path}/re") == [f"/file --text {tmp_path}/request.json"]
    assert sorted(complete(f"/file {tmp_path}/")) == [
        f"/file {tmp_path}/payload.bin",
        f"/file {tmp_path}/request.json",
    ]


def test_toolbar_puts_counts_before_compression_and_subprotocol() -> None:
    stats = Stats("open", "ws://h/", "chat", "permessage-deflate", 0.0052, 4, 6)
    text = toolbar_text(stats)
    assert text == (
        " ws://h/ | open | sent 4 recv 6 | rtt 5.2 ms | permessage-deflate | subprotocol: chat "
    )


def test_toolbar_drops_whole_fields_least_telling_first_to_fit() -> None:
    stats = Stats("open", "ws://127.0.0.1:41234/chat", None, "permessage-deflate", 0.0052, 4, 6)
    full = toolbar_text(stats)
    for width in range(20, 101):
        text = toolbar_text(stats, width)
        assert len(text) <= width
        fields = text.strip().split(" | ")
        assert all(field in full for field in fields), (width, text)  # none cut mid-word
        assert "open" in fields
    assert toolbar_text(stats, 60) == " ws://127.0.0.1:41234/chat | open | sent 4 recv 6 "
    assert (
        toolbar_text(stats, 80) == " ws://127.0.0.1:41234/chat | open | sent 4 recv 6 | rtt 5.2 ms "
    )
    assert toolbar_text(stats, 30) == " open | sent 4 recv 6 "
    assert toolbar_text(stats, 120) == full


def test_show_command_parses_a_number() -> None:
    assert parse_line("/show 3") == Command("show", number=3)
    for bad in ("/show", "/show x", "/show -1", "/show ３"):
        with pytest.raises(CommandError):
            parse_line(bad)


def test_new_history_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "wscli" / "history"
    _, warning = open_history(path)
    assert warning is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_history_file_is_not_opened_through_a_symlink(tmp_path: Path) -> None:
    # A history planted as a symlink to another file: kept in memory, the target untouched.
    target = tmp_path / "victim"
    target.write_text("keep\n")
    target.chmod(0o644)
    path = tmp_path / "state" / "wscli" / "history"
    path.parent.mkdir(parents=True)
    path.symlink_to(target)
    history, warning = open_history(path)
    assert warning is not None and "history not saved" in warning
    assert isinstance(history, InMemoryHistory)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644 and target.read_text() == "keep\n"


def test_existing_history_file_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "history"
    path.write_text("")
    path.chmod(0o644)
    assert open_history(path)[1] is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_history_path_and_unwritable_state_dir(tmp_path: Path) -> None:
    assert history_path({"XDG_STATE_HOME": "/s"}) == Path("/s/wscli/history")
    assert history_path({}).parts[-3:] == ("state", "wscli", "history")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        _, warning = open_history(locked / "wscli" / "history")
    finally:
        locked.chmod(stat.S_IRWXU)
    if os.geteuid() == 0:  # root writes anywhere: use a path below a file instead
        blocker = tmp_path / "file"
        blocker.write_text("")
        _, warning = open_history(blocker / "wscli" / "history")
    assert warning is not None and "history not saved" in warning


# -- in a real terminal --------------------------------------------------------------------


def test_message_arriving_mid_line_appears_above_and_typing_survives(
    push_server: PushServer, term_env: dict[str, str], terminals: list[Terminal]
) -> None:
    terminal = start(terminals, push_server.thread.url, term_env)
    terminal.child.send("half typ")
    terminal.wait_for(lambda _: terminal.prompt_line() == "ws> half typ")
    push_server.push("news from the server")

    def news_above_intact_prompt(screen: str) -> bool:
        rows = screen.splitlines()
        news = [i for i, r in enumerate(rows) if r == "< news from the server"]
        prompts = [i for i, r in enumerate(rows) if r.startswith("ws>")]
        return (
            bool(news and prompts)
            and news[0] < prompts[-1]
            and (rows[prompts[-1]] == "ws> half typ")
        )

    terminal.wait_for(news_above_intact_prompt)
    terminal.child.send("ed\r")
    terminal.wait_text("< half typed")
    assert "> half typed" in terminal.text
    terminal.child.sendcontrol("d")
    assert terminal.exit_status() == 0
    assert "closed by the client: 1000" in terminal.text


def test_history_persists_across_runs(
    push_server: PushServer, term_env: dict[str, str], state_home: Path, terminals: list[Terminal]
) -> None:
    first = start(terminals, push_server.thread.url, term_env)
    first.child.send("remember me\r")
    first.wait_text("< remember me")
    first.child.sendcontrol("d")
    assert first.exit_status() == 0
    assert "remember me" in (state_home / "wscli" / "history").read_text()
    second = start(terminals, push_server.thread.url, term_env)
    second.child.send("\x1b[A")  # Up arrow
    second.wait_for(lambda _: second.prompt_line() == "ws> remember me")
    second.child.sendcontrol("c")  # Ctrl-D deletes a character on a non-empty line
    second.child.sendcontrol("d")
    assert second.exit_status() == 0


def test_slash_commands(
    push_server: PushServer, term_env: dict[str, str], terminals: list[Terminal], tmp_path: Path
) -> None:
    payload = tmp_path / "payload.bin"
    payload.write_bytes(b"\x00\x01file")
    terminal = start(terminals, push_server.thread.url, term_env)
    terminal.child.send("/ping\r")
    terminal.wait_text("pong received: round trip")
    terminal.child.send("/binary 01 41\r")
    terminal.wait_text("|.A|")
    terminal.child.send(f"/file {payload}\r")
    terminal.wait_text("|..file|")
    request = tmp_path / "req.json"
    request.write_text('{"op":\n  "héllo"}', encoding="utf-8")
    terminal.child.send(f"/file --text {request}\r")
    terminal.wait_text('< {"op":')  # one text message, its newline kept
    terminal.wait_text('  "héllo"}')
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café".encode("latin-1"))
    terminal.child.send(f"/file --text {latin}\r")
    # The line names tmp_path, whose length varies (pytest's run number, the xdist worker):
    # where the screen wraps it varies too, so words are compared across the wrap.
    terminal.wait_for(
        lambda text: (
            "is not UTF-8 (/file without --text sends it as bytes)" in " ".join(text.split())
        )
    )
    terminal.child.send("//literal\r")
    terminal.wait_text("< /literal")
    terminal.child.send("/nope\r")
    terminal.wait_text("unknown command /nope")
    terminal.child.send("/help\r")
    terminal.wait_text("/close [CODE [REASON]]")
    terminal.child.send("/close 4000 done here\r")
    assert terminal.exit_status() == 0
    assert "closed by the client: 4000" in terminal.text


def test_half_typed_line_survives_a_reconnect(
    push_server: PushServer, term_env: dict[str, str], terminals: list[Terminal]
) -> None:
    terminal = start(terminals, push_server.thread.url, term_env, "--reconnect")
    terminal.child.send("draft line")
    terminal.wait_for(lambda _: terminal.prompt_line() == "ws> draft line")
    going = push_server.connections[-1].close(1001, "restart")
    asyncio.run_coroutine_threadsafe(going, push_server.thread.loop).result(scaled(5))
    terminal.wait_for(lambda text: text.count("connected to") == 2)
    terminal.wait_for(lambda _: terminal.prompt_line() == "ws> draft line")
    terminal.child.send("\r")
    terminal.wait_text("< draft line")


def test_ctrl_c_clears_line_and_quit_exits_0(
    push_server: PushServer, term_env: dict[str, str], terminals: list[Terminal]
) -> None:
    terminal = start(terminals, push_server.thread.url, term_env)
    terminal.child.send("junk")
    terminal.wait_for(lambda _: terminal.prompt_line() == "ws> junk")
    terminal.child.sendcontrol("c")
    terminal.wait_for(lambda _: terminal.prompt_line() == "ws>")
    terminal.child.send("kept\r")
    terminal.wait_text("< kept")
    assert "junk" not in terminal.text.replace("ws> junk", "")
    terminal.child.send("/quit\r")
    assert terminal.exit_status() == 0


def test_peer_control_characters_are_escaped_and_abnormal_close_exits_5(
    term_env: dict[str, str], terminals: list[Terminal]
) -> None:
    async def hostile(ws: ServerConnection) -> None:
        await ws.send("\x1b[2J\x1b]0;pwned\x07visible")
        await close_after_first(1011, "bad day")(ws)

    with running(hostile) as server:
        terminal = start(terminals, server.url, term_env)
        terminal.wait_text("visible")
        assert "< \\e[2J\\e]0;pwned\\x07visible" in terminal.text
        terminal.child.send("bye\r")
        status = terminal.exit_status()
    assert status == 5
    assert "closed by the server: 1011 (internal error) 'bad day'" in terminal.text
    assert "wscli: error: the server closed abnormally" in terminal.text


def test_toolbar_shows_url_state_and_counts(
    push_server: PushServer, term_env: dict[str, str], terminals: list[Terminal]
) -> None:
    env = {k: v for k, v in term_env.items() if k != "PROMPT_TOOLKIT_NO_CPR"}
    terminal = Terminal(["connect", push_server.thread.url, "-x", "one"], env, cpr=True)
    terminals.append(terminal)
    terminal.wait_text("< one")
    screen = terminal.wait_text("sent 1 recv 1")
    toolbar = screen.splitlines()[-1]
    assert push_server.thread.url in toolbar
    assert "| open |" in toolbar and "permessage-deflate" in toolbar
    terminal.child.sendcontrol("d")
    assert terminal.exit_status() == 0


def test_piped_stdin_to_a_terminal_is_pipe_mode_with_escaped_peer_text(
    term_env: dict[str, str], terminals: list[Terminal]
) -> None:
    async def hostile(ws: ServerConnection) -> None:
        await ws.send("\x1b[2Jwiped?")
        await echo(ws)

    with running(hostile) as server:
        command = f"echo hi | {wscli_command()[0]} connect {server.url} -n 2"
        terminal = Terminal(["-c", command], term_env, program="/bin/sh")
        terminals.append(terminal)
        status = terminal.exit_status()
    assert status == 0
    assert terminal.text.splitlines()[:2] == ["\\e[2Jwiped?", "hi"]
    assert "ws>" not in terminal.text


def test_alt_enter_sends_one_multiline_message(
    term_env: dict[str, str], terminals: list[Terminal]
) -> None:
    received: list[object] = []

    async def record(ws: ServerConnection) -> None:
        async for message in ws:
            received.append(message)
            await ws.send(f"got {len(str(message).splitlines())} lines")

    with running(record) as server:
        terminal = start(terminals, server.url, term_env)
        terminal.child.send("first\x1b\rsecond\r")  # Esc Enter = Alt-Enter
        terminal.wait_text("< got 2 lines")
        terminal.child.sendcontrol("d")
        assert terminal.exit_status() == 0
    assert received == ["first\nsecond"]


def test_reconnect_at_the_prompt_after_server_restart(
    term_env: dict[str, str], terminals: list[Terminal]
) -> None:
    server, port = start_killable(0)
    restarted = None
    try:
        terminal = start(terminals, f"ws://127.0.0.1:{port}/", term_env, "--reconnect")
        terminal.wait_text("< welcome")
        server.kill()
        server.wait()
        terminal.wait_text("reconnecting in")
        restarted, _ = start_killable(port)
        terminal.wait_for(lambda text: text.count("< welcome") == 2)
        terminal.child.send("still here\r")
        terminal.wait_text("< still here")
        terminal.child.sendcontrol("d")
        assert terminal.exit_status() == 0
    finally:
        for proc in (server, restarted):
            if proc is not None:
                proc.kill()
                proc.wait()


def test_sent_and_received_have_different_colours(
    push_server: PushServer, term_env: dict[str, str], terminals: list[Terminal]
) -> None:
    env = {k: v for k, v in term_env.items() if k != "NO_COLOR"}
    terminal = start(terminals, push_server.thread.url, env)
    terminal.child.send("paint\r")
    terminal.wait_text("< paint")
    rows = terminal.text.splitlines()
    sent = rows.index("> paint")
    received = rows.index("< paint")
    buffer = terminal.screen.buffer
    assert buffer[sent][2].fg == "green"
    assert buffer[received][2].fg == "cyan"
    terminal.child.sendcontrol("d")
    assert terminal.exit_status() == 0


@requires("node")
def test_socketio_chat_at_the_prompt(term_env: dict[str, str], terminals: list[Terminal]) -> None:
    with peer("seed-socketio") as port:
        terminal = start(terminals, f"http://127.0.0.1:{port}", term_env, "--socketio")
        terminal.child.send("hello chat\r")
        terminal.wait_text('< message: "hello chat"')
        assert '> message: "hello chat"' in terminal.text
        terminal.child.sendcontrol("d")
        assert terminal.exit_status() == 0


def test_unwritable_history_only_costs_history(
    push_server: PushServer, term_env: dict[str, str], terminals: list[Terminal], tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    env = {**term_env, "XDG_STATE_HOME": str(blocker)}
    terminal = start(terminals, push_server.thread.url, env)
    terminal.wait_text("* warning: history not saved: cannot write")
    terminal.child.send("works anyway\r")
    terminal.wait_text("< works anyway")
    terminal.child.sendcontrol("d")
    assert terminal.exit_status() == 0


def test_no_tty_on_a_terminal_is_pipe_mode(
    push_server: PushServer, term_env: dict[str, str], terminals: list[Terminal]
) -> None:
    terminal = Terminal(["connect", push_server.thread.url, "--no-tty", "-n", "1"], term_env)
    terminals.append(terminal)
    terminal.child.send("typed\r")
    assert terminal.exit_status() == 0
    rows = [row for row in terminal.text.splitlines() if row]
    assert rows == ["typed", "typed"]  # the terminal's echo of the line, then the reply


def test_prompt_timestamps_and_timeout_exit_6(
    push_server: PushServer, term_env: dict[str, str], terminals: list[Terminal]
) -> None:
    terminal = Terminal(
        ["connect", push_server.thread.url, "--timestamps", "-x", "t", "--timeout", "1.5"],
        term_env,
    )
    terminals.append(terminal)
    screen = terminal.wait_text("< t")
    stamped = next(row for row in screen.splitlines() if row.endswith(" < t"))
    assert stamped[:2] == "20" and stamped.split(" ")[0].endswith("Z")
    assert terminal.exit_status() == 6
    assert "wscli: error: timed out after 1.5 s (--timeout)" in terminal.text


def test_prompt_with_json_and_show_ping_pong(
    push_server: PushServer, term_env: dict[str, str], terminals: list[Terminal]
) -> None:
    json_terminal = Terminal(["connect", push_server.thread.url, "--json", "-x", "j"], term_env)
    # The second one starts meanwhile: each spends most of its second starting.
    terminal = Terminal(["connect", push_server.thread.url, "--show-ping-pong"], term_env)
    terminals.extend((json_terminal, terminal))
    json_terminal.wait_text('"direction":"in","type":"text","text":"j"')
    assert json_terminal.text.startswith('{"event":"open"')
    json_terminal.child.send("/ping\r")
    json_terminal.wait_text('{"event":"pong"')
    json_terminal.child.sendcontrol("d")
    assert json_terminal.exit_status() == 0

    ready(terminal)
    terminal.child.send("/ping abc\r")
    terminal.wait_text("* pong received (616263), round trip")
    assert "* ping sent (616263)" in terminal.text
    terminal.child.sendcontrol("d")
    assert terminal.exit_status() == 0


def test_ctrl_d_closes_with_close_code_and_reason(
    term_env: dict[str, str], terminals: list[Terminal]
) -> None:
    record, seen = echo_recording_closes()

    with running(record) as server:
        terminal = start(
            terminals, server.url, term_env, "--close-code", "4000", "--close-reason", "done"
        )
        terminal.child.send("hi\r")
        terminal.wait_text("< hi")
        terminal.child.sendcontrol("d")
        assert terminal.exit_status() == 0
    assert seen == [(4000, "done")]
    assert "closed by the client: 4000 (private use) 'done'" in terminal.text


def test_a_closed_terminal_sends_going_away(
    term_env: dict[str, str], terminals: list[Terminal]
) -> None:
    """SIGHUP (the terminal window closed): a close frame (1001) before exiting."""
    record, seen = echo_recording_closes()

    with running(record) as server:
        terminal = start(terminals, server.url, term_env)
        terminal.child.kill(signal.SIGHUP)
        assert terminal.exit_status() == 0
        deadline = time.monotonic() + scaled(5)
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [code for code, _ in seen] == [1001]


def test_terminal_wrapped_peer_text_cannot_pass_for_a_sent_line(
    push_server: PushServer, term_env: dict[str, str], terminals: list[Terminal]
) -> None:
    """A peer pads to the edge so the terminal's own wrap would start a row with "> "."""
    terminal = start(terminals, push_server.thread.url, term_env, cols=60)
    push_server.push("ok" + " " * 56 + "> transfer approved")
    screen = terminal.wait_text("> transfer approved")
    rows = screen.splitlines()
    assert "  > transfer approved" in rows
    assert not any(row.startswith("> transfer") for row in rows)
    terminal.resize(40)  # output after a resize is folded to the new width
    push_server.push("x" * 38 + "> fake")
    screen = terminal.wait_text("> fake")
    assert "  > fake" in screen.splitlines()
    assert not any(row.startswith(">") for row in screen.splitlines())
    terminal.child.sendcontrol("d")
    assert terminal.exit_status() == 0


def test_ctrl_c_on_an_empty_line_says_how_to_leave_and_twice_leaves(
    term_env: dict[str, str], terminals: list[Terminal]
) -> None:
    record, seen = echo_recording_closes()

    with running(record) as server:
        terminal = start(terminals, server.url, term_env)
        hint = "* (Ctrl-D or /quit to leave)"

        def prompt_after_hints(count: int) -> Callable[[str], bool]:
            # The prompt is drawn again (the terminal back in raw mode) below the hints.
            def check(text: str) -> bool:
                rows = [row for row in text.splitlines() if row]
                return text.count(hint) == count and rows[-2:] == [hint, "ws>"]

            return check

        terminal.child.sendcontrol("c")
        terminal.wait_for(prompt_after_hints(1))
        time.sleep(2.2)  # past the 2 s window: the next Ctrl-C only says it again
        terminal.child.sendcontrol("c")
        terminal.wait_for(prompt_after_hints(2))
        assert terminal.child.isalive()
        terminal.child.sendcontrol("c")
        assert terminal.exit_status() == 0
    assert [code for code, _ in seen] == [1000]
    assert "closed by the client: 1000" in terminal.text


def test_multiline_entries_keep_their_indent_typed_recalled_and_pasted(
    term_env: dict[str, str], terminals: list[Terminal]
) -> None:
    received: list[object] = []

    async def record(ws: ServerConnection) -> None:
        async for message in ws:
            received.append(message)
            await ws.send(f"got {len(str(message).splitlines())} lines")

    with running(record) as server:
        terminal = start(terminals, server.url, term_env)
        terminal.child.send("first\x1b\rsecond")
        terminal.wait_for(lambda text: "    second" in text.splitlines())
        terminal.child.send("\r")
        terminal.wait_text("< got 2 lines")
        terminal.child.send("\x1b[A")  # Up: the entry from history
        terminal.wait_for(lambda text: _prompt_rows(text) == ["ws> first", "    second"])
        terminal.child.sendcontrol("c")  # clear it
        terminal.wait_for(lambda _: terminal.prompt_line() == "ws>")
        terminal.child.send("\x1b[200~one\rtwo\rthree\x1b[201~")  # a bracketed paste
        terminal.wait_for(lambda text: "    three" in text.splitlines())
        terminal.child.send("\r")
        terminal.wait_text("< got 3 lines")
        terminal.child.sendcontrol("d")
        assert terminal.exit_status() == 0
    assert received == ["first\nsecond", "one\ntwo\nthree"]


def _prompt_rows(text: str) -> list[str]:
    rows = [row for row in text.splitlines() if row]
    starts = [i for i, row in enumerate(rows) if row.startswith("ws>")]
    return rows[starts[-1] : starts[-1] + 2] if starts else []


def test_long_binary_messages_are_cut_and_shown_in_full_on_request(
    push_server: PushServer,
    term_env: dict[str, str],
    terminals: list[Terminal],
    tmp_path: Path,
) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 12)  # 3,072 bytes: 192 dump lines
    terminal = start(terminals, push_server.thread.url, term_env)
    # The second one starts meanwhile (each spends most of its second starting); it connects
    # after the first, so the push below reaches it.
    full = Terminal(["connect", push_server.thread.url, "--full"], term_env)
    terminals.append(full)
    terminal.child.send(f"/file {blob}\r")
    screen = terminal.wait_text("… 2,944 more bytes (/show 2 for all)")
    assert "… 2,944 more bytes (/show 1 for all)" in screen  # what we sent, then the echo
    assert "00000070" in screen and "00000080" not in screen
    terminal.child.send("/show 2\r")
    terminal.wait_text("00000bf0  f0 f1")
    terminal.child.send("/show 9\r")
    terminal.wait_text("error: no cut message 9 to show")
    terminal.child.sendcontrol("d")
    assert terminal.exit_status() == 0

    ready(full)
    push_server.push(blob.read_bytes())  # pushed: the prompt stays up (no Enter race)
    full.wait_text("00000bf0  f0 f1")
    assert "more bytes" not in full.text
    full.child.sendcontrol("d")
    assert full.exit_status() == 0
