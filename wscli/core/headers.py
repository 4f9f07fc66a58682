"""Parse the extra HTTP headers given with -H/--header.

Three forms, so secrets can stay out of `ps` and shell history:

- ``Name: value`` — one header;
- ``@PATH`` — every ``Name: value`` line of the file PATH (blank lines and ``#`` comments
  skipped);
- ``env:VAR`` — every ``Name: value`` line of the environment variable VAR.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence

from wscli.core.errors import UsageProblem, os_reason

TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
"""An RFC 9110 token: what a header name (or a subprotocol name) must be."""
_ENV_FORM = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)")


def parse_header(text: str, source: str = "-H") -> tuple[str, str]:
    """Parse one ``Name: value`` header, raising :class:`UsageProblem` when malformed."""
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not TOKEN.match(name):
        raise UsageProblem(f"invalid header {text!r} in {source}", "expected 'Name: value'")
    value = value.strip()
    if any(c in value for c in "\r\n\0"):
        raise UsageProblem(f"invalid header {name!r} in {source}", "value contains CR, LF or NUL")
    return name, value


def _parse_lines(text: str, source: str) -> list[tuple[str, str]]:
    headers = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            headers.append(parse_header(line, source))
    return headers


def parse_header_args(
    args: Iterable[str], environ: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """Expand every -H argument (``Name: value``, ``@PATH`` or ``env:VAR``) in order."""
    env = os.environ if environ is None else environ
    headers: list[tuple[str, str]] = []
    for arg in args:
        if arg.startswith("@"):
            path = arg[1:]
            try:
                with open(path, encoding="utf-8") as file:
                    text = file.read()
            except OSError as exc:
                raise UsageProblem(f"cannot read header file {path!r}", os_reason(exc)) from None
            except UnicodeDecodeError:
                raise UsageProblem(f"cannot read header file {path!r}", "not UTF-8") from None
            headers.extend(_parse_lines(text, path))
        elif (match := _ENV_FORM.fullmatch(arg)) is not None:
            var = match.group(1)
            if var not in env:
                raise UsageProblem(f"header variable {var!r} is not set")
            headers.extend(_parse_lines(env[var], f"${var}"))
        else:
            headers.append(parse_header(arg))
    return headers


_HEADER_VALUE = re.compile(r"[\x09\x20-\x7e\x80-\xff]*")  # what websockets will send


def check_header_values(headers: Sequence[tuple[str, str]]) -> None:
    """Raise :class:`UsageProblem` for a header value HTTP/1.1 cannot carry (e.g. CJK text:
    header bytes are Latin-1), rather than let websockets fail half-way through."""
    for name, value in headers:
        if not _HEADER_VALUE.fullmatch(value):
            raise UsageProblem(
                f"invalid header {name!r}",
                "its value has characters a header cannot carry (only Latin-1)",
                hint="percent- or base64-encode it",
            )


def check_subprotocols(names: Sequence[str]) -> None:
    """Raise :class:`UsageProblem` for a subprotocol name that is not an HTTP token."""
    for name in names:
        if not TOKEN.match(name):
            raise UsageProblem(f"invalid subprotocol {name!r}", "not an HTTP token")


def ignored_subprotocols(offered: Sequence[str]) -> str:
    """What to say when the server accepted the upgrade but chose none of the subprotocols
    ``offered``: legal (RFC 6455 §4.1), yet the classic reason a client and a server talk
    past each other (graphql-ws)."""
    return f"the server chose no subprotocol (offered: {', '.join(offered)})"


REQUIRE_SUBPROTOCOL_HINT = (
    "it may speak another protocol; --require-subprotocol makes this an error"
)


def connection_options(values: Iterable[str]) -> set[str]:
    """The header names (lower case) that ``Connection`` header values list: hop-by-hop
    for this message, so a proxy removes them as it forwards it (RFC 9110 §7.6.1)."""
    names = set()
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if name and TOKEN.match(name):
                names.add(name)
    return names


def extension_names(values: Iterable[str]) -> list[str]:
    """The names of the extensions in ``Sec-WebSocket-Extensions`` header values, in order,
    parameters left out (``permessage-deflate; client_max_window_bits`` → its name)."""
    names: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.split(";")[0].strip()
            if name:
                names.append(name)
    return names
