from __future__ import annotations

from pathlib import Path

import pytest

from wscli.core.errors import UsageProblem
from wscli.core.headers import parse_header, parse_header_args


def test_parse_header() -> None:
    assert parse_header("X-Token:  abc ") == ("X-Token", "abc")
    assert parse_header("Empty:") == ("Empty", "")


@pytest.mark.parametrize("bad", ["no colon", "Bad Name: x", ": x"])
def test_bad_header(bad: str) -> None:
    with pytest.raises(UsageProblem):
        parse_header(bad)


def test_file_and_env_forms(tmp_path: Path) -> None:
    path = tmp_path / "h.txt"
    path.write_text("# secrets\nAuthorization: Bearer s3cret\n\nX-A: 1\n")
    headers = parse_header_args(
        ["X-First: 0", f"@{path}", "env:MY_HEADERS"], {"MY_HEADERS": "X-Env: e"}
    )
    assert headers == [
        ("X-First", "0"),
        ("Authorization", "Bearer s3cret"),
        ("X-A", "1"),
        ("X-Env", "e"),
    ]


def test_missing_file_and_variable(tmp_path: Path) -> None:
    with pytest.raises(UsageProblem, match="cannot read header file"):
        parse_header_args([f"@{tmp_path}/nope"], {})
    with pytest.raises(UsageProblem, match="'NOPE' is not set"):
        parse_header_args(["env:NOPE"], {})


def test_connection_options_are_the_header_names_it_lists() -> None:
    from wscli.core.headers import connection_options

    assert connection_options(["Upgrade, X-Hop", " keep-alive ,,", "bad name, Close"]) == {
        "upgrade",
        "x-hop",
        "keep-alive",
        "close",
    }
    assert connection_options([]) == set()
