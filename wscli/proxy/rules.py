"""The fault rules of a running `wscli proxy`: the command line's faults, then whatever the
control API adds, changes or removes (pure: no I/O).

A rule is one fault (``delay``, ``drop``, ``throttle``, ``disconnect-after``,
``disconnect-every``, ``stall``, ``refuse``) with a ``direction`` (``up``: client to
server, ``down``, or ``both``) and a ``path`` pattern (shell-style, matched against the
client's request path without its query: ``/chat``, ``/room-*``; ``*`` matches all). The
message faults (delay, drop, throttle) apply per direction; the others end, freeze or refuse
whole connections. :class:`Rules` holds them in order with a version that changes on every
change, so each relay re-reads its rules only when they changed.

Rules from JSON (:func:`rule_from_json`) take the command line's units: ``"80ms"``,
``"2%"``, ``"64K"``, or plain numbers (seconds, shares, bytes per second).
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from wscli.core.closecodes import close_problem
from wscli.core.units import parse_duration, parse_rate, parse_size
from wscli.proxy.config import FaultConfig

Direction = Literal["up", "down", "both"]
DIRECTIONS = ("up", "down", "both")
MESSAGE_FAULTS = ("delay", "drop", "throttle")
CONNECTION_FAULTS = ("disconnect-after", "disconnect-every", "stall", "refuse")
FAULTS = MESSAGE_FAULTS + CONNECTION_FAULTS
MAX_RULES = 256
"""Rules held at once: each message of each direction looks through the matching ones."""
MAX_PATTERN = 256


class RuleError(ValueError):
    """A rule that cannot be: the message says which field and why."""


@dataclasses.dataclass(frozen=True)
class Rule:
    """One fault rule; only the fields of its ``fault`` mean anything."""

    id: int
    fault: str
    direction: Direction = "both"
    path: str = "*"
    delay: float = 0.0
    """delay: seconds each message waits, ± up to ``jitter``."""
    jitter: float = 0.0
    rate: float = 0.0
    """drop, refuse: the share of messages dropped or upgrades refused."""
    bytes_per_second: int = 0
    """throttle: the link's speed."""
    messages: int = 0
    """disconnect-after: messages (of ``direction``) before the connection ends."""
    every: float = 0.0
    """disconnect-every: seconds after the connection opened (or the rule came)."""
    close_code: int | None = None
    """disconnect-*: close both sides with this code (None: drop TCP, a 1006)."""
    stall: bool = False
    """disconnect-*: freeze the connection instead of ending it."""
    status: int = 503
    """refuse: the status answered."""

    def matches(self, way: str, path: str) -> bool:
        """True when the rule applies to messages going ``way`` on ``path``."""
        if self.direction != "both" and self.direction != way:
            return False
        return self.path == "*" or fnmatch.fnmatchcase(path, self.path)

    def matches_path(self, path: str) -> bool:
        return self.path == "*" or fnmatch.fnmatchcase(path, self.path)

    def to_json(self) -> dict[str, Any]:
        """The rule as the control API shows it: its own fields only."""
        shown: dict[str, Any] = {
            "id": self.id,
            "fault": self.fault,
            "direction": self.direction,
            "path": self.path,
        }
        for name in _FIELDS[self.fault]:
            shown[name] = getattr(self, name)
        return shown

    def summary(self) -> str:
        """One line for the log: ``drop rate=0.5 down /chat*``."""
        fields = " ".join(f"{name}={getattr(self, name)}" for name in _FIELDS[self.fault])
        return " ".join(p for p in (self.fault, fields, self.direction, self.path) if p)


_FIELDS: dict[str, tuple[str, ...]] = {
    "delay": ("delay", "jitter"),
    "drop": ("rate",),
    "throttle": ("bytes_per_second",),
    "disconnect-after": ("messages", "close_code", "stall"),
    "disconnect-every": ("every", "close_code", "stall"),
    "stall": (),
    "refuse": ("rate", "status"),
}


