"""pytest configuration and fixtures shared by every test folder (helpers live in
tests/support.py; each folder keeps its own helpers beside its tests)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

# wscli remembers the URLs it opened and the prompt's history under XDG_STATE_HOME. Before
# any test runs (session fixtures start servers and clients too), point it away from the
# tester's own; each test then gets a folder of its own (state_home below).
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="wscli-test-state-")


@pytest.fixture(autouse=True)
def state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test's own XDG_STATE_HOME, in this process and in every wscli it starts
    (``support.clean_env`` copies it): a test never writes into the tester's URL history,
    and no test sees another's."""
    path = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_STATE_HOME", str(path))
        yield path


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """One throwaway certificate authority for every TLS test of a worker."""
    return trustme.CA()
