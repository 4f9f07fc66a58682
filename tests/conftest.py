"""pytest configuration and fixtures shared by every test folder. Shared helpers are the package
``tests.support`` (``from tests.support import scaled``, ``from tests.support.serve_process import
ServeProcess``); a folder's own helpers sit beside its tests, imported by package path too
(``from tests.serve.serve_helpers import recv``): pytest puts the repository on ``sys.path``.

``slow`` is placed by a rule, not by hand: a test is slow when it starts a process (wscli itself,
a browser, redis-server, a peer client, a pty) or measures that its time is linear in its input
(sizes n and 8n, best of several runs), directly or through a fixture or helper of the tests.
(The few other in-process tests that take seconds carry the mark themselves.)
``pytest -m "not slow"`` is the quick subset: pure and in-process tests."""

from __future__ import annotations

import ast
import inspect
import linecache
import os
import re
import signal
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

import pytest
import trustme
from hypothesis import settings

# Property-based tests: a modest number of examples per test in the default run; a
# nightly-style run sets WSCLI_HYPOTHESIS_PROFILE=nightly for many more. No per-example
# deadline: time is checked by size ratios (tests/support/linear.py), never by the wall clock (an
# example took 296 ms against Hypothesis's default 200 ms at load 18).
settings.register_profile("default", max_examples=60, deadline=None)
settings.register_profile("nightly", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("WSCLI_HYPOTHESIS_PROFILE", "default"))

# Tests send SIGINT to the wscli processes they start, as Ctrl-C would. A runner started in
# the background by a script (``cmd &``, nohup) inherits SIGINT ignored, Python keeps it so,
# and so would every wscli started from here: Ctrl-C tests then saw exit 0 instead of 130.
# A handler (not SIG_IGN) becomes the default again in every process started from here.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Compiled test modules are cached across runs, outside the checkout, even where
# PYTHONDONTWRITEBYTECODE is set (as on the team's machines): without the cache every pytest
# process, and each xdist worker, re-did pytest's assertion rewriting of the ~140 test modules
# and compiled wscli afresh, 8.6 s of CPU per process against 3 s with it (pytest 9.2, load 2).
# Only this process is affected: the wscli processes the tests start keep the environment.
# Each file is checked against its source's size and time as usual (and pytest's own against
# its version); the folder mirrors the absolute paths, so checkouts never share an entry.
if sys.dont_write_bytecode and not sys.pycache_prefix:
    sys.pycache_prefix = str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "wscli-tests" / "pyc"
    )
    sys.dont_write_bytecode = False

# wscli remembers the URLs it opened and the prompt's history under XDG_STATE_HOME. Before
# any test runs (session fixtures start servers and clients too), point it away from the
# tester's own; each test then gets a folder of its own (state_home below).
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="wscli-test-state-")


WORKERS = 4
"""The whole suite's xdist workers: most of its tests wait on processes and sockets, not the
CPU, so two a core on the 2-core machine it is tuned on."""


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """How many workers ``-n auto`` (pyproject's addopts) starts: :data:`WORKERS` for the
    whole suite, one a core (at most as many) for the quick subset, ``-m "not slow"``, whose
    in-process tests mostly use the CPU. Each worker collects the whole suite itself: 1.5 s of
    CPU, or 5 s when no bytecode is cached (PYTHONDONTWRITEBYTECODE), most of it pytest's
    assertion rewriting. On 2 cores at load 4-5 the quick subset took 51-58 s with 4 workers,
    51 s with 3 and 30-42 s with 2."""
    if "not slow" in (config.option.markexpr or ""):
        return max(1, min(os.cpu_count() or 1, WORKERS))
    return WORKERS


@pytest.fixture(scope="session")
def state_homes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of every test's XDG_STATE_HOME in this worker."""
    return tmp_path_factory.mktemp("state")


@pytest.fixture(autouse=True)
def state_home(state_homes: Path) -> Iterator[Path]:
    """Every test's own XDG_STATE_HOME, in this process and in every wscli it starts
    (``support.clean_env`` copies it): a test never writes into the tester's URL history,
    and no test sees another's. (mkdtemp: pytest's numbered folders list their parent at
    each call, which grows quadratically over a worker's ~500 tests.)"""
    path = Path(tempfile.mkdtemp(dir=state_homes))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_STATE_HOME", str(path))
        yield path


TESTS = Path(__file__).resolve().parent
# What makes a test slow, as it reads in a test's source or in the helpers it reaches: starting
# a process, or timing runs at growing sizes (tests/support/linear.py, support.growth, own clocks).
STARTS_A_PROCESS = re.compile(
    r"\b(subprocess|Popen|pexpect|create_subprocess_exec|create_subprocess_shell|sync_playwright"
    r"|assert_linear|best_time|growth|perf_counter|process_time)\b"
)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """One throwaway certificate authority for every TLS test of a worker."""
    return trustme.CA()


