"""Which files the generator owns and what they must contain; writing and checking them.

The only module of :mod:`wscli.docgen` that touches the file system (and the click tree,
through :mod:`wscli.cli.describe`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from pathlib import Path

from wscli import __version__
from wscli.core.exitcodes import EXIT_CODE_DESCRIPTIONS
from wscli.docgen import content
from wscli.docgen.examples import example_problems
from wscli.docgen.manpage import PageContext, collect_environment, render_page
from wscli.docgen.markdown import render_reference, replace_reference
from wscli.docgen.model import CommandDoc, Example

REPO = Path(__file__).resolve().parent.parent.parent
"""The source tree this module sits in (an editable install or a clone)."""

COMPLETION_FILES = {
    "bash": "completions/wscli.bash",
    "zsh": "completions/_wscli",
    "fish": "completions/wscli.fish",
}
MAN_DIR = "man"
REFERENCE = "docs/reference.md"

Warn = Callable[[str], None]


def _ignore(message: str) -> None:
    pass


def page_context(root: CommandDoc) -> PageContext:
    """Version, date and the hand-written sections shared by every page."""
    return PageContext(
        version=__version__,
        date=content.MANUAL_DATE,
        title=content.MANUAL_TITLE,
        exit_codes=[(int(code), text) for code, text in EXIT_CODE_DESCRIPTIONS.items()],
        environment=collect_environment(root, content.ENVIRONMENT),
        files=content.FILES,
        see_also_external=content.SEE_ALSO_EXTERNAL,
    )


def true_examples(command: CommandDoc, root: CommandDoc, warn: Warn) -> list[Example]:
    """The command's examples whose options exist; the others are reported and left out."""
    kept = []
    for example in content.EXAMPLES.get(command.name, ()):
        problems = example_problems(example, root)
        if problems:
            warn(f"example left out of {command.page}.1: {'; '.join(problems)}")
        else:
            kept.append(example)
    return kept


def render_files(
    root: CommandDoc, scripts: Mapping[str, str], readme: str, warn: Warn = _ignore
) -> dict[str, str]:
    """Every generated file (path relative to the repository -> text); no I/O."""
    page = page_context(root)
    files = {COMPLETION_FILES[shell]: text for shell, text in scripts.items()}
    for command in root.walk():
        examples = true_examples(command, root, warn)
        files[f"{MAN_DIR}/{command.page}.1"] = render_page(command, root, page, examples)
    files[REFERENCE] = replace_reference(readme, render_reference(root))
    return files


def expected_files(repo: Path = REPO, warn: Warn = _ignore) -> dict[str, str]:
    """What the generated files must contain now, from the live click definitions."""
    from wscli.cli.completion import completion_script
    from wscli.cli.describe import describe_cli

    scripts = {shell: completion_script(shell) for shell in COMPLETION_FILES}
    readme = (repo / REFERENCE).read_text(encoding="utf-8")
    return render_files(describe_cli(), scripts, readme, warn)


def _stale_pages(repo: Path, expected: Mapping[str, str]) -> list[str]:
    """Man pages in man/ that no command produces any more."""
    return sorted(
        f"{MAN_DIR}/{path.name}"
        for path in (repo / MAN_DIR).glob("*.1")
        if f"{MAN_DIR}/{path.name}" not in expected
    )


def check(repo: Path = REPO, warn: Warn = _ignore) -> str:
    """A unified diff between the files on disk and what they should be ("" = up to date)."""
    expected = expected_files(repo, warn)
    diffs: list[str] = []
    for rel, text in expected.items():
        path = repo / rel
        actual = path.read_text(encoding="utf-8") if path.exists() else ""
        if actual != text:
            diffs.extend(
                difflib.unified_diff(
                    actual.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    fromfile=f"a/{rel}",
                    tofile=f"b/{rel}",
                )
            )
    for rel in _stale_pages(repo, expected):
        diffs.append(f"{rel}: no command generates this page any more\n")
    return "".join(diffs)


def write(repo: Path = REPO, warn: Warn = _ignore) -> list[str]:
    """Bring the generated files up to date; return the paths that changed."""
    expected = expected_files(repo, warn)
    changed: list[str] = []
    for rel, text in expected.items():
        path = repo / rel
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(rel)
    for rel in _stale_pages(repo, expected):
        (repo / rel).unlink()
        changed.append(rel)
    return changed
