"""wscli's files under ``$XDG_STATE_HOME/wscli``: the prompt's history and the URLs opened.

Shared by the REPL (history), `connect` and `handshake` (which remember each URL they open)
and shell completion (which offers those URLs). No click or prompt_toolkit here, so
completion stays fast. State is a convenience: a home that cannot be written only costs it.

Files here may outlive the session and be read by others: a remembered URL keeps only its
scheme, host, port and path (no ``user:password@``, no query such as ``?token=``, no
fragment), the directory is 0700, and the files are opened with ``O_NOFOLLOW`` and mode 0600
every time they are written, so a symlink planted in their place cannot make wscli write into
another file.
"""

from __future__ import annotations

import datetime
import errno
import os
import stat
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

URL_SCHEMES = ("ws://", "wss://")
MAX_URLS = 50
"""How many URLs completion offers."""
KEEP_URLS = 200
"""How many lines the URL file keeps when it is trimmed."""


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/wscli`` (``~/.local/state/wscli`` when the variable is unset)."""
    env = os.environ if environ is None else environ
    state = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "wscli"


def history_path(environ: Mapping[str, str] | None = None) -> Path:
    """The prompt's history of typed lines: ``$XDG_STATE_HOME/wscli/history``."""
    return state_dir(environ) / "history"


def urls_path(environ: Mapping[str, str] | None = None) -> Path:
    """The URLs `connect` and `handshake` opened: ``$XDG_STATE_HOME/wscli/urls``."""
    return state_dir(environ) / "urls"


def url_to_remember(url: str) -> str | None:
    """What of ``url`` may be stored: ``scheme://host:port/path`` (None: not a ws URL).

    Credentials (``user:pass@``), the query (often ``?token=``) and the fragment are
    dropped; an empty path becomes ``/``, so ``ws://h`` and ``ws://h/`` are one entry.
    """
    if not url.startswith(URL_SCHEMES) or any(c.isspace() for c in url):
        return None
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    return urllib.parse.urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", "", ""))


def urls_in(text: str, incomplete: str = "") -> list[str]:
    """WebSocket URLs in ``text`` starting with ``incomplete``, newest (last) first, unique.

    Accepts plain lines and prompt_toolkit's ``+line`` history format; anything else is
    ignored. ``ws://h`` and ``ws://h/`` count as one URL (shown as the newest spelling).
    """
    seen: dict[str, str] = {}
    for raw in reversed(text.splitlines()):
        line = raw.strip().removeprefix("+").strip()
        if line.startswith(URL_SCHEMES) and " " not in line and line.startswith(incomplete):
            seen.setdefault(url_to_remember(line) or line, line)
    return list(seen.values())[:MAX_URLS]


def open_private(path: Path, flags: int, dir_fd: int | None = None) -> int:
    """Open a state file without following a symlink; a file it creates or writes is 0600.

    ``dir_fd``: ``path`` is a name in that (held) directory. Only a regular file is
    opened (``O_NONBLOCK``: a FIFO planted in its place must not hang the open).
    """
    fd = os.open(
        path,
        flags | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0),
        0o600,
        dir_fd=dir_fd,
    )
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if flags & (os.O_WRONLY | os.O_RDWR):
            os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    return fd


