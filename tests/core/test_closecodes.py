"""Close codes: names, the description used in status lines and errors, what may be sent."""

from __future__ import annotations

from wscli.core.closecodes import close_description, close_problem


def test_close_description() -> None:
    assert close_description(1000, "") == "1000 (normal closure)"
    assert close_description(4001, "bye\n\x1b") == "4001 (private use) 'bye\\n\\e'"
    assert close_description(3000, "") == "3000 (registered)"
    assert close_description(1016, "") == "1016 (unknown)"
    assert close_description(None, "") == "no close frame (connection dropped)"
    assert close_description(1006, "") == "no close frame (connection dropped)"


def test_close_problem() -> None:
    assert close_problem(1000, "bye") is None
    assert close_problem(4999, "") is None
    assert close_problem(1006, "") == (
        "close code 1006 cannot be sent (use 1000-1003, 1007-1014 or 3000-4999)"
    )
    assert close_problem(1000, "x" * 124) == "close reason is limited to 123 bytes (UTF-8)"
    assert close_problem(1000, "\udcff") == "close reason is not valid UTF-8"
