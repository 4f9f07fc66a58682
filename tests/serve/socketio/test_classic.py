"""The classic Express + Socket.io chat (../shared/peers/seed-socketio) and `wscli serve
--socketio` side by side: one client script gives the same transcript against both, and the
classic page itself, served by ``--static``, chats in Chromium with a raw WebSocket client."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.serve.chat_page_support import chromium
from tests.support import clean_env, requires, scaled
from tests.support.peers import PEERS, install_project_peer, peer
from tests.support.serve_process import ServeProcess


def transcript(url: str) -> Any:
    """Run tests/peers/socketio-client/classic.js against ``url``; its transcript."""
    cache = install_project_peer("socketio-client")
    result = subprocess.run(
        ["node", str(cache / "classic.js"), url],
        capture_output=True,
        timeout=scaled(60),
        env=clean_env(),
        check=False,
    )
    assert result.returncode == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


@requires("node", "npm")
def test_the_same_script_gets_the_same_transcript_from_both_servers() -> None:
    with peer("seed-socketio") as port:
        theirs = transcript(f"http://127.0.0.1:{port}")
    with ServeProcess("--socketio") as server:
        ours = transcript(server.http_url)
    assert ours == theirs
    # What it covered: every client got every message, binary included.
    assert len(ours["websocket"]) == 10 and ours["websocket"][3] == [{"$binary": "AAEC/w=="}]


@pytest.fixture(scope="module")
def classic_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The classic page and the socket.io client bundle, as the README says to set it up."""
    site = tmp_path_factory.mktemp("classic")
    shutil.copy(PEERS / "seed-socketio" / "index.html", site)
    bundle = install_project_peer("socketio-acks") / "node_modules/socket.io/client-dist"
    shutil.copy(bundle / "socket.io.js", site)
    return site


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


@requires("chromium", "node", "npm")
def test_the_classic_page_chats_with_a_raw_client(browser: Any, classic_site: Path) -> None:
    with ServeProcess("--socketio", "--static", str(classic_site)) as server:
        page = browser.new_page()
        page.set_default_timeout(scaled(10_000))
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        response = page.goto(server.http_url)
        assert response is not None and response.ok
        assert page.title() == "Socket.io Chat"
        page.wait_for_function("() => typeof socket !== 'undefined' && socket.connected")
        with connect(server.ws_url("/"), proxy=None, open_timeout=scaled(5)) as raw:
            page.fill("#messageInput", "hello from the classic page")
            page.click("text=Send")
            assert raw.recv(timeout=scaled(10)) == "hello from the classic page"
            raw.send("hello from a raw client <b>not bold</b>")
            page.wait_for_function(
                "() => [...document.querySelectorAll('#messages li')].length === 2"
            )
            shown = page.eval_on_selector_all(
                "#messages li", "items => items.map(i => i.textContent)"
            )
            assert shown == [
                "hello from the classic page",
                "hello from a raw client <b>not bold</b>",
            ]
            transport = page.evaluate("() => socket.io.engine.transport.name")
            assert transport == "websocket"  # upgraded from long-polling, as by default
        assert errors == []