def _names(source: str) -> set[str]:
    tree = ast.parse(textwrap.dedent(source))
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _codes(code: CodeType) -> Iterator[CodeType]:
    """A function's code object and those of the functions, lambdas and comprehensions in it."""
    yield code
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            yield from _codes(constant)


def _function_text(function: Any) -> str:
    """A function's source, decorators included (its code starts at the first one)."""
    codes = list(_codes(function.__code__))
    last = max(line for code in codes for _, _, line in code.co_lines() if line is not None)
    first = function.__code__.co_firstlineno
    return "".join(linecache.getlines(function.__code__.co_filename)[first - 1 : last])


def _class_text(cls: type) -> str:
    """A class's source, decorators included: its ``class`` line and the lines indented
    below it. ``inspect.getsource`` parses the whole module again for each class: 0.3 s of
    each xdist worker's collection for 38 classes. Where the name is not found once, that."""
    lines = linecache.getlines(inspect.getsourcefile(cls) or "")
    heading = re.compile(rf"( *)class {re.escape(cls.__name__)}\b")
    found = [(index, match) for index, line in enumerate(lines) if (match := heading.match(line))]
    if len(found) != 1:
        return inspect.getsource(cls)
    (start, match), indent = found[0], len(found[0][1][1])
    first = start
    while first > 0 and lines[first - 1].startswith(" " * indent + "@"):
        first -= 1
    end = start + 1
    while end < len(lines) and (
        not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip(" ")) > indent
    ):
        end += 1
    return "".join(lines[first:end])


def _globals_used(function: Any, source: str, wanted: AbstractSet[str]) -> set[str]:
    """Which of ``wanted`` a function loads as globals: names its code uses (co_names, which
    mix globals with attribute names) that its source also spells outside an attribute
    (``match.start`` is not the helper ``start``). Reading the instructions instead (dis)
    cost 2.4 s."""
    used = {name for code in _codes(function.__code__) for name in code.co_names} & wanted
    return {name for name in used if re.search(rf"(?<![\w.]){re.escape(name)}\b", source)}


class _ProcessReader:
    """Whether a test reaches code that starts a process; each helper read once.

    A function is read from its compiled code (its lines, the names it uses), not parsed
    again: ``inspect.getsource`` then ``ast.parse`` of every definition cost 1.3 s of CPU in
    each xdist worker's collection, this 0.3 s. A class (there are few) is parsed."""

    def __init__(self) -> None:
        self.known: dict[int, bool] = {}
        self.ours: dict[str, bool] = {}
        self.helpers: dict[str, frozenset[str]] = {}

    def _ours(self, thing: Any) -> Any:
        """``thing`` (a Hypothesis test: its documented inner test) when it is a function or
        class defined under tests/ (the library's own code is not followed), else None."""
        inner = getattr(getattr(thing, "hypothesis", None), "inner_test", None)
        thing = inspect.unwrap(inner or thing)
        if not (inspect.isfunction(thing) or inspect.isclass(thing)):
            return None
        name = getattr(thing, "__module__", "") or ""
        if name not in self.ours:
            where = getattr(sys.modules.get(name), "__file__", None)
            self.ours[name] = where is not None and Path(where).resolve().is_relative_to(TESTS)
        return thing if self.ours[name] else None

    def _helpers(self, module: str) -> frozenset[str]:
        """The names of a module's globals that are functions or classes of the tests."""
        if module not in self.helpers:
            own = vars(sys.modules[module])
            found = [name for name, value in own.items() if self._ours(value) is not None]
            self.helpers[module] = frozenset(found)
        return self.helpers[module]

    def starts(self, thing: Any) -> bool:
        thing = self._ours(thing)
        if thing is None:
            return False
        if id(thing) in self.known:
            return self.known[id(thing)]
        self.known[id(thing)] = False  # a helper that reaches itself
        try:
            function = inspect.isfunction(thing)
            source = _function_text(thing) if function else _class_text(thing)
        except (OSError, TypeError):
            return False
        found = bool(STARTS_A_PROCESS.search(source))
        if not found:
            helpers = self._helpers(thing.__module__)
            read = _globals_used(thing, source, helpers) if function else _names(source) & helpers
            own = vars(sys.modules[thing.__module__])
            found = any(self.starts(own[name]) for name in read)
        self.known[id(thing)] = found
        return found

    def fixture(self, name: str, modules: list[ModuleType]) -> Any:
        for module in modules:
            if name in vars(module):
                return vars(module)[name]
        return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reader = _ProcessReader()
    conftests = [
        module
        for name, module in sys.modules.items()
        if name.endswith("conftest")
        and Path(getattr(module, "__file__", "/")).is_relative_to(TESTS)
    ]
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        module = item.module
        reached = [item.function] + [
            fixture
            for name in item.fixturenames
            if (fixture := reader.fixture(name, [m for m in (module, *conftests) if m])) is not None
        ]
        if any(reader.starts(thing) for thing in reached):
            item.add_marker(pytest.mark.slow)
