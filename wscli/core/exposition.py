"""The Prometheus text exposition format, written and read (pure: no I/O).

`wscli serve` writes its ``/metrics`` in the classic text format (``text/plain;
version=0.0.4``) or, when the scraper's ``Accept`` asks for it, in OpenMetrics 1.0
(``application/openmetrics-text; version=1.0.0``): :func:`render`, :func:`wants_openmetrics`.
`wscli top` reads the text format back: :func:`parse`, a bounded parser of peer bytes that
raises only :class:`ExpositionError`.

The families are built by the caller at scrape time from plain integers (see
:mod:`wscli.serve.metrics`): nothing here is on the server's message path. Written by hand
rather than with prometheus-client: both formats are a page of rules, the base install stays
without another dependency, and the suite checks the output with prometheus-client's own
parsers of both formats.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence

TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"

Labels = tuple[tuple[str, str], ...]

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


class ExpositionError(ValueError):
    """Text that is not the Prometheus text format (the line number says where)."""


@dataclasses.dataclass(frozen=True)
class Sample:
    """One line of a family: its name suffix (``_total``, ``_bucket``...), labels, value."""

    suffix: str
    labels: Labels
    value: float


@dataclasses.dataclass(frozen=True)
class Family:
    """A metric family: ``kind`` is ``counter``, ``gauge`` or ``histogram``.

    ``name`` is the family's name without the ``_total`` of a counter's samples (the
    OpenMetrics rule; the classic format names a counter by its sample).
    """

    name: str
    kind: str
    help: str
    samples: Sequence[Sample]


def counter(name: str, help: str, values: Mapping[Labels, float] | float) -> Family:
    """A counter family: one value, or one per label set."""
    return Family(name, "counter", help, _samples("_total", values))


def gauge(name: str, help: str, values: Mapping[Labels, float] | float) -> Family:
    """A gauge family: one value, or one per label set."""
    return Family(name, "gauge", help, _samples("", values))


def histogram(
    name: str, help: str, bounds: Sequence[float], counts: Sequence[int], total: float
) -> Family:
    """A histogram from per-bucket counts (``counts[i]``: observations ``<= bounds[i]`` and
    above the bound before; the last one: above every bound) and the sum of observations."""
    samples = []
    running = 0
    for bound, count in zip([*bounds, math.inf], counts, strict=True):
        running += count
        samples.append(Sample("_bucket", (("le", _number(float(bound))),), running))
    samples.append(Sample("_count", (), running))
    samples.append(Sample("_sum", (), total))
    return Family(name, "histogram", help, samples)


class Histogram:
    """Observations counted per bucket (``counts[i]``: ``<= bounds[i]``; the last: above
    every bound), as plain numbers; cumulative buckets are built at scrape time."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(float(b) for b in bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float, weight: int = 1) -> None:
        """Count ``weight`` observations of ``value`` (seconds)."""
        self.counts[bisect.bisect_left(self.bounds, value)] += weight
        self.sum += value * weight

    def family(self, name: str, help: str) -> Family:
        return histogram(name, help, self.bounds, self.counts, self.sum)


def _samples(suffix: str, values: Mapping[Labels, float] | float) -> list[Sample]:
    if isinstance(values, Mapping):
        return [Sample(suffix, labels, value) for labels, value in values.items()]
    return [Sample(suffix, (), values)]


def wants_openmetrics(accept: str | None) -> bool:
    """Whether an ``Accept`` header asks for OpenMetrics 1.0 (as Prometheus does when
    scraping): a media range ``application/openmetrics-text`` with no version or version
    1.0.0, and a non-zero ``q``. Anything else gets the classic text format."""
    if not accept:
        return False
    for media_range in accept.split(",")[:64]:  # a peer's header: a bounded amount of work
        kind, *params = media_range.split(";")
        if kind.strip().lower() != "application/openmetrics-text":
            continue
        settings = {}
        for param in params[:16]:
            key, _, value = param.partition("=")
            settings[key.strip().lower()] = value.strip().strip('"')
        if settings.get("version", "1.0.0") != "1.0.0":
            continue
        try:
            quality = float(settings.get("q", "1"))
        except ValueError:
            continue
        if quality > 0:
            return True
    return False


