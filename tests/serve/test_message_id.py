"""Message ids for resume (wscli/serve/message_id.py): pure, data in, exact answers out."""

from __future__ import annotations

import pytest

from wscli.serve.message_id import clean_since, local_id, position, resume_start

EPOCH = "5f3a9c01d2e4"
OTHER = "0123456789ab"


def test_ids_are_made_and_read_back() -> None:
    assert local_id(EPOCH, 17) == "5f3a9c01d2e4.17"
    assert position("5f3a9c01d2e4.17") == (EPOCH, 17)


@pytest.mark.parametrize(
    "hostile",
    ["", "x", "1-2", "1-2.3", "1.2.3", "ABC.1", "-1.2", "1.2\n", "<b>.1", "9" * 70 + ".1", "a.1 "],
)
def test_hostile_since_is_unknown(hostile: str) -> None:
    assert position(hostile) is None
    assert clean_since(hostile) == ""  # resuming from an unknown point, nothing echoed
    assert resume_start([local_id(EPOCH, 1)], hostile, EPOCH, False) is None


def test_since_absent_or_well_formed() -> None:
    assert clean_since(None) is None
    assert clean_since("5f3a9c01d2e4.3") == "5f3a9c01d2e4.3"


def test_a_since_that_is_kept_starts_the_gap_after_it_whatever_its_origin() -> None:
    """Ids of several instances interleave in a shared room: they are looked up."""
    ids = [local_id(EPOCH, 3), local_id(OTHER, 90), local_id(EPOCH, 4), local_id(OTHER, 2)]
    assert resume_start(ids, local_id(OTHER, 90), None, True) == 2
    assert resume_start(ids, local_id(OTHER, 2), None, True) == 4  # nothing missed
    # Not kept, and ids of many origins do not compare: the kept ids do not hold the gap.
    assert resume_start(ids, local_id(OTHER, 91), None, False) is None
    assert resume_start(ids, local_id(EPOCH, 5), None, False) is None


def test_one_instance_places_its_own_ids_by_comparison() -> None:
    ids = [local_id(EPOCH, n) for n in (3, 4, 7, 8)]
    assert resume_start(ids, local_id(EPOCH, 4), EPOCH, True) == 2
    # The last id seen was a notice (not kept in history): compared, not looked up.
    assert resume_start(ids, local_id(EPOCH, 5), EPOCH, True) == 2
    assert resume_start(ids, local_id(EPOCH, 99), EPOCH, True) == 4
    assert resume_start([], local_id(EPOCH, 99), EPOCH, False) == 0


def test_too_old_or_another_epoch_is_not_known() -> None:
    ids = [local_id(EPOCH, n) for n in (3, 4)]
    # Older than the oldest kept: everything kept is missed; known only if nothing dropped.
    assert resume_start(ids, local_id(EPOCH, 1), EPOCH, True) is None
    assert resume_start(ids, local_id(EPOCH, 1), EPOCH, False) == 0
    # A restart without Redis: the old epoch's ids mean nothing now.
    assert resume_start(ids, local_id(OTHER, 3), EPOCH, False) is None
    # Kept ids of another origin in a one-instance history: no comparison.
    assert resume_start([local_id(OTHER, 1)], local_id(EPOCH, 1), EPOCH, False) is None