def private_dir(path: Path) -> None:
    """Create the state directory ``path`` with mode 0700, or make it 0700 if it exists
    (an older wscli created it 0755): the files in it hold what users typed."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.stat(path, follow_symlinks=False)
    if not stat.S_ISDIR(info.st_mode):
        raise OSError(errno.ENOTDIR, "not a directory", str(path))
    if stat.S_IMODE(info.st_mode) != 0o700 and info.st_uid == os.geteuid():
        os.chmod(path, 0o700, follow_symlinks=False)


HISTORY_READ_LIMIT = 4 * 1024 * 1024
"""Bytes read from the end of the history file at start (the newest entries)."""


class AppendOnlyFile:
    """A private state file that is only ever appended to, for a whole session.

    The directory is opened once (and made 0700); every append opens the file by name
    relative to it, with ``O_NOFOLLOW``, ``O_APPEND`` and mode 0600, so a symlink planted
    in its place later (prompt_toolkit's FileHistory reopened the path for every line: a
    typed token went where the link pointed) makes the append fail instead, and a file
    deleted meanwhile comes back private.
    """

    def __init__(self, path: Path) -> None:
        private_dir(path.parent)
        self.path = path
        self.dir_fd = os.open(
            path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        )
        try:
            os.close(self._open(os.O_WRONLY | os.O_APPEND | os.O_CREAT))
        except OSError:
            os.close(self.dir_fd)
            raise

    def _open(self, flags: int) -> int:
        return open_private(Path(self.path.name), flags, dir_fd=self.dir_fd)

    def read_tail(self, limit: int = HISTORY_READ_LIMIT) -> bytes:
        """The last ``limit`` bytes of the file (b"" when it cannot be read)."""
        try:
            fd = self._open(os.O_RDONLY)
        except OSError:
            return b""
        with os.fdopen(fd, "rb") as file:
            size = os.fstat(fd).st_size
            file.seek(max(size - limit, 0))
            return file.read(limit)

    def append(self, data: bytes) -> None:
        """Append ``data`` (raises OSError, e.g. ELOOP for a planted symlink)."""
        fd = self._open(os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        with os.fdopen(fd, "wb") as file:
            file.write(data)

    def close(self) -> None:
        os.close(self.dir_fd)


def history_entry(string: str, when: datetime.datetime | None = None) -> bytes:
    """One history entry in prompt_toolkit's FileHistory format: a ``# time`` line, then
    each line of ``string`` after a ``+``."""
    moment = when or datetime.datetime.now()
    lines = "".join(f"+{line}\n" for line in string.split("\n"))
    return f"\n# {moment}\n{lines}".encode("utf-8", "replace")


def history_strings(data: bytes) -> list[str]:
    """The entries of a history file's text (FileHistory's format), newest first. A first
    entry cut by :data:`HISTORY_READ_LIMIT` is dropped."""
    text = data.decode("utf-8", "replace")
    if data and len(data) >= HISTORY_READ_LIMIT:
        text = text[text.find("\n#") + 1 :] if "\n#" in text else ""
    strings: list[str] = []
    lines: list[str] = []
    for line in [*text.split("\n"), ""]:
        if line.startswith("+"):
            lines.append(line[1:])
        elif lines:
            strings.append("\n".join(lines))
            lines = []
    return strings[::-1]


def _read(path: Path) -> str:
    try:
        fd = open_private(path, os.O_RDONLY)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as file:
        return file.read().decode("utf-8", "replace")


def recent_urls(incomplete: str = "", environ: Mapping[str, str] | None = None) -> list[str]:
    """URLs opened before (newest first), then URLs typed at the prompt, for completion."""
    text = _read(history_path(environ)) + "\n" + _read(urls_path(environ))
    return urls_in(text, incomplete)


def remember_url(url: str, environ: Mapping[str, str] | None = None) -> None:
    """Append ``url`` (see :func:`url_to_remember`) to the URL file (0600, no symlink),
    trimmed to the last KEEP_URLS lines.

    Failures are ignored: remembering URLs must never make a connection fail.
    """
    stored = url_to_remember(url)
    if stored is None:
        return
    url = stored
    path = urls_path(environ)
    try:
        private_dir(path.parent)
        lines = _read(path).splitlines()
        if lines and lines[-1] == url:
            return
        lines.append(url)
        if len(lines) > 2 * KEEP_URLS:
            lines = lines[-KEEP_URLS:]
            mode = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
            text = "\n".join(lines) + "\n"
        else:
            mode = os.O_WRONLY | os.O_CREAT | os.O_APPEND
            text = url + "\n"
        fd = open_private(path, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError:
        return