def render(families: Iterable[Family], openmetrics: bool = False) -> bytes:
    """The exposition of ``families``, classic text or OpenMetrics (with its ``# EOF``)."""
    lines: list[str] = []
    for family in families:
        if not _NAME.match(family.name):
            raise ValueError(f"invalid metric name {family.name!r}")
        # The classic format names a counter after its samples (``x_total``).
        named = family.name if openmetrics or family.kind != "counter" else family.name + "_total"
        lines.append(f"# HELP {named} {_escape_help(family.help)}")
        lines.append(f"# TYPE {named} {family.kind}")
        for sample in family.samples:
            lines.append(
                f"{family.name}{sample.suffix}{_labels(sample.labels)} {_number(sample.value)}"
            )
    if openmetrics:
        lines.append("# EOF")
    return ("\n".join(lines) + "\n").encode()


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    for name, _ in labels:
        if not _LABEL.match(name):
            raise ValueError(f"invalid label name {name!r}")
    return "{" + ",".join(f'{name}="{_escape_value(value)}"' for name, value in labels) + "}"


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return f"{value:.1f}"
    return repr(value)


# Reading (wscli top)

_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_PAIR = re.compile(r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\]|\\.)*)"[ \t]*(,|\Z)')
_UNESCAPE = re.compile(r"\\(.)")


@dataclasses.dataclass(frozen=True)
class Scraped:
    """One sample read back: its full name (``x_total``, ``x_bucket``), labels, value."""

    name: str
    labels: Mapping[str, str]
    value: float


def parse(text: str) -> tuple[dict[str, str], list[Scraped]]:
    """The ``# TYPE`` of each family and every sample of a classic text exposition.

    Raises :class:`ExpositionError` (a ``ValueError``) for a line that is neither a comment,
    a blank line nor a sample. Linear in the text: each line is matched once, by patterns
    without nested repetition.
    """
    types: dict[str, str] = {}
    samples: list[Scraped] = []
    for number, line in enumerate(text.split("\n"), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) == 4 and parts[1] == "TYPE":
                types[parts[2]] = parts[3]
            continue
        name, raw_labels, rest = _split_sample(line, number)
        fields = rest.split()
        if not 1 <= len(fields) <= 2:
            raise ExpositionError(f"line {number}: expected a value and at most a timestamp")
        try:
            value = float(fields[0])
        except ValueError:
            raise ExpositionError(f"line {number}: {fields[0][:40]!r} is not a number") from None
        samples.append(Scraped(name, _parse_labels(raw_labels, number), value))
    return types, samples


def _split_sample(line: str, number: int) -> tuple[str, str, str]:
    """(name, labels without braces, the rest) of a sample line."""
    brace = line.find("{")
    if brace < 0:
        name, _, rest = line.replace("\t", " ").partition(" ")
        body = ""
    else:
        close = line.rfind("}")  # a label value may hold braces; the value cannot
        if close < brace:
            raise ExpositionError(f"line {number}: unclosed labels")
        name, body, rest = line[:brace].strip(), line[brace + 1 : close], line[close + 1 :]
    if not _METRIC.match(name):
        raise ExpositionError(f"line {number}: not a sample")
    return name, body, rest


def _parse_labels(body: str, number: int) -> dict[str, str]:
    labels: dict[str, str] = {}
    position = 0
    while position < len(body):
        match = _PAIR.match(body, position)
        if match is None:
            if not body[position:].strip(" \t,"):
                break  # a trailing comma
            raise ExpositionError(f"line {number}: malformed labels")
        labels[match[1]] = _UNESCAPE.sub(_unescape_one, match[2])
        position = match.end()
    return labels


def _unescape_one(match: re.Match[str]) -> str:
    char = match[1]
    return "\n" if char == "n" else char
