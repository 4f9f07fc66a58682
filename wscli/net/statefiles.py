"""wscli's files under ``$XDG_STATE_HOME/wscli``: the prompt's history and the URLs opened.

Shared by the REPL (history), `connect` and `handshake` (which remember each URL they open)
and shell completion (which offers those URLs). No click or prompt_toolkit here, so
completion stays fast. State is a convenience: a home that cannot be written only costs it.
"""

from __future__ import annotations

import os
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


def urls_in(text: str, incomplete: str = "") -> list[str]:
    """WebSocket URLs in ``text`` starting with ``incomplete``, newest (last) first, unique.

    Accepts plain lines and prompt_toolkit's ``+line`` history format; anything else is
    ignored.
    """
    seen: dict[str, None] = {}
    for raw in reversed(text.splitlines()):
        line = raw.strip().removeprefix("+").strip()
        if line.startswith(URL_SCHEMES) and " " not in line and line.startswith(incomplete):
            seen.setdefault(line, None)
    return list(seen)[:MAX_URLS]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def recent_urls(incomplete: str = "", environ: Mapping[str, str] | None = None) -> list[str]:
    """URLs opened before (newest first), then URLs typed at the prompt, for completion."""
    text = _read(history_path(environ)) + "\n" + _read(urls_path(environ))
    return urls_in(text, incomplete)


def remember_url(url: str, environ: Mapping[str, str] | None = None) -> None:
    """Append ``url`` to the URL file (private, 0600), trimmed to the last KEEP_URLS lines.

    Failures are ignored: remembering URLs must never make a connection fail.
    """
    if not url.startswith(URL_SCHEMES) or any(c.isspace() for c in url):
        return
    path = urls_path(environ)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
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
        fd = os.open(path, mode, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError:
        return
