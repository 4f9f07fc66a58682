"""The byte layer of the connection engine: one TCP (or TLS) stream, what is queued for its
peer, and reading paused for the reasons that hold it.

:class:`Stream` owns the transport's flow control both ways and the **byte budget**:
everything queued for the peer — the transport's buffer and what a relay holds for it
(:meth:`Stream.reserve`) — counts against ``Settings.limit``. Past it, the owner hears it
once (:meth:`~wscli.wire.owner.Owner.over_budget`); a peer that reads none of its own
backlog (the transport's buffer alone over the limit) stops being read, and is dropped
(aborted, its buffer freed at once) if it stays so past ``Settings.stall_timeout``.
:class:`~wscli.wire.engine.Engine` is the WebSocket layer on top.

One deadline at a time (:meth:`Stream.set_deadline`): a handshake's, a close's or a stall's;
none while idle, so an idle connection holds no timer.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from wscli.wire.owner import Owner, Settings

# Reasons to pause reading (bits of Stream.flags): reading resumes when none is left.
HOLD_HANDSHAKE = 1
"""The server's decision on the upgrade is pending: no frame may be read before it."""
HOLD_BUDGET = 2
"""What is queued for this peer passed the byte budget, and the peer reads none of it."""
HOLD_PEER = 4
"""The other side of a relay cannot take more."""
HOLD_CONSUMER = 8
"""The consumer of the messages (a queue, stdout) is full."""
HOLD_OWNER = 16
"""The owner's own reason (a backplane behind, a shutdown)."""
HOLD_QUEUE = 32
"""A relay holds too much for the other side (frames it delays)."""
HOLDS = 63
"""Every reason to pause reading."""
# State bits of Stream.flags (the engine adds its own above these).
WRITE_PAUSED = 64
"""The transport's buffer passed its high-water mark."""
LOST = 128
"""The TCP connection is gone."""
STALLED = 256
"""Dropped: the peer read nothing of its backlog within the deadline."""
OVER = 512
"""What is queued passed the budget: the owner was told."""
STALL_DEADLINE = 1024
"""The deadline armed is the stall's (cleared when the peer reads again)."""


