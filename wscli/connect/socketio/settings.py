"""What `--socketio` and its options ask for (pure data, built from the command line)."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

TransportChoice = Literal["auto", "websocket", "polling"]


@dataclasses.dataclass
class SocketIOOptions:
    """``--socketio``: namespace, event, how lines become arguments, acknowledgements.

    ``ack_timeout_fatal``: an overdue acknowledgement ends the session with exit 6 (the
    pipe); at the prompt it is a visible line and the session goes on.
    ``keep_event_names``: remember the names of received events for ``/emit`` completion
    (the prompt only; a pipe has nothing to complete).
    """

    namespace: str = "/"
    event: str = "message"
    transport: TransportChoice = "auto"
    handshake_auth: dict[str, Any] | None = None  # the CONNECT packet's payload
    raw_strings: bool = False
    spread: bool = False
    ack: bool = False
    ack_timeout: float = 10.0
    ack_reply: list[Any] = dataclasses.field(default_factory=list)
    ack_timeout_fatal: bool = True
    keep_event_names: bool = False
