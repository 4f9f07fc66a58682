"""``wscli serve --static DIR``: files of one directory over plain HTTP, safely.

- A request path maps to a file under DIR only when every segment of it, percent-decoded,
  is a plain name: no ``..``, no ``.`` names or dot-files (``.git``, ``.env``), no
  backslash, NUL or ``/`` hidden in an escape. ``/`` and paths ending in ``/`` mean their
  ``index.html``.
- The file's real path (symbolic links resolved) must still be inside DIR, and be a
  regular file of at most :data:`MAX_FILE` bytes: a link pointing out of DIR is not served.
- Content types come from one fixed table of web types (not the machine's
  ``/etc/mime.types``, so answers do not change between machines); others are
  ``application/octet-stream``; ``nosniff`` keeps browsers to them.
- ``ETag`` is a hash of the content; ``If-None-Match`` with it gets 304 without a body;
  ``Cache-Control: no-cache`` makes browsers revalidate. Contents are cached in memory by
  path, size and modification time, at most :data:`CACHE_BYTES` together.

Anything else is not this module's: the server answers it (its own endpoints, or 404).
"""

from __future__ import annotations

import collections
import hashlib
import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from stat import S_ISREG

from websockets.http11 import Response

from wscli.serve.http import body_response

MAX_FILE = 32 * 2**20
CACHE_BYTES = 64 * 2**20

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".wasm": "application/wasm",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
}
DEFAULT_TYPE = "application/octet-stream"


def safe_parts(path: str) -> list[str] | None:
    """The file path segments a URL path stands for, or None when it is not a safe one
    (see the module docstring); ``/`` and a trailing ``/`` add ``index.html``."""
    parts: list[str] = []
    raw = path.split("/")
    if raw[0] != "":
        return None
    for segment in raw[1:-1]:
        name = _segment(segment)
        if name is None:
            return None
        if name:
            parts.append(name)
    last = _segment(raw[-1]) if len(raw) > 1 else ""
    if last is None:
        return None
    parts.append(last or "index.html")
    return parts


def _segment(segment: str) -> str | None:
    try:
        name = urllib.parse.unquote(segment, errors="strict")
    except UnicodeDecodeError:
        return None
    if any(ch in name for ch in "/\\\x00") or name.startswith("."):
        return None
    return name


def content_type(name: str) -> str:
    return CONTENT_TYPES.get(os.path.splitext(name)[1].lower(), DEFAULT_TYPE)


class StaticFiles:
    """The files of one directory (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve(strict=True)
        self._cache: collections.OrderedDict[Path, tuple[int, int, bytes, str]] = (
            collections.OrderedDict()
        )
        self._cached = 0

    def answer(self, path: str, headers: Mapping[str, str]) -> Response | None:
        """The response for the URL path ``path`` (query removed), or None: not a file here."""
        found = self._find(path)
        if found is None:
            return None
        body, etag, name = found
        tags = _etags(headers.get("If-None-Match"))
        if etag in tags or "*" in tags:
            response = body_response(304, b"", "")
            del response.headers["Content-Type"]
            del response.headers["Content-Length"]
        else:
            response = body_response(200, body, content_type(name))
        response.headers["ETag"] = etag
        response.headers["Cache-Control"] = "no-cache"  # nosniff: every answer has it
        return response

    def _find(self, path: str) -> tuple[bytes, str, str] | None:
        parts = safe_parts(path)
        if parts is None:
            return None
        try:
            real = self.root.joinpath(*parts).resolve(strict=True)
            if not real.is_relative_to(self.root):
                return None  # a symbolic link out of the directory
            stat = real.stat()
        except (OSError, RuntimeError):  # missing, unreadable, a symlink loop
            return None
        if not S_ISREG(stat.st_mode) or stat.st_size > MAX_FILE:
            return None
        cached = self._cache.get(real)
        if cached is not None and cached[:2] == (stat.st_size, stat.st_mtime_ns):
            self._cache.move_to_end(real)
            return cached[2], cached[3], real.name
        try:
            with real.open("rb") as handle:
                body = handle.read(MAX_FILE + 1)
        except OSError:
            return None
        if len(body) > MAX_FILE:
            return None
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        self._remember(real, (stat.st_size, stat.st_mtime_ns, body, etag))
        return body, etag, real.name

    def _remember(self, real: Path, entry: tuple[int, int, bytes, str]) -> None:
        old = self._cache.pop(real, None)
        if old is not None:
            self._cached -= len(old[2])
        self._cache[real] = entry
        self._cached += len(entry[2])
        while self._cached > CACHE_BYTES and self._cache:
            _, dropped = self._cache.popitem(last=False)
            self._cached -= len(dropped[2])


def _etags(header: str | None) -> set[str]:
    """The entity tags of an ``If-None-Match`` header (``*`` matches any)."""
    if not header:
        return set()
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}
