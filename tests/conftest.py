"""pytest configuration and fixtures shared by every test folder (helpers live in
tests/support.py; each folder keeps its own helpers beside its tests)."""

from __future__ import annotations

import os

import pytest
import trustme
from hypothesis import settings

# Property-based tests: a modest number of examples per test in the default run; a
# nightly-style run sets WSCLI_HYPOTHESIS_PROFILE=nightly for many more. No per-example
# deadline: time is checked by size ratios (tests/linear.py), never by the wall clock (an
# example took 296 ms against Hypothesis's default 200 ms at load 18).
settings.register_profile("default", max_examples=60, deadline=None)
settings.register_profile("nightly", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("WSCLI_HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """One throwaway certificate authority for every TLS test of a worker."""
    return trustme.CA()
