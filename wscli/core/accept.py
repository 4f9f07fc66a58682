"""The Sec-WebSocket-Key / Sec-WebSocket-Accept pair of RFC 6455 §4 (pure, no I/O).

The accept value itself comes from websockets (:func:`websockets.utils.accept_key`); this
module adds the validation of user-given keys, so a typo is a usage error rather than a
handshake the server rejects for a reason the user cannot see.
"""

from __future__ import annotations

import base64
import binascii

from websockets.utils import accept_key

from wscli.core.errors import UsageProblem

__all__ = ["accept_for", "validate_key"]


def validate_key(key: str, source: str = "--ws-key") -> str:
    """Return ``key`` if it is a valid Sec-WebSocket-Key, else raise :class:`UsageProblem`.

    RFC 6455 §4.1: the key is the base64 encoding of 16 bytes, i.e. 24 characters ending in
    ``==``. Non-canonical encodings are refused too: servers compare the text, not the bytes.
    """
    why = None
    try:
        raw = base64.b64decode(key.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        why = "not valid base64"
    else:
        if len(raw) != 16:
            why = f"decodes to {len(raw)} bytes, not 16"
        elif base64.b64encode(raw).decode() != key:
            why = "not canonical base64"
    if why is not None:
        raise UsageProblem(
            f"invalid Sec-WebSocket-Key {key!r} in {source}",
            why,
            hint="use the base64 encoding of 16 bytes, e.g. dGhlIHNhbXBsZSBub25jZQ==",
        )
    return key


def accept_for(key: str) -> str:
    """The Sec-WebSocket-Accept value a server must answer to ``key`` (base64 SHA-1)."""
    return accept_key(key)
