"""wscli.net.statefiles: the URL file that feeds completion, and where state lives."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from tests.support import run_wscli
from tests.support.connect_servers import echo, running
from wscli.net.statefiles import (
    HISTORY_READ_LIMIT,
    KEEP_URLS,
    AppendOnlyFile,
    history_entry,
    history_path,
    history_strings,
    recent_urls,
    remember_url,
    urls_in,
    urls_path,
)


def test_paths() -> None:
    assert history_path({"XDG_STATE_HOME": "/s"}) == Path("/s/wscli/history")
    assert urls_path({"XDG_STATE_HOME": "/s"}) == Path("/s/wscli/urls")
    assert urls_path({}).parts[-3:] == ("state", "wscli", "urls")


def test_urls_in_newest_first_unique() -> None:
    text = "ws://a/1\n+ws://b/2\nhello\n+wss://c/3 trailing words\n ws://a/1 \nhttp://x/\n"
    assert urls_in(text) == ["ws://a/1", "ws://b/2"]
    assert urls_in(text, "ws://b") == ["ws://b/2"]
    many = "\n".join(f"ws://h/{i}" for i in range(200))
    assert urls_in(many)[:2] == ["ws://h/199", "ws://h/198"]
    assert len(urls_in(many)) == 50


def test_remember_url_appends_privately_and_skips_repeats(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path)}
    remember_url("ws://a/1", env)
    remember_url("ws://a/1", env)
    remember_url("wss://b/2", env)
    remember_url("not a url", env)
    path = urls_path(env)
    assert path.read_text() == "ws://a/1\nwss://b/2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert recent_urls("", env) == ["wss://b/2", "ws://a/1"]
    assert recent_urls("ws://", env) == ["ws://a/1"]


def test_remembered_urls_keep_no_credentials_or_query(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path)}
    remember_url("wss://bob:hunter2@api.example:8443/feed?token=s3cret&room=1#frag", env)
    remember_url("ws://[::1]:9000?api_key=k", env)
    text = urls_path(env).read_text()
    assert text == "wss://api.example:8443/feed\nws://[::1]:9000/\n"
    for secret in ("bob", "hunter2", "s3cret", "token", "api_key", "frag"):
        assert secret not in text


def test_state_file_symlink_is_not_followed(tmp_path: Path) -> None:
    # A urls file planted as a symlink to another (0644) file: wscli must not append there.
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    target = tmp_path / "victim"
    target.write_text("keep\n")
    target.chmod(0o644)
    urls_path(env).parent.mkdir(parents=True)
    urls_path(env).symlink_to(target)
    remember_url("ws://a/1", env)
    assert target.read_text() == "keep\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert recent_urls("", env) == []  # not read through the link either


def test_existing_urls_file_is_made_private(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path)}
    path = urls_path(env)
    path.parent.mkdir(parents=True)
    path.write_text("ws://old/\n")
    path.chmod(0o644)
    remember_url("ws://new/", env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "ws://old/\nws://new/\n"


def test_completion_urls_unique_most_recent_first() -> None:
    # `connect` once remembered URLs as typed, `handshake` normalised: one entry each.
    text = "ws://h:1\nws://h:2/\n+ws://h:1/\nws://h:2\n"
    assert urls_in(text) == ["ws://h:2", "ws://h:1/"]


def test_remember_url_trims_the_file(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path)}
    for i in range(2 * KEEP_URLS + 1):
        remember_url(f"ws://h/{i}", env)
    lines = urls_path(env).read_text().splitlines()
    assert len(lines) == KEEP_URLS
    assert lines[-1] == f"ws://h/{2 * KEEP_URLS}"


def test_an_unwritable_state_dir_costs_only_the_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    remember_url("ws://a/1", {"XDG_STATE_HOME": str(blocker)})  # no exception
    assert recent_urls("", {"XDG_STATE_HOME": str(blocker)}) == []


def test_connect_and_handshake_remember_what_they_opened(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path)}
    with running(echo) as server:
        assert run_wscli("connect", server.url, "-x", "hi", "-n", "1", env=env).returncode == 0
        other = server.url + "other"
        assert run_wscli("handshake", other, env=env).returncode == 0
    assert recent_urls("", env) == [other, server.url]
    # ... and completion offers them (through the real program, as the shells call it).
    completion_env = {
        **env,
        "_WSCLI_COMPLETE": "bash_complete",
        "COMP_WORDS": "wscli connect ws://",
        "COMP_CWORD": "2",
    }
    result = run_wscli(env=completion_env)
    assert result.returncode == 0
    assert server.url in result.stdout.decode()
    assert other in result.stdout.decode()


def test_refused_connections_are_not_remembered(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path)}
    assert run_wscli("connect", "ws://127.0.0.1:9/", env=env).returncode == 3
    assert not os.path.exists(urls_path(env))


def test_append_only_file_reopens_privately_and_never_through_a_symlink(tmp_path: Path) -> None:
    folder = tmp_path / "wscli"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    path = folder / "history"
    file = AppendOnlyFile(path)
    try:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        file.append(history_entry("one"))
        path.unlink()  # deleted meanwhile: it comes back 0600
        file.append(history_entry("two\nlines"))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert history_strings(file.read_tail()) == ["two\nlines"]
        victim = tmp_path / "victim"
        victim.write_text("keep")
        path.unlink()
        path.symlink_to(victim)
        with pytest.raises(OSError) as planted:
            file.append(history_entry("token"))
        assert planted.value.errno == errno.ELOOP and victim.read_text() == "keep"
        path.unlink()
        os.mkfifo(path)  # a FIFO would block a plain open for writing: refused at once
        with pytest.raises(OSError):
            file.append(history_entry("token"))
    finally:
        file.close()


def test_history_strings_read_prompt_toolkits_format_newest_first() -> None:
    data = history_entry("a") + history_entry("b\nc") + history_entry("")
    assert history_strings(data) == ["", "b\nc", "a"]
    assert history_strings(b"") == []
    cut = b"+tail of a cut entry\n" + history_entry("whole") * (HISTORY_READ_LIMIT // 30)
    assert history_strings(cut[:HISTORY_READ_LIMIT])[-1] == "whole"


def test_each_test_has_its_own_state_home(
    state_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The suite never writes into the tester's URL history: a session opened in this
    process, as `connect` and `handshake` remember theirs, lands in the test's own folder."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    assert os.environ["XDG_STATE_HOME"] == str(state_home)
    assert urls_path() == state_home / "wscli" / "urls"
    with running(echo) as server:
        assert run_wscli("handshake", server.url).returncode == 0
        remember_url(server.url)  # what connect and handshake call in this process
    assert urls_path().read_text() == server.url + "\n"  # the subprocess's, then ours (once)
    assert not home.exists()
