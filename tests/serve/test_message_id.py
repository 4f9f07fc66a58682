"""Message ids for resume (wscli/serve/message_id.py): pure, data in, exact answers out."""

from __future__ import annotations

import pytest

from wscli.serve.message_id import (
    clean_since,
    is_after,
    local_id,
    position,
    resume_from,
    stream_id,
)

EPOCH = "5f3a9c01d2e4"


def test_ids_are_made_and_read_back() -> None:
    assert local_id(EPOCH, 17) == "5f3a9c01d2e4.17"
    assert stream_id((1764480000000, 2), 3) == "1764480000000-2.3"
    assert position("5f3a9c01d2e4.17") == (EPOCH, (17,))
    assert position("1764480000000-2.3") == ("stream", (1764480000000, 2, 3))


def test_ids_compare_numerically_within_one_origin_only() -> None:
    here = position(local_id(EPOCH, 9))
    assert here is not None
    assert is_after(local_id(EPOCH, 10), here) is True  # 10 > 9, not "10" < "9"
    assert is_after(local_id(EPOCH, 9), here) is False
    assert is_after(local_id("aaaaaaaaaaaa", 10), here) is None  # another epoch
    assert is_after(stream_id((1, 0), 0), here) is None  # another kind
    entry = position(stream_id((1764480000000, 0), 1))
    assert entry is not None
    assert is_after(stream_id((1764480000000, 0), 2), entry) is True  # later in the batch
    assert is_after(stream_id((1764480000000, 1), 0), entry) is True  # a later entry
    assert is_after(stream_id((1764479999999, 9), 9), entry) is False


@pytest.mark.parametrize(
    "hostile",
    ["", "x", "1-2", "1-2.3.4", "ABC.1", "-1.2", "1.2\n", "<b>.1", "9" * 70 + ".1", "1-2.3 "],
)
def test_hostile_since_is_unknown(hostile: str) -> None:
    assert position(hostile) is None
    assert clean_since(hostile) == ""  # resuming from an unknown point, nothing echoed
    assert resume_from([local_id(EPOCH, 1)], hostile, (EPOCH,), False) == (0, False)


def test_since_absent_or_well_formed() -> None:
    assert clean_since(None) is None
    assert clean_since("1764480000000-2.3") == "1764480000000-2.3"


def test_resume_replays_exactly_the_gap() -> None:
    ids = [local_id(EPOCH, n) for n in (3, 4, 7, 8)]
    origins = (EPOCH, "stream")
    assert resume_from(ids, local_id(EPOCH, 4), origins, True) == (2, True)
    # The last id seen was a notice (not kept in history): compared, not looked up.
    assert resume_from(ids, local_id(EPOCH, 5), origins, True) == (2, True)
    assert resume_from(ids, local_id(EPOCH, 8), origins, True) == (4, True)  # nothing missed
    assert resume_from(ids, local_id(EPOCH, 99), origins, True) == (4, True)


def test_resume_from_too_old_or_another_epoch_replays_everything() -> None:
    ids = [local_id(EPOCH, n) for n in (3, 4)]
    # Older than the oldest kept: everything kept is missed; complete only if nothing dropped.
    assert resume_from(ids, local_id(EPOCH, 1), (EPOCH,), True) == (0, False)
    assert resume_from(ids, local_id(EPOCH, 1), (EPOCH,), False) == (0, True)
    # A restart without Redis: the old epoch's ids mean nothing now.
    assert resume_from(ids, local_id("0123456789ab", 3), (EPOCH,), False) == (0, False)
    # Redis history is a window of the stream: older than it is never known complete.
    stream = [stream_id((5, 0), 0), stream_id((6, 0), 0)]
    assert resume_from(stream, stream_id((4, 0), 0), ("stream",), False) == (0, False)
    assert resume_from(stream, stream_id((5, 0), 0), ("stream",), False) == (1, True)
