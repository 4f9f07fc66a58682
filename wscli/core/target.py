"""The request targets a server or proxy receives (peer bytes; pure, no websockets import,
so that the server's admission can use it without loading the networking stack).

- :func:`origin_form`: which targets are taken at all (RFC 9112 §3.2): a path, or an
  absolute URL naming this server;
- :func:`normalize_path`: one spelling per path (RFC 3986 §6.2.2), so that ``/chat`` and
  ``/%63hat`` are one room.

Both are linear in the target's length (tested with Hypothesis).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable


class RequestTargetError(ValueError):
    """A request target a server (or proxy) does not take: not origin-form, or an
    absolute-form target naming another server (answered 400)."""


_TARGET_CHARS = re.compile(r"[\x21-\x7e]*")
"""Visible ASCII: what a request target may hold (no space, control or fragment mark)."""
_ABSOLUTE = re.compile(r"(?i)(?:ws|wss|http|https)://")


def origin_form(target: str, is_own: Callable[[str, int | None], bool]) -> tuple[str, str]:
    """``(path, query)`` of an HTTP request target (RFC 9112 §3.2).

    Origin-form (``/path?query``) is taken as it is. Absolute-form (``http://host:port/path``,
    also ``ws``, ``wss``, ``https``) is taken only when ``is_own(host, port)`` says it names
    this server (``port`` None: the scheme's default), and then means its path and query;
    asterisk-form (``*``), authority-form and anything else raise :class:`RequestTargetError`,
    as do a fragment, a space or a control character. The result is never longer than
    ``target``.
    """
    if not _TARGET_CHARS.fullmatch(target) or "#" in target:
        raise RequestTargetError("the request target holds a character it may not")
    if not target.startswith("/"):
        if not _ABSOLUTE.match(target):
            raise RequestTargetError("the request target is not a path (origin-form)")
        try:
            parts = urllib.parse.urlsplit(target)
            port = parts.port
        except ValueError:
            raise RequestTargetError("the request target is not a valid URL") from None
        if parts.username is not None or not parts.hostname:
            raise RequestTargetError("the request target's URL has user information or no host")
        if not is_own(parts.hostname, port):
            raise RequestTargetError("the request target names another server")
        return parts.path or "/", parts.query
    path, _, query = target.partition("?")
    return path, query


_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = frozenset("0123456789ABCDEFabcdef")


def normalize_path(path: str) -> str:
    """``path`` with percent-encoded unreserved characters decoded and the hex digits of
    the others in upper case (RFC 3986 §6.2.2): two spellings of one path become one
    (``/%63hat`` is ``/chat``; ``%2f`` is ``%2F``, never ``/``). Decoded once: ``%2563``
    stays ``%2563``."""
    if "%" not in path:
        return path
    return _PERCENT.sub(_normal_escape, path)


def _normal_escape(match: re.Match[str]) -> str:
    byte = int(match[1], 16)
    if byte not in _UNRESERVED or (chr(byte) in _HEX and _after_stray_percent(match)):
        return "%" + match[1].upper()
    return chr(byte)


def _after_stray_percent(match: re.Match[str]) -> bool:
    """True when a ``%`` that starts no escape comes just before ``match`` (``%%30``) or one
    hex digit before it (``%0%30``): decoding a hex digit there would make a new escape
    (``%00``, a NUL), so the path would mean something else and not be a fixed point."""
    text, start = match.string, match.start()
    if start >= 1 and text[start - 1] == "%":
        return True
    return start >= 2 and text[start - 2] == "%" and text[start - 1] in _HEX