def _duration(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise RuleError(f"{name}: expected a duration like 80ms or a number of seconds")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise RuleError(f"{name}: {exc}") from None
    else:
        raise RuleError(f"{name}: expected a duration like 80ms or a number of seconds")
    if not 0 <= seconds <= 86400:
        raise RuleError(f"{name}: between 0 and 1 day")
    return seconds


def _rate(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RuleError(f"{name}: expected a rate like 0.02 or 2%")
    try:
        return parse_rate(str(value))
    except ValueError as exc:
        raise RuleError(f"{name}: {exc}") from None


def _count(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RuleError(f"{name}: expected a whole number from {low} to {high}")
    return value


def _size(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise RuleError(f"{name}: expected bytes per second like 65536 or 64K")
    try:
        size = value if isinstance(value, int) else parse_size(value)
    except ValueError as exc:
        raise RuleError(f"{name}: {exc}") from None
    if not 1 <= size <= 2**40:
        raise RuleError(f"{name}: at least 1 byte per second")
    return size


def _close_code(value: Any) -> int | None:
    if value is None:
        return None
    code = _count(value, "close_code", 1000, 4999)
    problem = close_problem(code, "")
    if problem is not None:
        raise RuleError(f"close_code: {problem}")
    return code


_READERS: dict[str, Any] = {
    "delay": lambda v: _duration(v, "delay"),
    "jitter": lambda v: _duration(v, "jitter"),
    "rate": lambda v: _rate(v, "rate"),
    "bytes_per_second": lambda v: _size(v, "bytes_per_second"),
    "messages": lambda v: _count(v, "messages", 1, 2**31),
    "every": lambda v: _duration(v, "every"),
    "close_code": _close_code,
    "stall": lambda v: v if isinstance(v, bool) else _bad("stall: expected true or false"),
    "status": lambda v: _count(v, "status", 400, 599),
}


def _bad(message: str) -> Any:
    raise RuleError(message)


def rule_from_json(spec: Any, rule_id: int, base: Rule | None = None) -> Rule:
    """The rule a JSON object describes (``base``: the rule it changes, whose fields stay
    unless given). Raises :class:`RuleError`."""
    if not isinstance(spec, Mapping):
        raise RuleError('expected a JSON object such as {"fault": "drop", "rate": 0.1}')
    fault = spec.get("fault", base.fault if base is not None else None)
    if fault not in FAULTS:
        raise RuleError(f"fault: expected one of {', '.join(FAULTS)}")
    allowed = {"id", "fault", "direction", "path", *_FIELDS[fault]}
    unknown = sorted(str(key)[:40] for key in spec if key not in allowed)
    if unknown:
        raise RuleError(f"{fault} does not take {', '.join(unknown)}")
    if "id" in spec and spec["id"] != rule_id:
        raise RuleError("id: a rule keeps its id")
    values: dict[str, Any] = {}
    if base is not None and base.fault == fault:
        values = {name: getattr(base, name) for name in ("direction", "path", *_FIELDS[fault])}
    elif base is not None:
        values = {"direction": base.direction, "path": base.path}
    direction = spec.get("direction", values.get("direction", "both"))
    if direction not in DIRECTIONS:
        raise RuleError("direction: expected up, down or both")
    if fault in CONNECTION_FAULTS and fault != "disconnect-after" and direction != "both":
        raise RuleError(f"direction: {fault} applies to whole connections (both)")
    path = spec.get("path", values.get("path", "*"))
    if not isinstance(path, str) or not path or len(path) > MAX_PATTERN:
        raise RuleError(f"path: expected a pattern such as /chat or /room-* (≤ {MAX_PATTERN})")
    for name in _FIELDS[fault]:
        if name in spec:
            values[name] = _READERS[name](spec[name])
    values.update(direction=direction, path=path)
    rule = Rule(rule_id, fault, **values)
    _check(rule, spec)
    return rule


def _check(rule: Rule, spec: Mapping[str, Any]) -> None:
    fault = rule.fault
    if fault == "delay" and rule.delay == 0 and rule.jitter == 0:
        raise RuleError("delay: give delay (and jitter), e.g. 80ms")
    if fault in ("drop", "refuse") and "rate" not in spec and rule.rate == 0:
        raise RuleError(f"{fault}: give rate, e.g. 0.1 or 10%")
    if fault == "throttle" and rule.bytes_per_second == 0:
        raise RuleError("throttle: give bytes_per_second, e.g. 64K")
    if fault == "disconnect-after" and rule.messages == 0:
        raise RuleError("disconnect-after: give messages, e.g. 3")
    if fault == "disconnect-every" and rule.every <= 0:
        raise RuleError("disconnect-every: give every, e.g. 30s")


class Rules:
    """The rule set of one proxy run, in the order rules were added."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self.rules: dict[int, Rule] = {rule.id: rule for rule in rules}
        self.next_id = max(self.rules, default=0) + 1
        self.version = 0

    def __iter__(self) -> Any:
        return iter(list(self.rules.values()))

    def get(self, rule_id: int) -> Rule | None:
        return self.rules.get(rule_id)

    def add(self, spec: Any) -> Rule:
        """Add the rule ``spec`` describes; :class:`RuleError` when it cannot be."""
        if len(self.rules) >= MAX_RULES:
            raise RuleError(f"at most {MAX_RULES} rules")
        rule = rule_from_json(spec, self.next_id)
        self.next_id += 1
        self.rules[rule.id] = rule
        self.version += 1
        return rule

    def change(self, rule_id: int, spec: Any) -> Rule:
        """Change the fields ``spec`` gives of rule ``rule_id`` (KeyError: no such rule)."""
        rule = rule_from_json(spec, rule_id, self.rules[rule_id])
        self.rules[rule_id] = rule
        self.version += 1
        return rule

    def remove(self, rule_id: int) -> Rule:
        """Remove rule ``rule_id`` (KeyError: no such rule)."""
        rule = self.rules.pop(rule_id)
        self.version += 1
        return rule

    def matching(self, way: str, path: str) -> tuple[Rule, ...]:
        """The rules that apply to messages going ``way`` on ``path``, in order."""
        return tuple(rule for rule in self.rules.values() if rule.matches(way, path))

    def for_path(self, fault: str, path: str) -> tuple[Rule, ...]:
        """The rules of kind ``fault`` that apply to connections on ``path``."""
        return tuple(
            rule for rule in self.rules.values() if rule.fault == fault and rule.matches_path(path)
        )


def rules_from_config(faults: FaultConfig) -> list[Rule]:
    """The command line's faults as rules 1, 2, ... (``--direction`` and ``--path`` say
    where the message faults and --disconnect-after's count apply)."""
    way: Direction = faults.direction
    path = faults.path
    found: list[Rule] = []

    def add(fault: str, direction: Direction = "both", **values: Any) -> None:
        found.append(Rule(len(found) + 1, fault, direction, path, **values))

    if faults.delay > 0 or faults.jitter > 0:
        add("delay", way, delay=faults.delay, jitter=faults.jitter)
    if faults.drop > 0:
        add("drop", way, rate=faults.drop)
    if faults.throttle is not None:
        add("throttle", way, bytes_per_second=faults.throttle)
    code, stall = faults.close_code, faults.stall
    if faults.disconnect_after is not None:
        add("disconnect-after", way, messages=faults.disconnect_after, close_code=code, stall=stall)
    if faults.disconnect_every is not None:
        add("disconnect-every", every=faults.disconnect_every, close_code=code, stall=stall)
    if faults.stall and faults.disconnect_after is None and faults.disconnect_every is None:
        add("stall")
    if faults.refuse > 0:
        add("refuse", rate=faults.refuse)
    return found
