#!/usr/bin/env python3
"""Autobahn|Testsuite fuzzing-server cases against `wscli connect`'s engine, with and without
the frames it encodes and cuts itself (``direct``, :mod:`wscli.wire.frames`).

The `kosoku` runner serves the cases on 127.0.0.1 port 0; an echo client on
:class:`~wscli.wire.client.ClientEngine` (the engine `wscli connect` runs on, with its
--max-size raised to the 16 MiB of case 9) runs every case twice: once as `wscli connect`
does (``direct``), once with websockets' protocol parsing every frame. Prints the verdicts
of each and every case whose verdict differs; exits 1 if the cases that fail differ (the
direct path must not fail a case the protocol passes), 0 otherwise.

OK and NON-STRICT may swap between runs of either mode in cases 3.2-3.4 and 4.1.3-4.2.5
(a message, then a frame with reserved bits or a reserved opcode): when both come in one
read, the protocol alone has failed the connection before the message is echoed
(NON-STRICT); the direct path echoes what came before the bad frame first.

    .venv/bin/python benchmarks/autobahn_client.py                # cases 1-7, 9, 10
    .venv/bin/python benchmarks/autobahn_client.py --cases '9.*'  # a selection
"""

from __future__ import annotations

import argparse
import asyncio
import collections
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from websockets.client import ClientProtocol
from websockets.http11 import Response
from websockets.uri import parse_uri

from wscli.wire.client import ClientEngine
from wscli.wire.owner import Ending, Owner, Settings

DEFAULT_CASES = ("1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*")
MAX_SIZE = 16 * 1024 * 1024
FAILING = ("FAILED", "UNIMPLEMENTED", "WRONG CODE")
CASE_TIMEOUT = 60.0


class Echo(Owner[ClientEngine]):
    """Sends every message back as it came; keeps the first one (the case count)."""

    def __init__(self) -> None:
        self.ended = asyncio.get_running_loop().create_future()
        self.first: bytes | None = None

    def message_received(self, conn: ClientEngine, data: bytes, text: bool) -> None:
        if self.first is None:
            self.first = data
        if conn.is_open:
            conn.send_messages([data], text)

    def rejected(self, conn: ClientEngine, response: Response | None) -> None:
        if not self.ended.done():
            self.ended.set_result(None)

    def closed(self, conn: ClientEngine, ending: Ending) -> None:
        if not self.ended.done():
            self.ended.set_result(None)


async def visit(port: int, path: str, query: dict[str, str], direct: bool) -> bytes | None:
    """One connection to the fuzzing server, echoing until it ends; its first message."""
    uri = parse_uri(f"ws://127.0.0.1:{port}{path}?{urlencode(query)}")
    protocol = ClientProtocol(uri, max_size=MAX_SIZE)
    owner = Echo()
    settings = Settings(limit=64 * 1024 * 1024, close_timeout=5.0)
    engine = ClientEngine(owner, settings, protocol, direct=direct, max_size=MAX_SIZE)
    loop = asyncio.get_running_loop()
    await loop.create_connection(lambda: engine, "127.0.0.1", port)
    engine.send_request(protocol.connect())
    try:
        await asyncio.wait_for(asyncio.shield(owner.ended), CASE_TIMEOUT)
    except asyncio.TimeoutError:
        engine.abort()
        await owner.ended
    return owner.first


async def run(cases: Sequence[str], direct: bool) -> dict[str, str]:
    import kosoku

    agent = "direct" if direct else "protocol"
    async with kosoku.run_fuzzingserver(list(cases), port=0) as server:
        port = server.port
        count = int(await visit(port, "/getCaseCount", {}, direct) or b"0")
        for case in range(1, count + 1):
            await visit(port, "/runCase", {"case": str(case), "agent": agent}, direct)
        await visit(port, "/updateReports", {"agent": agent}, direct)
        try:
            results: Any = await server.get_result()
        except kosoku.FailureError as failure:  # judged below, against the protocol alone
            results = failure.results
    return {r.case_id: f"{r.behavior.value}/{r.behavior_close.value}" for r in results}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", action="append", help="case ids or globs (repeatable)")
    args = parser.parse_args(argv)
    cases = args.cases or list(DEFAULT_CASES)
    direct = asyncio.run(run(cases, True))
    alone = asyncio.run(run(cases, False))
    for name, verdicts in (("direct (as wscli connect)", direct), ("protocol alone", alone)):
        counts = collections.Counter(v.split("/")[0] for v in verdicts.values())
        print(f"{name}: {len(verdicts)} cases: " + ", ".join(f"{k} {n}" for k, n in counts.items()))
    differ = sorted(c for c in set(direct) | set(alone) if direct.get(c) != alone.get(c))
    for case in differ:
        print(f"  {case}: direct {direct.get(case)}, protocol alone {alone.get(case)}")
    failed = {
        name: {c for c, v in verdicts.items() if v.startswith(FAILING)}
        for name, verdicts in (("direct", direct), ("alone", alone))
    }
    if failed["direct"] != failed["alone"]:
        print(f"failed: direct {sorted(failed['direct'])}, alone {sorted(failed['alone'])}")
        return 1
    print(f"the same cases fail either way: {sorted(failed['direct']) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
