"""The event model of `wscli connect --json`: it lives in :mod:`wscli.core.events`, shared with
`wscli proxy`; re-exported here for the connect modules."""

from __future__ import annotations

from wscli.core.events import (
    ClosedBy,
    Direction,
    FrameKind,
    Message,
    close_event,
    error_event,
    message_event,
    open_event,
    ping_event,
    reconnect_event,
    redirect_event,
)
from wscli.core.ndjson import timestamp

__all__ = [
    "ClosedBy",
    "Direction",
    "FrameKind",
    "Message",
    "close_event",
    "error_event",
    "message_event",
    "open_event",
    "ping_event",
    "reconnect_event",
    "redirect_event",
    "timestamp",
]
