"""The one redaction rule: secrets a client or server presents are removed from every text
wscli logs or shows (the server's log, the proxy's view and ``--json`` traffic, URLs
printed by `wscli connect`); what is relayed stays byte for byte.

A value is replaced by ``[redacted]`` (its name kept) when it is

- a **query parameter** whose name contains ``token``, ``key``, ``secret``, ``passw``
  (password, passwd), ``auth``, ``session`` or ``signature``, or is ``sig`` or ``pwd``,
  whatever the case (``?access_token=``, ``api_key``, ``X-Amz-Signature``, ``sig``);
- a **header** whose name contains ``auth``, ``token``, ``key``, ``cookie`` or ``session``
  (``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``Set-Cookie``, ``X-Api-Key``,
  ``X-Auth-Token``), except ``Sec-WebSocket-Key`` (a public nonce); also a header value
  quoted by a parser error (``header line: …``, ``header value: …``: whose it was is not
  said), and the credentials after ``Bearer``/``Basic`` anywhere;
- a **bearer-style subprotocol offer**: what follows ``bearer.`` up to its last dot
  (``base64url.bearer.authorization.k8s.io.[redacted]``).

Every pattern is linear in its input (tested with Hypothesis): a hostile request line or
head costs the logger no more than its length.
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"

_PARAM_NAME = re.compile(r"(?i)token|key|secret|passw|auth|session|signature|^sig$|^pwd$")
_HEADER_NAME = re.compile(r"(?i)auth|token|key|cookie|session")
_NOT_SECRET_HEADERS = frozenset({"sec-websocket-key"})

# Secrets anywhere in a text: a query parameter (?name=value, &name=value, ;name=value),
# the credentials after an HTTP authentication scheme, a bearer-style subprotocol offer.
_INLINE = re.compile(
    r"(?P<pstart>[?&;])(?P<param>[^=&;?#\s'\"]+)=[^&;#\s'\"]*"
    r"|(?P<scheme>(?<![\w-])(?i:bearer|basic)[ \t]+)[^\s;,'\"]+"
    r"|(?P<offer>(?<![\w-])(?i:bearer)[._-](?:[^,\s'\"]*\.)?)[^,\s.'\"]+"
)
# ``Name:`` of a header (whose value runs to the end of the line), or a parser error's
# ``header value:`` (whose value runs to a ``;``). A name starts only where a word starts
# (the lookbehind), so no text is scanned twice: linear in the text.
_NAME = re.compile(
    r"(?<![\w-])(?:(?P<quoted>(?i:header (?:value|line)))|(?P<header>[\w-]+))[ \t]*:[ \t]*"
)
_END_OF_LINE = re.compile(r"[\r\n]")
_END_OF_QUOTE = re.compile(r"[;\r\n]")

_MAYBE_SECRET = re.compile(
    r"(?i)token|key|secret|passw|auth|session|signature|sig=|pwd=|cookie|bearer|basic"
    r"|header (?:value|line)"
)


def is_secret_param(name: str) -> bool:
    """Whether the value of the query parameter ``name`` is a secret (see the module)."""
    return _PARAM_NAME.search(name) is not None


def is_secret_header(name: str) -> bool:
    """Whether the value of the header ``name`` is a secret (see the module)."""
    return name.lower() not in _NOT_SECRET_HEADERS and _HEADER_NAME.search(name) is not None


def redact(text: str) -> str:
    """``text`` (a log line, an HTTP head, a URL, an error message) with every secret
    value replaced by ``[redacted]``, by the rule of this module."""
    if not _MAYBE_SECRET.search(text):
        return text
    parts: list[str] = []
    done = 0  # text[:done] is in parts
    for match in _NAME.finditer(text):
        if match.start() < done:
            continue  # inside a value already redacted
        quoted = match.group("quoted") is not None
        if not quoted and not is_secret_header(match.group("header")):
            continue
        end = (_END_OF_QUOTE if quoted else _END_OF_LINE).search(text, match.end())
        parts += [_INLINE.sub(_replace, text[done : match.end()]), REDACTED]
        done = end.start() if end is not None else len(text)
    parts.append(_INLINE.sub(_replace, text[done:]))
    return "".join(parts)


def redact_header(name: str, value: str) -> str:
    """One header's value as it may be shown: ``[redacted]`` for a secret header, a
    subprotocol list without its bearer tokens, else as it is."""
    if is_secret_header(name):
        return REDACTED
    return redact(value)


def _replace(match: re.Match[str]) -> str:
    param = match.group("param")
    if param is not None:
        if not is_secret_param(param):
            return match.group()
        return f"{match.group('pstart')}{param}={REDACTED}"
    if match.group("scheme") is not None:
        return match.group("scheme") + REDACTED
    return match.group("offer") + REDACTED
