"""Wrong tokens (``--token``): counted per address, slowed down, and logged once a second.

A token check answers one question — is this the token? — and whoever may ask it fast can
guess: about 4,000 guesses a second reached ``/admission?token=`` on loopback, unlogged.
Every place that checks a token (the WebSocket upgrade, the page's ``/admission``
pre-flight, and ``/metrics``, ``/log`` and ``/healthz?verbose``) reports each wrong one here:

- each address (an IPv4 address, an IPv6 /64: one host's share of addresses) has a token
  bucket of :data:`FAILURES_AT_ONCE` wrong tokens, refilled by one every
  :data:`SECONDS_PER_FAILURE` seconds; while it is empty, every token check from that
  address — right or wrong, so that the answer tells nothing — is answered ``429`` with
  ``Retry-After``, before the token is compared;
- one log event per second while wrong tokens come (``tokens``: how many, by path, from how
  many addresses, the busiest one, how many were answered 429), like the descriptor
  refusals of :mod:`wscli.serve.fdlimit`; never the tokens themselves.

At most :data:`MAX_ADDRESSES` buckets are kept (the least recently used is forgotten).
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import math
import time
from collections.abc import Callable

FAILURES_AT_ONCE = 10
"""Wrong tokens an address may present at once before it is answered 429."""

SECONDS_PER_FAILURE = 6.0
"""Seconds after which an address may present one more wrong token (10 a minute)."""

MAX_ADDRESSES = 4096
"""Addresses whose wrong tokens are remembered at once."""

WINDOW = 1.0
"""Seconds over which wrong tokens are counted into one log event."""

PLACES = ("upgrade", "admission", "metrics")
"""Where a token is checked: the upgrade, ``/admission``, and the metrics token's paths."""

Report = Callable[[dict[str, object]], None]
"""Called with the fields of one ``tokens`` event."""


def address_key(host: str) -> str:
    """Who is counted: the IPv4 address, or the /64 network of an IPv6 address (a host
    usually has a whole /64 to pick addresses from)."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class TokenGuard:
    """The token buckets of the addresses that presented wrong tokens, and the per-second
    report. ``clock`` is a parameter so that tests can drive it."""

    def __init__(
        self,
        report: Report,
        *,
        burst: int = FAILURES_AT_ONCE,
        seconds_per_failure: float = SECONDS_PER_FAILURE,
        max_addresses: int = MAX_ADDRESSES,
        window: float = WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._report = report
        self._burst = burst
        self._rate = 1.0 / seconds_per_failure
        self._max = max_addresses
        self._window = window
        self._clock = clock
        # address -> (tokens left, when counted), least recently used first
        self._buckets: collections.OrderedDict[str, tuple[float, float]] = collections.OrderedDict()
        self._counts: collections.Counter[str] = collections.Counter()
        self._by_address: collections.Counter[str] = collections.Counter()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def tracked(self) -> int:
        """Addresses whose wrong tokens are remembered now (at most ``max_addresses``)."""
        return len(self._buckets)

    def throttled(self, host: str) -> bool:
        """True when ``host`` may not have a token checked now (answer 429); counted."""
        key = address_key(host)
        if self._tokens(key) >= 1.0:
            return False
        self._count("throttled", key)
        return True

    def retry_after(self, host: str) -> int:
        """Seconds until ``host`` may have a token checked again (for ``Retry-After``)."""
        missing = 1.0 - self._tokens(address_key(host))
        return max(1, math.ceil(missing / self._rate))

    def failed(self, host: str, where: str) -> None:
        """``host`` presented a wrong token at ``where`` (one of :data:`PLACES`)."""
        key = address_key(host)
        tokens = self._tokens(key)
        self._buckets[key] = (max(tokens - 1.0, 0.0), self._clock())
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        self._count(where, key)
        self._by_address[key] += 1

    def close(self) -> None:
        """Report what is counted now (at shutdown) and stop the timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._flush()

    def _tokens(self, key: str) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            return float(self._burst)
        tokens, when = bucket
        tokens = min(float(self._burst), tokens + (self._clock() - when) * self._rate)
        if tokens >= self._burst:
            del self._buckets[key]  # full again: nothing to remember
        return tokens

    def _count(self, what: str, key: str) -> None:
        self._counts[what] += 1
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._window, self._flush)

    def _flush(self) -> None:
        self._timer = None
        counts, self._counts = self._counts, collections.Counter()
        by_address, self._by_address = self._by_address, collections.Counter()
        top, top_count = by_address.most_common(1)[0] if by_address else ("", 0)
        self._report(
            {
                "failed": sum(counts[place] for place in PLACES),
                **{place: counts[place] for place in PLACES},
                "throttled": counts["throttled"],
                "addresses": len(by_address),
                "top": top,
                "top_failed": top_count,
            }
        )


def report_line(event: dict[str, object]) -> str:
    """The one log line of a second of wrong tokens (pure)."""
    failed = int(event["failed"])  # type: ignore[call-overload]
    throttled = int(event["throttled"])  # type: ignore[call-overload]
    addresses = int(event["addresses"])  # type: ignore[call-overload]
    places = ", ".join(
        f"{event.get(place, 0)} {label}"
        for place, label in zip(PLACES, ("upgrades", "/admission", "/metrics"), strict=True)
        if event.get(place)
    )
    text = (
        f"refused {failed:,} invalid {'token' if failed == 1 else 'tokens'} in the last second "
        f"({places})"
    )
    if addresses:
        where = "address" if addresses == 1 else "addresses"
        text += f" from {addresses:,} {where}, most from {event['top']} ({event['top_failed']})"
    if throttled:
        text += f"; {throttled:,} token checks answered 429 (too many wrong tokens)"
    return text
