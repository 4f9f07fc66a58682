"""groff escaping and text blocks: the pieces man pages are built from (pure, no I/O).

click-man and many hand-rolled generators write help text into roff unescaped: a line that
starts with ``'`` or ``.`` is taken as a request and vanishes, ``\\`` starts an escape and
eats the next characters, and ``-`` becomes a typographic hyphen that breaks copy-paste of
options. Everything that enters a page here goes through :func:`escape` first.
"""

from __future__ import annotations

import re

_PLAIN = {
    "\\": "\\e",  # a literal backslash
    "-": "\\-",  # an ASCII hyphen-minus, so options can be copied
    "'": "\\(aq",  # an ASCII apostrophe, not a typographic quote
    "`": "\\(ga",
    "\t": " ",
}


def escape(text: str) -> str:
    """Escape running text (one line) for groff: backslashes, hyphens, quotes, non-ASCII.

    A line starting with ``.`` or ``'`` would be read as a request, so it is shielded with
    the zero-width ``\\&``.
    """
    parts: list[str] = []
    for char in text:
        if char in _PLAIN:
            parts.append(_PLAIN[char])
        elif ord(char) < 32 or ord(char) == 127:
            continue  # control characters have no place on a page
        elif ord(char) > 126:
            parts.append(f"\\[u{ord(char):04X}]")
        else:
            parts.append(char)
    out = "".join(parts)
    if out.startswith("."):
        out = "\\&" + out
    return out


def quote_arg(text: str) -> str:
    """A macro argument: escaped and double-quoted (a ``"`` inside becomes ``\\(dq``)."""
    return '"' + escape(text).replace('"', "\\(dq") + '"'


def bold(text: str) -> str:
    """Escaped text in bold (commands, options, variables)."""
    return f"\\fB{escape(text)}\\fR"


def italic(text: str) -> str:
    """Escaped text in italics (placeholders such as metavars)."""
    return f"\\fI{escape(text)}\\fR"


def paragraphs(text: str) -> list[tuple[bool, list[str]]]:
    """Split click help text into paragraphs: ``(verbatim, lines)``.

    Like click's own formatter, a paragraph whose first line is ``\\b`` keeps its line
    breaks (``verbatim``); the others are reflowed by groff.
    """
    found: list[tuple[bool, list[str]]] = []
    for block in re.split(r"\n[ \t]*\n", text.strip("\n")):
        lines = block.split("\n")
        if lines and lines[0].strip() == "\b":
            kept = [line.rstrip() for line in lines[1:]]
            if any(kept):
                found.append((True, kept))
        else:
            words = " ".join(line.strip() for line in lines).strip()
            if words:
                found.append((False, [words]))
    return found


def text_block(text: str) -> list[str]:
    """Roff lines for help text: reflowed paragraphs split by ``.sp``, ``\\b`` blocks kept.

    ``.sp`` (not ``.PP``) separates paragraphs so the block can sit inside a ``.TP`` item
    without losing its indentation.
    """
    out: list[str] = []
    for index, (verbatim, lines) in enumerate(paragraphs(text)):
        if index:
            out.append(".sp")
        if verbatim:
            out.append(".nf")
            out.extend(escape(line) if line else ".sp" for line in lines)
            out.append(".fi")
        else:
            out.append(escape(lines[0]))
    return out
