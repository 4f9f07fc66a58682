"""How `wscli connect` turns its input into messages: the -x values (``@FILE``, ``@-``,
``@@``), stdin cut into messages (lines, a --separator, or --whole-input), and each
message's bytes into what is sent (text, or binary: raw, base64 or hex).

One path for every message: a -x value and a stdin message are both bytes first
(:func:`execute_bytes`, :func:`split_messages`), then :func:`payload` makes the message of
them, so `-x` and stdin always agree. A received binary message is printed as base64 (or
hex with --binary-format hex); ``--binary-input`` reads that notation back, so any line
wscli printed can be sent back unchanged.
"""

from __future__ import annotations

import base64
import binascii
import re
import sys
from collections.abc import Sequence
from typing import Literal

from wscli.core.errors import UsageProblem, WscliError, os_reason

BinaryInput = Literal["raw", "base64", "hex"]

NEWLINE = b"\n"

_ESCAPES = {"n": b"\n", "r": b"\r", "t": b"\t", "0": b"\0", "\\": b"\\"}
_HEX_PAIR = re.compile("[0-9A-Fa-f]{2}")


class BadInput(WscliError):
    """A message in stdin (or a -x value) that cannot be sent as asked: not base64 or hex
    with --binary-input. The session is closed politely first (exit 1)."""


def parse_separator(text: str | None) -> bytes:
    """``--separator``: ``nul`` for NUL, else the text with ``\\n``, ``\\r``, ``\\t``,
    ``\\0``, ``\\\\`` and ``\\xHH`` escapes read; none given: a newline."""
    if text is None:
        return NEWLINE
    if text.lower() == "nul":
        return b"\0"
    value = bytearray()
    index = 0
    while index < len(text):
        char = text[index]
        code = text[index + 1 : index + 2]
        digits = text[index + 2 : index + 4]
        if char != "\\":
            value += char.encode("utf-8", "surrogateescape")
            index += 1
        elif code in _ESCAPES:
            value += _ESCAPES[code]
            index += 2
        elif code == "x" and _HEX_PAIR.fullmatch(digits):
            value.append(int(digits, 16))
            index += 4
        else:
            raise UsageProblem(
                f"invalid --separator {text!r}",
                f"unknown escape \\{code} (known: \\n \\r \\t \\0 \\\\ \\xHH, or nul)",
            )
    if not value:
        raise UsageProblem("invalid --separator ''", "it must not be empty")
    return bytes(value)


def split_messages(
    buffer: bytes, final: bool, separator: bytes = NEWLINE
) -> tuple[list[bytes], bytes]:
    """Cut complete messages off ``buffer`` at ``separator``; at ``final`` keep the rest
    too (a last message without its separator). With a newline, a ``\\r`` before it goes
    too (``\\r\\n`` line ends)."""
    *messages, rest = buffer.split(separator)
    if separator == NEWLINE:
        messages = [m[:-1] if m.endswith(b"\r") else m for m in messages]
    if final and rest:
        messages.append(rest[:-1] if separator == NEWLINE and rest.endswith(b"\r") else rest)
        rest = b""
    return messages, rest


def decode_binary(raw: bytes, how: BinaryInput, where: str) -> bytes:
    """``raw`` as the bytes it stands for with ``--binary-input how``; :class:`BadInput`
    (naming ``where``) when it is not that notation."""
    if how == "raw":
        return raw
    try:
        if how == "base64":
            return base64.b64decode(raw.strip(), validate=True)
        return bytes.fromhex(raw.decode("ascii"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        shown = raw[:40].decode("ascii", "backslashreplace")
        more = "…" if len(raw) > 40 else ""
        raise BadInput(
            f"{where} is not {how}", f"{shown!r}{more}", hint=f"--binary-input {how}"
        ) from None


def payload(raw: bytes, binary: bool, how: BinaryInput, where: str) -> str | bytes:
    """The message to send for ``raw``: text (decoded as UTF-8, undecodable bytes
    replaced), or with ``binary`` the bytes (decoded from base64 or hex first)."""
    if binary:
        return decode_binary(raw, how, where)
    return raw.decode("utf-8", "replace")


def execute_bytes(values: Sequence[str], binary: bool, read_stdin: bool = True) -> list[bytes]:
    """The bytes of each -x value: ``@FILE`` a file's content, ``@-`` all of stdin (read
    now, once), ``@@…`` the text with one ``@`` less (a literal ``@``), anything else the
    text as UTF-8.

    Raises :class:`UsageProblem` for a file that cannot be read, a text file that is not
    UTF-8 (without --binary), or ``@-`` where stdin is not read (``read_stdin`` False: a
    terminal).
    """
    found: list[bytes] = []
    for value in values:
        if value.startswith("@@"):
            found.append(value[1:].encode("utf-8", "surrogateescape"))
        elif value == "@-":
            if not read_stdin:
                raise UsageProblem(
                    "-x @- reads stdin", "stdin is a terminal here", hint="pipe it in"
                )
            found.append(sys.stdin.buffer.read())
        elif value.startswith("@") and len(value) > 1:
            found.append(_read_file(value[1:], binary))
        else:
            try:
                found.append(value.encode("utf-8"))
            except UnicodeEncodeError:  # undecodable bytes from the command line
                raise UsageProblem(f"invalid -x message {value!r}", "not valid UTF-8") from None
    return found


def _read_file(path: str, binary: bool) -> bytes:
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as exc:
        raise UsageProblem(f"cannot read -x @{path}", os_reason(exc)) from None
    if not binary:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageProblem(
                f"cannot send -x @{path} as text",
                "it is not UTF-8",
                hint="--binary sends it as bytes",
            ) from None
    return data
