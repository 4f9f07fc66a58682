"""What `wscli top` reads from a `wscli serve`: ``/metrics``, ``/healthz`` and ``/log``, each a
bounded HTTP GET with a timeout (the server's answers are peer bytes: size-capped, parsed by
:mod:`wscli.core.exposition` and :mod:`json`, never trusted to be well formed).
"""

from __future__ import annotations

import dataclasses
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from wscli.core import exposition
from wscli.core.errors import ConnectFailed, HandshakeRejected, TimedOut, WscliError
from wscli.core.url import parse_ws_url, redact_url
from wscli.net.neterrors import hostport

MAX_BODY = 8 * 2**20
"""Bytes of one answer read at most (a server naming 1,000 rooms sends ~300 KB)."""

MAX_LOG_EVENTS = 200


class ScrapeError(WscliError):
    """An answer that is not what a `wscli serve` sends (exit 1)."""


@dataclasses.dataclass(frozen=True)
class Reading:
    """One round of reads: when (``time.monotonic()``), the samples, the health document
    and the log events newer than the last round's."""

    at: float
    samples: list[exposition.Scraped]
    health: dict[str, Any]
    events: list[dict[str, Any]]


class Scraper:
    """Reads a server at ``url`` (``http(s)://`` or ``ws(s)://`` HOST:PORT, any path)."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 5.0,
        context: ssl.SSLContext | None = None,
    ) -> None:
        uri = parse_ws_url(url)
        self.secure = uri.secure
        self.shown = redact_url(url)
        self._base = ("https" if uri.secure else "http", hostport(uri.host, uri.port))
        self._token = token
        self._timeout = timeout
        self._context = context
        self._last_seq = 0
        # The server is named by the user: no proxy from the environment in between.
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self._opener = urllib.request.build_opener(*handlers)

    def url(self, path: str, **query: str) -> str:
        """The URL of ``path`` on the server, built from its parts."""
        scheme, netloc = self._base
        return urllib.parse.urlunsplit((scheme, netloc, path, urllib.parse.urlencode(query), ""))

    def read(self) -> Reading:
        """``/metrics``, ``/healthz`` and the new ``/log`` events, now."""
        at = time.monotonic()
        text = self._get(self.url("/metrics"), "text/plain").decode("utf-8", "replace")
        try:
            _, samples = exposition.parse(text)
        except exposition.ExpositionError as exc:
            raise ScrapeError(
                f"{self.shown}: /metrics is not the Prometheus format", str(exc)
            ) from None
        health = _json_object(self._get(self.url("/healthz"), "application/json"), "/healthz")
        log = _json_object(
            self._get(self.url("/log", after=str(self._last_seq)), "application/json"), "/log"
        )
        events = [e for e in log.get("events", []) if isinstance(e, dict)][-MAX_LOG_EVENTS:]
        for event in events:
            if isinstance(event.get("seq"), int):
                self._last_seq = max(self._last_seq, event["seq"])
        return Reading(at, samples, health, events)

    def _get(self, url: str, accept: str) -> bytes:
        headers = {"Accept": accept}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(url, headers=headers)
        path = urllib.parse.urlsplit(url).path
        try:
            with self._opener.open(request, timeout=self._timeout) as answer:
                body: bytes = answer.read(MAX_BODY + 1)
        except urllib.error.HTTPError as exc:
            exc.close()
            hint = None
            if exc.code in (401, 403):
                hint = "give the server's metrics token: --token or WSCLI_METRICS_TOKEN"
            elif exc.code == 404:
                hint = "is it a wscli serve? /metrics came with wscli 0.1"
            raise HandshakeRejected(
                f"{self.shown} refused {path}", f"HTTP {exc.code} {exc.reason}", hint
            ) from None
        except (TimeoutError, ssl.SSLError, urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError) or isinstance(exc, TimeoutError):
                raise TimedOut(
                    f"{self.shown}: no answer to {path}", f"after {self._timeout:g} s"
                ) from None
            raise ConnectFailed(f"cannot read {self.shown}", str(reason)) from None
        if len(body) > MAX_BODY:
            raise ScrapeError(f"{self.shown}: {path} is over {MAX_BODY} bytes")
        return body


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        raise ScrapeError(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise ScrapeError(f"{what} is not a JSON object")
    return value