class Stream(asyncio.Protocol):
    """The transport of one connection, its budget and its flow control."""

    __slots__ = (
        "_timer",
        "bytes_in",
        "bytes_out",
        "flags",
        "owner",
        "reserved",
        "settings",
        "transport",
    )

    def __init__(self, owner: Owner[Any], settings: Settings) -> None:
        self.owner = owner
        self.settings = settings
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.flags = 0
        self.reserved = 0
        """Bytes a relay holds for this peer (delayed frames): part of the budget."""
        self.bytes_in = 0
        self.bytes_out = 0
        self._timer: asyncio.TimerHandle | None = None

    @property
    def lost(self) -> bool:
        """True once the TCP connection is gone."""
        return bool(self.flags & LOST)

    @property
    def stalled(self) -> bool:
        """True if dropped because the peer read nothing within the budget's deadline."""
        return bool(self.flags & STALLED)

    def queued(self) -> int:
        """Bytes queued for the peer: the transport's buffer plus what a relay holds."""
        transport = self.transport
        buffered = transport.get_write_buffer_size() if transport is not None else 0
        return buffered + self.reserved

    def abort(self) -> None:
        """Drop the TCP connection now (the peer sees no close frame: 1006)."""
        self.clear_deadline()
        if self.transport is not None and not self.flags & LOST:
            self.transport.abort()

    # Flow control

    def hold(self, reason: int) -> None:
        """Stop reading for ``reason`` (a HOLD_* bit; other reasons may hold it too)."""
        flags = self.flags
        if not flags & (HOLDS | LOST) and self.transport is not None:
            self.transport.pause_reading()
        self.flags = flags | reason

    def release(self, reason: int) -> None:
        """Drop ``reason``; reading resumes when no reason is left."""
        flags = self.flags
        if not flags & reason:
            return
        flags &= ~reason
        self.flags = flags
        transport = self.transport
        if not flags & (HOLDS | LOST) and transport is not None and not transport.is_closing():
            transport.resume_reading()

    def reserve(self, size: int) -> None:
        """A relay holds ``size`` more bytes for this peer (they count in the budget)."""
        self.reserved += size
        self._check_budget()

    def unreserve(self, size: int) -> None:
        """A relay gave up (or sent) ``size`` bytes it held for this peer."""
        self.reserved -= size
        self._check_drained()

    def set_deadline(self, delay: float, callback: object) -> None:
        """Call ``callback`` after ``delay`` seconds (one deadline at a time: it replaces
        the previous one)."""
        if self._timer is not None:
            self._timer.cancel()
        self.flags &= ~STALL_DEADLINE
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(delay, callback)  # type: ignore[arg-type]

    def clear_deadline(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flags &= ~STALL_DEADLINE

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        high = self.settings.high_water
        if high is None and self.settings.limit < 65536:
            high = self.settings.limit  # so that a backlog past the limit is reported
        if high is not None:
            self.transport.set_write_buffer_limits(high=high)
        if self.flags & HOLDS:
            self.transport.pause_reading()

    def pause_writing(self) -> None:
        self.flags |= WRITE_PAUSED
        self.owner.writable(self, False)

    def resume_writing(self) -> None:
        self.flags &= ~WRITE_PAUSED
        self._check_drained()
        self.owner.writable(self, True)

    def connection_lost(self, exc: Exception | None) -> None:
        self.flags |= LOST
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # Writing

    def write_chunks(self, chunks: list[bytes]) -> None:
        """Write what a protocol gave to send, in one write; an empty chunk (the end of
        the stream) half-closes the socket (or closes it, over TLS)."""
        if not chunks or self.transport is None or self.flags & LOST:
            return  # nowhere to go
        pending: list[bytes] = []
        for chunk in chunks:
            if chunk:
                pending.append(chunk)
                continue
            self._write(pending)
            pending = []
            self._end_of_stream()
        if pending:
            self._write(pending)

    def _write(self, chunks: list[bytes]) -> None:
        """Write ``chunks`` (whole frames) in one write, or two when the frame that would
        pass the budget comes between them: the owner hears of it then, with what was
        queued before it (at most the limit), and may drop the connection before the rest
        (`serve` does). Then the budget is checked on what is really queued."""
        transport = self.transport
        if not chunks or transport.is_closing():
            return
        total = transport.get_write_buffer_size() + self.reserved
        limit = self.settings.limit
        cut = len(chunks)
        for index, chunk in enumerate(chunks):
            if total and total + len(chunk) > limit:
                cut = index
                break
            total += len(chunk)
        if cut:
            transport.write(chunks[0] if cut == 1 else b"".join(chunks[:cut]))
        told = cut < len(chunks)
        if told:
            self.flags |= OVER
            self.owner.over_budget(self, total)
            if transport.is_closing():
                return
            transport.write(b"".join(chunks[cut:]))
        self._check_budget(told)

    def _end_of_stream(self) -> None:
        # The end of the closing handshake (or a failure): half-close when possible and drop
        # what the peer still sends until it closes too (bounded by close_timeout): closing
        # with unread input would reset the connection and could destroy the close frame.
        transport = self.transport
        if transport.is_closing():
            return
        if transport.can_write_eof():
            transport.write_eof()
            if self._timer is None:
                self.set_deadline(self.settings.close_timeout, self.abort)
        else:
            transport.close()

    # The budget

    def _check_budget(self, told: bool = False) -> None:
        """Past the limit, the owner hears it once (unless ``told``); a peer that reads
        none of its backlog (the transport's buffer alone over the limit) stops being
        read, and is dropped if it stays so past the deadline."""
        flags = self.flags
        transport = self.transport
        if flags & LOST or transport.is_closing():
            return
        buffered = transport.get_write_buffer_size()
        queued = buffered + self.reserved
        limit = self.settings.limit
        if queued <= limit:
            if flags & OVER and queued <= limit // 2:
                self.flags = flags & ~OVER
            return
        if not flags & OVER:
            self.flags = flags | OVER
            if not told:
                self.owner.over_budget(self, queued)  # `serve` drops the client here
        if buffered > limit and not self.flags & (HOLD_BUDGET | LOST):
            self.hold(HOLD_BUDGET)
            stall = self.settings.stall_timeout
            if stall is not None and self._timer is None:
                self.set_deadline(stall, self._stall_expired)
                self.flags |= STALL_DEADLINE

    def _check_drained(self) -> None:
        """After the peer read (resume_writing) or a relay sent what it held."""
        flags = self.flags
        limit = self.settings.limit
        buffered = self.transport.get_write_buffer_size()
        if flags & HOLD_BUDGET and buffered <= limit // 2:
            if flags & STALL_DEADLINE:
                self.clear_deadline()
            self.release(HOLD_BUDGET)
        if flags & OVER and buffered + self.reserved <= limit // 2:
            self.flags &= ~OVER

    def _stall_expired(self) -> None:
        self._timer = None
        self.flags &= ~STALL_DEADLINE
        if self.flags & HOLD_BUDGET and not self.flags & LOST:
            self.flags |= STALLED
            self.abort()  # a close frame would only queue behind the backlog
