"""Sec-WebSocket-Key validation and the accept value (pure)."""

from __future__ import annotations

import pytest

from wscli.core.accept import accept_for, validate_key
from wscli.core.errors import UsageProblem
from wscli.core.exitcodes import ExitCode


def test_accept_values_from_the_rfc_and_the_issue() -> None:
    assert accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert accept_for("x3JJHMbDL1EzLkh9GBhXDw==") == "HSmrc0sMlYUkAGmm5OPpG2HaGWk="


def test_valid_key_is_returned() -> None:
    assert validate_key("dGhlIHNhbXBsZSBub25jZQ==") == "dGhlIHNhbXBsZSBub25jZQ=="


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("abc", "not valid base64"),
        ("not base64 at all!!!!!!=", "not valid base64"),
        ("aGVsbG8=", "decodes to 5 bytes, not 16"),
        ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "decodes to 24 bytes, not 16"),
        ("dGhlIHNhbXBsZSBub25jZR==", "not canonical base64"),
        ("dGhlIHNhbXBsZSBub25jZQé=", "not valid base64"),
    ],
)
def test_invalid_keys_are_usage_problems(key: str, why: str) -> None:
    with pytest.raises(UsageProblem) as info:
        validate_key(key, "--key")
    assert info.value.exit_code == ExitCode.USAGE
    assert info.value.what == f"invalid Sec-WebSocket-Key {key!r} in --key"
    assert info.value.why == why
    assert info.value.hint is not None and "16 bytes" in info.value.hint
