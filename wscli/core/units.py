"""Values with units as the command line writes them: sizes (``64K``), durations (``80ms``)
and rates (``2%``). Each parser raises ValueError with the reason for text it cannot read,
so every front end (click's types, tests) reads them the same way."""

from __future__ import annotations

import re

_BINARY_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}
_SIZE = re.compile(r"(?i)\s*(\d+)\s*(k|m|g)?i?b?\s*")
_DURATION = re.compile(r"(?i)\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*")
_SECONDS = {"ms": 0.001, "s": 1.0, "": 1.0, "m": 60.0, "h": 3600.0}


def parse_size(text: str) -> int:
    """``1048576``, ``64K``, ``1M``, ``4MiB`` (binary multiples) as a number of bytes."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size like 1048576, 64K or 1M")
    return int(match[1]) * _BINARY_UNITS[(match[2] or "").lower()]


def format_size(size: int) -> str:
    """``size`` as the command line writes it: ``1M`` for 1048576, ``1000`` for 1000."""
    for unit in ("G", "M", "K"):
        factor = _BINARY_UNITS[unit.lower()]
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def parse_duration(text: str) -> float:
    """``80ms``, ``1.5s``, ``2m``, ``1h`` or plain seconds (``0.25``) as seconds."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError("expected a duration like 80ms, 1.5s or 2m")
    return float(match[1]) * _SECONDS[(match[2] or "").lower()]


def parse_rate(text: str) -> float:
    """A probability: ``0.02`` or ``2%``, between 0 and 1."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError("expected a rate like 0.02 or 2%") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError("a rate is between 0 and 1")
    return value
