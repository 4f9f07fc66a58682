"""Fixtures of the tests of `wscli serve`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.serve.chat_page_support import chromium


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """The worker's one headless Chromium (chat_page_support.chromium) for the chat page
    tests; each test opens its pages in contexts of its own (open_page)."""
    with chromium() as launched:
        yield launched
