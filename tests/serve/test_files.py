"""`wscli serve --static DIR`: index.html at /, content types, ETag and 304, and only the
files of DIR: no ``..`` (plain or escaped), no dot-files, no symbolic links out of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.serve.serve_helpers import http_get, raw_request, running
from wscli.serve.files import StaticFiles, content_type, safe_parts


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text("<h1>hi</h1>")
    (root / "js" / "app.js").write_text("console.log(1)")
    (root / "socket.io.js").write_text("/* the client bundle */")
    (root / ".env").write_text("SECRET=1")
    (tmp_path / "outside.txt").write_text("secret")
    os.symlink(tmp_path / "outside.txt", root / "link-out.txt")
    os.symlink(root / "js" / "app.js", root / "link-in.js")
    return root


def split(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", ["index.html"]),
        ("/js/", ["js", "index.html"]),
        ("/js/app.js", ["js", "app.js"]),
        ("/a%20b.txt", ["a b.txt"]),
        ("//js//app.js", ["js", "app.js"]),
        ("/../x", None),
        ("/js/%2e%2e/x", None),
        ("/%2E%2E%2Fx", None),
        ("/a%2Fb", None),
        ("/a%5Cb", None),
        ("/.env", None),
        ("/js/.", None),
        ("/a%00b", None),
        ("/%ff", None),
        ("relative", None),
    ],
)
def test_safe_parts(path: str, expected: list[str] | None) -> None:
    assert safe_parts(path) == expected


def test_content_types_come_from_one_table() -> None:
    assert content_type("a.html") == "text/html; charset=utf-8"
    assert content_type("A.JS") == "text/javascript; charset=utf-8"
    assert content_type("x.js.map") == "application/json"
    assert content_type("x.unknown") == "application/octet-stream"
    assert content_type("Makefile") == "application/octet-stream"


def test_only_files_inside_the_directory(site: Path) -> None:
    files = StaticFiles(site)
    found = files.answer("/", {})
    assert found is not None and found.body == b"<h1>hi</h1>"
    assert found.headers["Content-Type"] == "text/html; charset=utf-8"
    assert found.headers["X-Content-Type-Options"] == "nosniff"
    assert files.answer("/link-in.js", {}) is not None
    for path in ("/link-out.txt", "/.env", "/js", "/missing", "/js/%2e%2e/.env"):
        assert files.answer(path, {}) is None, path


def test_etag_and_304(site: Path) -> None:
    files = StaticFiles(site)
    first = files.answer("/js/app.js", {})
    assert first is not None
    etag = first.headers["ETag"]
    again = files.answer("/js/app.js", {"If-None-Match": f'"other", {etag}'})
    assert again is not None and again.status_code == 304 and again.body == b""
    assert again.headers["ETag"] == etag
    (site / "js" / "app.js").write_text("console.log(2)  // changed")
    changed = files.answer("/js/app.js", {"If-None-Match": etag})
    assert changed is not None and changed.status_code == 200
    assert changed.headers["ETag"] != etag and b"changed" in changed.body


async def test_served_by_the_server_beside_its_endpoints(site: Path) -> None:
    async with running(static_dir=str(site), socketio=True) as srv:
        status, headers, body = split(await raw_request(srv.port, http_get("/", srv.port)))
        assert (status, body) == (200, b"<h1>hi</h1>")
        assert headers["cache-control"] == "no-cache" and headers["etag"]
        request = http_get("/", srv.port, f"If-None-Match: {headers['etag']}\r\n")
        status, _, body = split(await raw_request(srv.port, request))
        assert (status, body) == (304, b"")
        status, headers, _ = split(await raw_request(srv.port, http_get("/healthz", srv.port)))
        assert status == 200 and headers["content-type"] == "application/json"
        # The Node server serves its client bundle under its path; so do we, from DIR.
        bundle = http_get("/socket.io/socket.io.js?v=1", srv.port)
        status, headers, body = split(await raw_request(srv.port, bundle))
        assert (status, body) == (200, b"/* the client bundle */")
        assert headers["content-type"] == "text/javascript; charset=utf-8"
        foreign = bundle.replace(f"127.0.0.1:{srv.port}".encode(), b"evil.example")
        assert split(await raw_request(srv.port, foreign))[0] == 403  # the Host rule first
        for path in ("/link-out.txt", "/.env", "/..%2foutside.txt", "/js/../../outside.txt"):
            status, _, _ = split(await raw_request(srv.port, http_get(path, srv.port)))
            assert status == 404, path
        head = http_get("/js/app.js", srv.port).replace(b"GET", b"HEAD", 1)
        status, headers, body = split(await raw_request(srv.port, head))
        assert status == 200 and body == b"" and headers["content-length"] == "14"


async def test_without_index_html_the_chat_page_stays(tmp_path: Path) -> None:
    (tmp_path / "other.txt").write_text("x")
    async with running(static_dir=str(tmp_path)) as srv:
        status, headers, body = split(await raw_request(srv.port, http_get("/", srv.port)))
        assert status == 200 and b"wscli" in body and "content-security-policy" in headers
