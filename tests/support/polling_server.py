"""A scripted Engine.IO long-polling server on a raw socket: each GET gets the next scripted
answer, byte for byte (so a test controls the HTTP framing as well as the packets), each
POST is recorded and answered ``ok``. For testing how `wscli connect --socketio` copes
with long-polling servers that misbehave, or behave in ways the RFCs allow but few do.

    script = PollingScript([opened(), ok_body(b'40{"sid":"s1"}'), ok_body(b"41")])
    with RawServer(script.handler) as server:
        result = run_wscli("connect", "--socketio", "--transport", "polling", server.url())
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

from tests.support.rawserver import WAIT, RawConnection, http_response

Answer = bytes | Callable[[RawConnection], Awaitable[None]]
"""A GET's scripted answer: its bytes, or a coroutine that writes it (streams it)."""

HELD_POST_LAG = 0.1  # seconds between the last awaited GET answer and a held POST's answer
OPEN = b'0{"sid":"e1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'


def ok_body(body: bytes, headers: Sequence[tuple[str, str]] = ()) -> bytes:
    """A 200 answer with ``body`` and a Content-Length."""
    return http_response(200, "OK", [("Content-Type", "text/plain"), *headers], body)


def opened(open_packet: bytes = OPEN) -> bytes:
    """The answer to the handshake GET: the Engine.IO open packet."""
    return ok_body(open_packet)


class PollingScript:
    """The GET answers, in order, shared by every connection; the POST bodies received.

    ``gets``: full HTTP responses (or coroutines writing one); once they run out a GET is
    held unanswered (a long poll with nothing to say) until the client goes away.
    ``close_after``: the GETs (by index) after whose answer the connection is closed.
    ``post_answer``: the bytes every POST gets (``ok`` by default); ``drop_posts``: the
    POSTs (by index) after which the connection is closed without an answer;
    ``hold_posts``: every POST after the first (the namespace's CONNECT) is answered only
    once this many GETs were answered, and a moment later, so that the client has read
    those answers first (a server slow to answer a send while its long polls go on).
    ``gets_wait_posts=(i, n)``: the GETs from index ``i`` on are answered only once ``n``
    POSTs have arrived (what they bring comes while those sends are under way).
    """

    def __init__(
        self,
        gets: Sequence[Answer],
        *,
        close_after: Sequence[int] = (),
        post_answer: bytes = ok_body(b"ok"),
        drop_posts: Sequence[int] = (),
        hold_posts: int | None = None,
        gets_wait_posts: tuple[int, int] | None = None,
    ) -> None:
        self.gets = list(gets)
        self.hold_posts = hold_posts
        self.gets_wait_posts = gets_wait_posts
        self._changed = asyncio.Condition()  # a GET answered or a POST arrived
        self.close_after = set(close_after)
        self.post_answer = post_answer
        self.drop_posts = set(drop_posts)
        self.posts: list[bytes] = []
        self.heads: list[bytes] = []
        self.get_count = 0
        self.answered = 0

    def _gets_due(self) -> bool:
        return self.gets_wait_posts is None or len(self.posts) >= self.gets_wait_posts[1]

    def _posts_due(self) -> bool:
        return self.answered >= (self.hold_posts or 0)

    async def handler(self, conn: RawConnection) -> None:
        while True:
            head = await conn.read_request()
            if not head:
                return
            self.heads.append(head)
            body = b""
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    body = await asyncio.wait_for(conn.reader.readexactly(int(value)), WAIT)
            if head.startswith(b"POST "):
                async with self._changed:
                    self.posts.append(body)
                    self._changed.notify_all()
                if len(self.posts) - 1 in self.drop_posts:
                    return
                if self.hold_posts is not None and len(self.posts) > 1:
                    async with self._changed:
                        await asyncio.wait_for(self._changed.wait_for(self._posts_due), WAIT)
                    await asyncio.sleep(HELD_POST_LAG)
                await conn.send(self.post_answer)
                continue
            index = self.get_count
            self.get_count += 1
            if index >= len(self.gets):
                await conn.hold()
                return
            if self.gets_wait_posts is not None and index >= self.gets_wait_posts[0]:
                async with self._changed:
                    await asyncio.wait_for(self._changed.wait_for(self._gets_due), WAIT)
            answer = self.gets[index]
            await (conn.send(answer) if isinstance(answer, bytes) else answer(conn))
            async with self._changed:
                self.answered += 1
                self._changed.notify_all()
            if index in self.close_after:
                with contextlib.suppress(OSError):
                    conn.writer.close()
                return
