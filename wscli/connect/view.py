"""What the prompt shows of received messages: ``/filter REGEX`` shows only those that
match, ``/mute REGEX`` hides those that match (heartbeats scrolling replies away), as
devtools' filter does; the toolbar says a filter is on and how many were hidden (pure).

A message is matched as a pipe would write it: its text, ``NAME: [args]`` for a Socket.IO
event, base64 for binary. The regular expression is the user's, the text the server's: only
its first :data:`MATCH_LIMIT` characters are searched, so a huge message cannot make one
search slow.
"""

from __future__ import annotations

import base64
import dataclasses
import re

from wscli.connect.render import socketio_head
from wscli.core.escape import escape_control
from wscli.core.events import Message
from wscli.core.ndjson import to_json

MATCH_LIMIT = 64 * 1024
"""Characters of a message searched by /filter and /mute."""


class BadPattern(ValueError):
    """A /filter or /mute argument that is not a regular expression."""


def compile_pattern(pattern: str, command: str) -> re.Pattern[str]:
    """``pattern`` compiled; :class:`BadPattern` saying why when it is not a valid one."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise BadPattern(f"{command}: invalid regular expression: {exc}") from None


def match_text(message: Message) -> str:
    """The text /filter and /mute search, at most :data:`MATCH_LIMIT` characters."""
    head = socketio_head(message)
    if head is not None:
        return f"{head}: {to_json(list(message.args))}"[:MATCH_LIMIT]
    if isinstance(message.data, bytes):
        return base64.b64encode(message.data[: MATCH_LIMIT // 4 * 3]).decode("ascii")
    return message.data[:MATCH_LIMIT]


@dataclasses.dataclass
class View:
    """The prompt's view of received messages; sent ones and status lines always show."""

    only: re.Pattern[str] | None = None
    """/filter: show only received messages this matches."""
    mute: re.Pattern[str] | None = None
    """/mute: hide received messages this matches."""
    hidden: int = 0
    """Received messages not shown since the filter or mute was last set."""

    def set_filter(self, pattern: str) -> str:
        """``/filter [REGEX]`` (empty: off); what to tell the user."""
        self.only = compile_pattern(pattern, "/filter") if pattern else None
        self.hidden = 0
        if self.only is None:
            return "filter off: every received message is shown"
        return f"showing only received messages matching /{pattern}/ (/filter alone: all)"

    def set_mute(self, pattern: str) -> str:
        """``/mute [REGEX]`` (empty: off); what to tell the user."""
        self.mute = compile_pattern(pattern, "/mute") if pattern else None
        self.hidden = 0
        if self.mute is None:
            return "mute off"
        return f"hiding received messages matching /{pattern}/ (/mute alone: none)"

    def shows(self, message: Message) -> bool:
        """Whether ``message`` is shown; a hidden one is counted."""
        if message.direction != "in" or (self.only is None and self.mute is None):
            return True
        text = match_text(message)
        shown = (self.only is None or self.only.search(text) is not None) and (
            self.mute is None or self.mute.search(text) is None
        )
        if not shown:
            self.hidden += 1
        return shown

    def toolbar(self) -> str | None:
        """The toolbar field while a filter or mute is on (``filter /pong/, 12 hidden``)."""
        parts = []
        if self.only is not None:
            parts.append(f"filter /{self.only.pattern}/")
        if self.mute is not None:
            parts.append(f"mute /{self.mute.pattern}/")
        if not parts:
            return None
        return escape_control(", ".join(parts) + f", {self.hidden} hidden", keep_newlines=False)
