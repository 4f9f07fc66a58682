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
import os
import re
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
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

# wscli remembers the URLs it opened and the prompt's history under XDG_STATE_HOME. Before
# any test runs (session fixtures start servers and clients too), point it away from the
# tester's own; each test then gets a folder of its own (state_home below).
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="wscli-test-state-")


@pytest.fixture(autouse=True)
def state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test's own XDG_STATE_HOME, in this process and in every wscli it starts
    (``support.clean_env`` copies it): a test never writes into the tester's URL history,
    and no test sees another's."""
    path = tmp_path_factory.mktemp("state")
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


def _is_ours(thing: Any) -> bool:
    """A function or class defined under tests/ (the library's own code is not followed)."""
    module = sys.modules.get(getattr(thing, "__module__", "") or "")
    where = getattr(module, "__file__", None)
    return where is not None and Path(where).resolve().is_relative_to(TESTS)


class _ProcessReader:
    """Whether a test reaches code that starts a process; each helper read once."""

    def __init__(self) -> None:
        self.known: dict[int, bool] = {}

    def starts(self, thing: Any) -> bool:
        # A Hypothesis test is read through its documented inner test.
        inner = getattr(getattr(thing, "hypothesis", None), "inner_test", None)
        thing = inspect.unwrap(inner or thing)
        if not (inspect.isfunction(thing) or inspect.isclass(thing)) or not _is_ours(thing):
            return False
        if id(thing) in self.known:
            return self.known[id(thing)]
        self.known[id(thing)] = False  # a helper that reaches itself
        try:
            source = inspect.getsource(thing)
        except (OSError, TypeError):
            return False
        own = vars(sys.modules[thing.__module__])
        found = bool(STARTS_A_PROCESS.search(source)) or any(
            self.starts(own[name]) for name in _names(source) if name in own
        )
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
