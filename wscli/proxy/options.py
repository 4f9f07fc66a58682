"""What `wscli proxy` is told to do: listening address, upstream, limits, display, faults.

Pure: the CLI turns its options into a :class:`ProxyConfig`; values with units (``80ms``,
``30s``, ``0.02``, ``64K``) are parsed here so every front end reads them the same way.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from collections.abc import Sequence

from wscli.core.closecodes import close_problem
from wscli.core.errors import UsageProblem
from wscli.core.headers import check_header_values
from wscli.core.url import normalize_url, parse_ws_url

_DURATION = re.compile(r"(?i)^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str, option: str) -> float:
    """``80ms``, ``1.5s``, ``2m``, ``1h`` or plain seconds (``0.25``) as seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise UsageProblem(
            f"invalid {option} value {text!r}", "expected a duration like 80ms, 1.5s or 2m"
        )
    return float(match[1]) * _UNITS[(match[2] or "").lower()]


def parse_rate(text: str, option: str) -> float:
    """A probability: ``0.02`` or ``2%``, between 0 and 1."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UsageProblem(
            f"invalid {option} value {text!r}", "expected a rate like 0.02 or 2%"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise UsageProblem(f"invalid {option} value {text!r}", "a rate is between 0 and 1")
    return value


@dataclasses.dataclass(frozen=True)
class FaultConfig:
    """The faults to inject; all off by default. Durations in seconds, rates 0..1."""

    delay: float = 0.0
    jitter: float = 0.0
    drop: float = 0.0
    throttle: int | None = None  # bytes per second and direction
    disconnect_every: float | None = None
    disconnect_after: int | None = None  # messages, both directions together
    close_code: int | None = None  # None: abrupt TCP close
    refuse: float = 0.0
    stall: bool = False
    seed: int | None = None

    @property
    def shapes_time(self) -> bool:
        """True when messages wait before they are forwarded (delay, jitter, throttle)."""
        return self.delay > 0 or self.jitter > 0 or self.throttle is not None


@dataclasses.dataclass(frozen=True)
class UpstreamConfig:
    """Where and how the proxy connects for each client."""

    url: str
    headers: Sequence[tuple[str, str]] = ()
    insecure: bool = False
    cacert: str | None = None
    proxy: str | None = None
    compression: bool = True
    open_timeout: float = 10.0


@dataclasses.dataclass(frozen=True)
class ProxyConfig:
    """Everything `wscli proxy` needs to run."""

    upstream: UpstreamConfig
    host: str = "127.0.0.1"
    port: int = 9000
    certfile: str | None = None
    keyfile: str | None = None
    compression: bool = True
    max_size: int | None = 2**20
    max_queue: int = 2**20
    close_timeout: float = 2.0
    json_output: bool = False
    verbose: bool = False
    faults: FaultConfig = FaultConfig()
    allowed_hosts: Sequence[str] = ()
    """``--allowed-host``: names besides the loopback ones and the bound address that a
    request's ``Host`` may give (``*``: any; see :mod:`wscli.core.hosts`)."""


def check_upstream(config: UpstreamConfig) -> None:
    """Raise :class:`UsageProblem` for an unusable upstream URL, header or proxy."""
    uri = parse_ws_url(config.url)
    check_header_values(config.headers)
    if config.cacert and not uri.secure:
        raise UsageProblem("--cacert needs a wss:// upstream", f"{config.url!r} is not TLS")
    if config.proxy is not None and not is_direct(config.proxy):
        parts = urllib.parse.urlsplit(config.proxy)
        if parts.scheme != "http" or not parts.hostname:
            raise UsageProblem(
                f"invalid --proxy {config.proxy!r}",
                "only HTTP CONNECT proxies (http://host:port) are supported",
            )


def is_direct(proxy: str | None) -> bool:
    """True when ``--proxy`` says to connect directly (unset, ``none``, empty)."""
    return proxy is None or proxy.strip().lower() in {"", "none", "direct"}


def check_faults(faults: FaultConfig) -> None:
    """Raise :class:`UsageProblem` for a fault combination that cannot work."""
    if faults.close_code is not None:
        problem = close_problem(faults.close_code, "")
        if problem is not None:
            raise UsageProblem("invalid --close-code", problem)
        if faults.disconnect_every is None and faults.disconnect_after is None:
            raise UsageProblem(
                "--close-code needs --disconnect-every or --disconnect-after",
                hint="it says how those disconnects close",
            )


def upstream_url(base: str) -> str:
    """The upstream URL with a ws/wss scheme (http(s) accepted as on every command)."""
    return normalize_url(base)
