"""The websockets ``ServerProtocol`` of each `wscli serve` connection, made with the
server's settings (public constructor parameters only): ``--max-size``, the subprotocols
(``--subprotocol``, ``--require-subprotocol`` and the page's ``wscli.chat.v1``),
``--compression``, and the library's own warnings routed to the event log, one line each.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from websockets.exceptions import NegotiationError
from websockets.extensions import ServerExtensionFactory
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import LoggerLike, Subprotocol

from wscli.core.upgrade import UpgradeError
from wscli.serve.config import ServeConfig
from wscli.serve.envelope import SUBPROTOCOL
from wscli.serve.log import EventLog


class ServerProtocols:
    """Makes each connection's ``ServerProtocol``: one for the handshake (subprotocol and
    extension negotiation), or one already open (a connection whose handshake was done
    elsewhere, e.g. a Socket.IO upgrade)."""

    def __init__(self, config: ServeConfig, log: EventLog) -> None:
        self.max_size = config.max_size
        self.subprotocols = (*config.subprotocols, SUBPROTOCOL)
        self._logger = logging.getLogger(f"wscli.serve.{id(self)}")
        self._logger.propagate = False
        self._logger.setLevel(logging.WARNING)
        self._logger.addHandler(_OneLineLogHandler(log))
        self._extensions = (
            [
                ServerPerMessageDeflateFactory(
                    server_max_window_bits=12, compress_settings={"memLevel": 5}
                )
            ]
            if config.compression
            else None
        )
        self._select = _subprotocol_selector(self.subprotocols, config.require_subprotocol)

    def for_handshake(self) -> ServerProtocol:
        return make_protocol(
            max_size=self.max_size,
            logger=self._logger,
            subprotocols=self.subprotocols,
            select=self._select,
            extensions=self._extensions,
        )

    def when_open(self) -> ServerProtocol:
        return make_protocol(
            max_size=self.max_size,
            logger=self._logger,
            subprotocols=(),
            select=None,
            extensions=None,
            state=State.OPEN,
        )

    def select_subprotocol(self, offered: Sequence[str]) -> str | None:
        """The subprotocol chosen from ``offered``; a required one missing is a 400."""
        try:
            return self._select(None, offered)  # type: ignore[no-any-return]
        except NegotiationError as exc:
            raise UpgradeError(400, str(exc)) from None


class _OneLineLogHandler(logging.Handler):
    """Routes the websockets library's warnings/errors to the event log: one line each."""

    def __init__(self, log: EventLog) -> None:
        super().__init__(logging.WARNING)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text = f"{text}: {type(exc).__name__}: {exc}"
        self.log.emit("error", remote=None, message=text)


def make_protocol(
    *,
    max_size: int,
    logger: LoggerLike,
    subprotocols: Sequence[str],
    select: object | None,
    extensions: Sequence[ServerExtensionFactory] | None,
    state: State = State.CONNECTING,
) -> ServerProtocol:
    """A ``ServerProtocol`` with the server's settings (all public constructor parameters)."""
    return ServerProtocol(
        subprotocols=[Subprotocol(name) for name in subprotocols] or None,
        select_subprotocol=select,  # type: ignore[arg-type]
        extensions=extensions,
        max_size=max_size,
        logger=logger,
        state=state,
    )


def _subprotocol_selector(supported: Sequence[str], required: bool) -> Any:
    """``select_subprotocol`` for the ServerProtocol: the first of the client's offers that
    is supported; none: refuse (400) when required, else no subprotocol."""

    def select(protocol: ServerProtocol, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        for name in offered:
            if name in supported:
                return name
        if required:
            raise NegotiationError(
                "no supported subprotocol offered (supported: " + ", ".join(supported) + ")"
            )
        return None

    return select
