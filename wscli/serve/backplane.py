"""The seam between the hub and what carries messages between `wscli serve` instances.

A :class:`Backplane` takes what the hub publishes and calls the hub (its
:class:`Receiver`) back with what reached this instance, in the broker's order. The
default :class:`LocalBackplane` is one instance alone; :mod:`wscli.serve.backplane_redis`
shares rooms through Redis Streams.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from wscli.serve.room_message import RoomMessage

Deliver = Callable[[str, RoomMessage, "str | None"], None]


class Receiver(Protocol):
    """What a backplane calls back (the :class:`Hub`)."""

    def deliver_local(self, room: str, message: RoomMessage, sender: str | None) -> None:
        """``message`` reached this instance: queue it for the room's clients here."""
        ...

    def deliver_many(self, room: str, messages: list[tuple[RoomMessage, str | None]]) -> None:
        """:meth:`deliver_local` for each of ``messages`` (with their senders), in order."""
        ...

    def history_loaded(self, room: str, messages: list[RoomMessage], complete: bool) -> None:
        """The shared history of ``room`` (oldest first), promised by ``subscribe``;
        ``complete`` False when older messages exist that were not loaded (or could not
        be read at all)."""
        ...

    def gap_loaded(self, room: str, since: str, messages: list[RoomMessage] | None) -> None:
        """What followed the message ``since`` in ``room`` (promised by ``resume``), or None
        when that message was not found within the shared store's bounds."""
        ...

    def reordered(self, room: str) -> None:
        """Messages of ``room`` were delivered here before they reached the shared order
        (an outage): this instance's order differs from the others' for them."""
        ...

    def lost(self, room: str, count: int) -> None:
        """``count`` messages of ``room`` never reached this instance (the shared store lost
        or trimmed them): its clients are told some may be missing."""
        ...


class Backplane(Protocol):
    """Carries published messages to every hub instance (including the publishing one).

    ``publish`` must not block: a remote backplane queues the message and calls
    :meth:`Receiver.deliver_local` when the message comes back, in the broker's order.
    """

    async def start(self, receiver: Receiver) -> None: ...

    def publish(self, room: str, message: RoomMessage, sender: str | None) -> None: ...

    def subscribe(self, room: str) -> bool:
        """``room`` got its first client here: carry its messages to this instance from now.

        True when the backplane supplies the room's history itself: it then calls
        :meth:`Receiver.history_loaded` before delivering any newer message of the room,
        and the hub holds the room's clients until then.
        """
        ...

    def unsubscribe(self, room: str) -> None:
        """``room`` lost its last client here: its messages need not come here any more."""
        ...

    def resume(self, room: str, since: str) -> bool:
        """Look for what followed ``since`` in the shared store of ``room``; True when it
        will answer through :meth:`Receiver.gap_loaded` (False: it cannot)."""
        ...

    async def drain(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until every published message has been delivered
        through ``deliver``; False when the time ran out (before a graceful shutdown)."""
        ...

    async def close(self) -> None: ...

    def describe(self) -> dict[str, object]:
        """For /healthz: ``kind`` ("local", "redis", ...) and whatever tells its health."""
        ...


class LocalBackplane:
    """A single instance: deliver every message at once."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def start(self, receiver: Receiver) -> None:
        self._deliver = receiver.deliver_local

    def publish(self, room: str, message: RoomMessage, sender: str | None) -> None:
        assert self._deliver is not None, "backplane not started"
        self._deliver(room, message, sender)

    def subscribe(self, room: str) -> bool:
        return False

    def unsubscribe(self, room: str) -> None:
        pass

    def resume(self, room: str, since: str) -> bool:
        return False

    async def drain(self, timeout: float) -> bool:
        return True

    async def close(self) -> None:
        self._deliver = None

    def describe(self) -> dict[str, object]:
        return {"kind": "local"}
