"""Secrets a client presents (Authorization, Cookie, ``token=`` and ``session=`` values: a
chat page's session id lets its holder take over that page's name), removed from any
text that is logged or shown: the server's log and the proxy's view of handshake heads use
this one rule."""

from __future__ import annotations

import re

# Secrets a client presents, wherever they appear in a text (an error message quoting a
# header line, a request target): the value is replaced, the name kept.
_SECRETS = re.compile(
    r"(?i)(\b(?:proxy-)?authorization\s*[:=]\s*|\b(?:set-)?cookie\s*[:=]\s*)[^\r\n]*"
    r"|([?&;](?:token|session)=)[^&\s#'\"]*"
    # a header value quoted by a parser error: whose header it was is not said
    r"|(header (?:value|line):\s*)[^;\r\n]*"
    r"|(\b(?:bearer|basic)\s+)[^\s;,'\"]+"
)


def redact(text: str) -> str:
    """``text`` with the values of Authorization, Cookie, ``token=`` and ``session=``
    replaced."""
    if not _MAYBE_SECRET.search(text):
        return text
    return _SECRETS.sub(lambda m: next(g for g in m.groups() if g) + "[redacted]", text)


_MAYBE_SECRET = re.compile(
    r"(?i)authorization|cookie|token=|session=|header (?:value|line)|bearer|basic"
)
