"""Fixtures of the tests of `wscli serve`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.serve.chat_page_support import chromium


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for every chat page test of a worker (launching one took 1-3 s
    at load 7); each test opens its pages in contexts of its own (open_page), which share
    no storage, cookies or clock."""
    with chromium() as launched:
        yield launched
