"""One admission rule: the page's ``GET /admission`` pre-flight and the upgrade
itself give the same verdict for every combination of origin, token and capacity. Real
server on 127.0.0.1, real requests (no shortcut through the pure functions)."""

from __future__ import annotations

import asyncio
import itertools
import json
import urllib.parse

from tests.serve.serve_helpers import (
    Running,
    client,
    http_get,
    raw_request,
    running,
    upgrade_request,
)
from tests.support import scaled

ORIGINS = (None, "https://ok.example", "https://evil.example", "null")
TOKENS = (None, "s3cret", "nope")


async def upgrade_status(srv: Running, request: bytes) -> int:
    """The status of one upgrade; an admitted client leaves at once (its place freed)."""
    before = len(srv.chat.admitted)
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    try:
        writer.write(request)
        line = await asyncio.wait_for(reader.readuntil(b"\r\n"), scaled(5))
    finally:
        writer.close()
    deadline = asyncio.get_running_loop().time() + scaled(5)
    while len(srv.chat.admitted) > before:
        assert asyncio.get_running_loop().time() < deadline, "the place was never freed"
        await asyncio.sleep(0.01)
    return int(line.split(b" ", 2)[1])


async def verdicts(srv: Running, origin: str | None, token: str | None) -> tuple[int, int]:
    """(status of the upgrade, status /admission predicts: 101 when admitted)."""
    port = srv.port
    query = "?" + urllib.parse.urlencode({"token": token}) if token is not None else ""
    header = f"Origin: {origin}\r\n" if origin is not None else ""
    upgrade = await upgrade_status(srv, upgrade_request("/chat" + query, port, header))
    pre = await raw_request(port, http_get("/admission" + query, port, header))
    document = json.loads(pre.partition(b"\r\n\r\n")[2])
    return upgrade, 101 if document["admitted"] else document["status"]


async def test_preflight_and_upgrade_never_disagree() -> None:
    async with running(token="s3cret", max_clients=1, origins=["https://ok.example"]) as srv:
        seen = set()
        for origin, token in itertools.product(ORIGINS, TOKENS):
            upgrade, predicted = await verdicts(srv, origin, token)
            assert upgrade == predicted, (origin, token)
            seen.add(upgrade)
        async with client(srv, "/chat?token=s3cret"):  # now full
            for origin, token in itertools.product(ORIGINS, TOKENS):
                upgrade, predicted = await verdicts(srv, origin, token)
                assert upgrade == predicted, ("full", origin, token)
                seen.add(upgrade)
        assert seen == {101, 401, 403, 503}  # every rule was exercised
