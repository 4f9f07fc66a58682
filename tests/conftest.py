"""pytest configuration and fixtures shared by every test folder (helpers live in
tests/support.py; each folder keeps its own helpers beside its tests)."""

from __future__ import annotations

import pytest
import trustme


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """One throwaway certificate authority for every TLS test of a worker."""
    return trustme.CA()
