"""wscli.core.redact: the one rule that keeps secrets out of logs and views (data in, exact
text out), and properties for any text a peer may send (Hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support import growth
from wscli.core.redact import is_secret_header, is_secret_param, redact, redact_header


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "GET /v?access_token=a&API_KEY=b&room=ok HTTP/1.1",
            "GET /v?access_token=[redacted]&API_KEY=[redacted]&room=ok HTTP/1.1",
        ),
        (
            "ws://h/x?X-Amz-Signature=a;sig=b&design=c",
            "ws://h/x?X-Amz-Signature=[redacted];sig=[redacted]&design=c",
        ),
        (
            "?client_secret=a&password=b&passwd=c&pwd=d&sessionid=e",
            "?client_secret=[redacted]&password=[redacted]&passwd=[redacted]&pwd=[redacted]&sessionid=[redacted]",
        ),
        (
            "X-Api-Key: a\r\nX-Auth-Token: b\r\nHost: h\r\n",
            "X-Api-Key: [redacted]\r\nX-Auth-Token: [redacted]\r\nHost: h\r\n",
        ),
        (
            "Cookie: a=b; c=d\nSet-Cookie: s=1; HttpOnly",
            "Cookie: [redacted]\nSet-Cookie: [redacted]",
        ),
        (
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ),
        (
            "Sec-WebSocket-Protocol: x.bearer.authorization.k8s.io.dG9rZW4, b.k8s.io",
            "Sec-WebSocket-Protocol: x.bearer.authorization.k8s.io.[redacted], b.k8s.io",
        ),
        ("invalid HTTP header line: X-Token: a", "invalid HTTP header line: [redacted]"),
        (
            "invalid HTTP header value: a; then more",
            "invalid HTTP header value: [redacted]; then more",
        ),
        (
            "bad handshake: Authorization: Basic dXNlcjpwdw==",
            "bad handshake: Authorization: [redacted]",
        ),
        ("the proxy said Bearer abc, then", "the proxy said Bearer [redacted], then"),
        ("Referer: http://h/?token=a&b=1", "Referer: http://h/?token=[redacted]&b=1"),
        ("nothing secret: here", "nothing secret: here"),
    ],
)
def test_examples(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_names() -> None:
    assert is_secret_param("access_token") and is_secret_param("ApiKey") and is_secret_param("sig")
    assert not is_secret_param("design") and not is_secret_param("room")
    assert is_secret_header("X-Session-Id") and is_secret_header("proxy-authorization")
    assert not is_secret_header("Sec-WebSocket-Key") and not is_secret_header("Host")
    assert redact_header("X-Api-Key", "a") == "[redacted]"
    assert redact_header("Sec-WebSocket-Protocol", "bearer.x.y, v1") == "bearer.x.[redacted], v1"
    assert redact_header("User-Agent", "curl/8") == "curl/8"


SECRET = st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=20).map(
    lambda s: "S3CRET" + s
)
PARAM = st.sampled_from(["token", "access_token", "API_KEY", "client_secret", "sig", "Session"])
HEADER = st.sampled_from(["Authorization", "X-Api-Key", "X-Auth-Token", "Cookie", "Set-Cookie"])
NOISE = st.text(max_size=40).filter(lambda s: "S3CRET" not in s)


@given(NOISE, PARAM, SECRET, NOISE, HEADER, SECRET, NOISE, SECRET)
def test_secrets_in_any_surrounding_text_are_gone(
    before: str,
    param: str,
    value: str,
    between: str,
    header: str,
    hvalue: str,
    after: str,
    token: str,
) -> None:
    line = f"{before} GET /x?a=1&{param}={value} HTTP/1.1\r\n{header}: {hvalue}\r\n{between}"
    line += (
        f"\r\nSec-WebSocket-Protocol: v1, base64url.bearer.authorization.k8s.io.{token}\r\n{after}"
    )
    assert "S3CRET" not in redact(line)


@given(st.text(max_size=300))
def test_any_text_is_redacted_without_error_and_bounded(text: str) -> None:
    shown = redact(text)
    assert len(shown) <= 5 * len(text) + 10
    assert redact(shown) == shown  # what is shown has nothing left to hide


@pytest.mark.parametrize(
    "unit",
    [
        "a" * 7 + "-",  # one long word: header-name candidates
        "key:",  # many header names, each a secret
        "x: ",
        "?token",  # parameters without a value
        ".bearer.",  # bearer offers
        "bearer ",
        "header value:",
        "&&=;",
    ],
)
def test_redaction_is_linear_in_the_texts_length(unit: str) -> None:
    assert growth(lambda n: redact(unit * n), 2000) < 24  # 8 when linear; 64 when quadratic
