"""Fixtures of the tests of `wscli serve`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.serve.chat_page_support import chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium for the chat page tests of a module (not longer: see
    chat_page_support.chromium); each test opens its pages in contexts of its own."""
    with chromium() as launched:
        yield launched
