"""The doc generator: man pages, docs/reference.md and --check, generic over the click tree.

Everything iterates over the live command tree, so these tests keep passing as options are
added — once `python -m wscli.docgen --write` has been run and the result committed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO, requires, run_wscli, scaled
from wscli import __version__
from wscli.cli.describe import describe_cli
from wscli.core.exitcodes import EXIT_CODE_DESCRIPTIONS
from wscli.docgen import content
from wscli.docgen.examples import example_problems, invocations
from wscli.docgen.files import COMPLETION_FILES, MAN_DIR, REFERENCE
from wscli.docgen.manpage import PageContext, render_page, wrap_shell
from wscli.docgen.markdown import BEGIN, END
from wscli.docgen.model import CommandDoc, Example, OptionDoc, Variable
from wscli.docgen.roff import escape, paragraphs

ROOT = describe_cli()
COMMANDS = ROOT.walk()
IDS = [c.page for c in COMMANDS]
SECTIONS = (
    "NAME",
    "SYNOPSIS",
    "DESCRIPTION",
    "OPTIONS",
    "EXIT STATUS",
    "ENVIRONMENT",
    "FILES",
    "EXAMPLES",
    "SEE ALSO",
)


def docgen(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wscli.docgen", *args],
        capture_output=True,
        text=True,
        timeout=scaled(30),
        env={**os.environ, **(env or {})},
        check=False,
    )


def normalise(text: str) -> str:
    """Rendered or source text as comparable words: one space, ASCII dashes and quotes."""
    text = re.sub(".\x08", "", text)  # overstrike bold/underline, if man left any
    text = re.sub("[\u2010\u2011\u2012\u2013\u2014\u2212]", "-", text)
    text = re.sub("[\u2018\u2019\u00b4]", "'", text)
    text = re.sub("[\u201c\u201d]", '"', text)
    text = re.sub(r"(\w-)\n\s*(?=\w)", r"\1", text)  # a line broken after a hyphen
    return " ".join(text.split())


def render_man(path: Path) -> str:
    result = subprocess.run(
        ["man", "-l", str(path)],
        capture_output=True,
        text=True,
        timeout=scaled(20),
        env={**os.environ, "MANWIDTH": "80", "MANPAGER": "cat", "PAGER": "cat", "LANG": "C.UTF-8"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def groff_warnings(path: Path) -> str:
    result = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", "-z", str(path)],
        capture_output=True,
        text=True,
        timeout=scaled(20),
        check=False,
    )
    assert result.returncode == 0
    return result.stderr


def help_phrases(text: str) -> list[str]:
    """What must survive rendering: each reflowed paragraph, each line of a \\b block."""
    phrases = []
    for verbatim, lines in paragraphs(text):
        phrases.extend(normalise(line) for line in lines if line.strip())
        assert verbatim or len(lines) == 1
    return phrases


# --- --check and --write ------------------------------------------------------------------


def test_check_passes_on_the_committed_files() -> None:
    # COLUMNS and colour variables must not change a byte (fixed width, no colour).
    result = docgen("--check", env={"COLUMNS": "37", "FORCE_COLOR": "1", "TERM": "xterm"})
    assert result.stdout == "", "run: python -m wscli.docgen --write\n" + result.stdout[:3000]
    assert result.returncode == 0
    assert "warning" not in result.stderr  # no example was left out


def _copy_generated(tmp_path: Path) -> Path:
    for rel in (*COMPLETION_FILES.values(), REFERENCE):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, tmp_path / rel)
    shutil.copytree(REPO / MAN_DIR, tmp_path / MAN_DIR)
    return tmp_path


def test_check_fails_with_a_diff_then_write_repairs(tmp_path: Path) -> None:
    repo = _copy_generated(tmp_path)
    page = repo / MAN_DIR / "wscli.1"
    page.write_text(page.read_text().replace(".SH OPTIONS", ".SH OPTIONZ"))
    (repo / COMPLETION_FILES["fish"]).unlink()
    (repo / MAN_DIR / "wscli-gone.1").write_text(".TH GONE 1\n")

    result = docgen("--check", "--repo", str(repo))
    assert result.returncode == 1
    assert "--- a/man/wscli.1\n+++ b/man/wscli.1\n" in result.stdout
    assert "-.SH OPTIONZ\n+.SH OPTIONS\n" in result.stdout
    assert "+++ b/completions/wscli.fish" in result.stdout
    assert "man/wscli-gone.1: no command generates this page any more" in result.stdout
    assert "python -m wscli.docgen --write" in result.stderr

    result = docgen("--write", "--repo", str(repo))
    assert result.returncode == 0
    assert not (repo / MAN_DIR / "wscli-gone.1").exists()
    assert docgen("--check", "--repo", str(repo)).returncode == 0


def test_check_needs_the_readme_markers(tmp_path: Path) -> None:
    repo = _copy_generated(tmp_path)
    readme = repo / REFERENCE
    readme.write_text(readme.read_text().replace(END, ""))
    result = docgen("--check", "--repo", str(repo))
    assert result.returncode != 0
    assert "docs/reference.md needs the lines" in result.stderr


def test_one_page_per_command_and_nothing_else() -> None:
    pages = sorted(p.name for p in (REPO / MAN_DIR).glob("*.1"))
    assert pages == sorted(f"{c.page}.1" for c in COMMANDS)
    assert {"wscli.1", "wscli-serve.1", "wscli-connect.1", "wscli-handshake.1"} <= set(pages)
    assert "wscli-completion.1" in pages


# --- man pages as rendered by groff and man -------------------------------------------


@requires("groff")
@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_groff_prints_no_warning(command: CommandDoc) -> None:
    assert groff_warnings(REPO / MAN_DIR / f"{command.page}.1") == ""


@requires("man", "groff")
@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_rendered_page_says_what_help_says(command: CommandDoc) -> None:
    """Every option, metavar, default, variable and help word survives groff."""
    text = render_man(REPO / MAN_DIR / f"{command.page}.1")
    words = normalise(text)
    for section in SECTIONS:
        assert f"\n{section}\n" in text, section
    assert f"{command.page} - " in words
    assert normalise(f"{command.name} {command.usage}") in words
    for phrase in help_phrases(command.help):
        assert phrase in words
    for option in command.options:
        for name in option.all_names:
            assert name in words, name
        if option.metavar:
            assert normalise(option.metavar) in words
        for phrase in help_phrases(option.help):
            assert phrase in words, (option.names, phrase)
        if option.default is not None:
            assert normalise(f"Default: {option.default}.") in words
        for var in option.envvars:
            assert f"Environment: {var}" in words or f"Environment: {var}," in words
    for code, meaning in EXIT_CODE_DESCRIPTIONS.items():
        assert re.search(rf"\n {{7}}{int(code)} +{re.escape(meaning[:1].upper())}", text)
        assert normalise(meaning[1:]) in words
    for sub in ROOT.walk():
        if sub is not command:
            assert f"{sub.page}(1)" in words


@requires("man", "groff")
def test_environment_lists_every_variable() -> None:
    declared = {var for c in COMMANDS for o in c.options for var in o.envvars}
    fixed = {"NO_COLOR", "FORCE_COLOR", "WSCLI_TRACEBACK", "XDG_STATE_HOME", "https_proxy"}
    assert "WSCLI_COLOR" in declared
    for command in COMMANDS:
        text = render_man(REPO / MAN_DIR / f"{command.page}.1")
        environment = text.split("\nENVIRONMENT\n", 1)[1].split("\nFILES\n", 1)
        for var in declared | fixed:
            assert var in environment[0]
        assert "$XDG_STATE_HOME/wscli/history" in environment[1]


def test_documented_variables_are_read_by_the_code() -> None:
    """The hand-written ENVIRONMENT list cannot outlive the code that reads a variable."""
    source = "\n".join(
        path.read_text() for path in (REPO / "wscli").rglob("*.py") if path.parent.name != "docgen"
    )
    for variable in content.ENVIRONMENT:
        for name in variable.name.split(", "):
            if not name.endswith("_proxy"):  # read by urllib, see below
                assert f'"{name}"' in source, name
    # The *_proxy variables (and no_proxy): urllib's own reading of them, in net/tunnel.py.
    assert "urllib.request.getproxies_environment()" in source
    assert "proxy_bypass_environment" in source


@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_help_shows_the_same_options_and_defaults(command: CommandDoc) -> None:
    """`--help` (the real entry point) and the pages come from the same definitions."""
    result = run_wscli(*command.path[1:], "--help")
    assert result.returncode == 0
    words = normalise(result.stdout.decode())
    for option in command.options:
        for name in option.all_names:
            assert name in words
        if option.default is not None:
            assert normalise(f"default: {option.default}") in words
        for var in option.envvars:
            assert f"env var: {var}" in words


def test_pages_are_pinned_to_the_version_and_date() -> None:
    for command in COMMANDS:
        source = (REPO / MAN_DIR / f"{command.page}.1").read_text()
        header = next(line for line in source.splitlines() if line.startswith(".TH "))
        assert f'"{escape(content.MANUAL_DATE)}"' in header
        assert f'"wscli {__version__}"' in header
        assert "\x1b" not in source


# --- escaping ---------------------------------------------------------------------------


def test_escape_shields_requests_backslashes_and_hyphens() -> None:
    assert escape(".hidden") == "\\&.hidden"
    assert escape("'quoted") == "\\(aqquoted"
    assert escape("a\\b") == "a\\eb"
    assert escape("--color") == "\\-\\-color"
    assert escape("caf\u00e9 \u2713") == "caf\\[u00E9] \\[u2713]"
    assert escape("tab\there\x1b[31m") == "tab here[31m"


TRICKY = (
    ".TH this line would be a request",
    "'br and this one a no-break request",
    "a backslash C:\\temp\\new and \\fBnot bold\\fR and \\\\ two",
    "quotes \"double\" 'single' `back`, dashes - -- ---",
)


@requires("man", "groff")
def test_tricky_help_text_survives_rendering(tmp_path: Path) -> None:
    """Lines starting with ' or ., backslashes: the words come out as written."""
    help_text = "\n\n".join(TRICKY) + "\n\n\b\n.verbatim line\n'another\n  indented \\ line"
    option = OptionDoc(names=("-t", "--tricky"), help=help_text, metavar="'A\\B'", default=".5")
    command = CommandDoc(
        path=("wscli", "tricky"),
        short_help="'quoted .short help",
        help=help_text,
        usage="[OPTIONS] 'ARG'",
        options=(option,),
    )
    root = CommandDoc(path=("wscli",), short_help="x", help="x", usage="", subcommands=(command,))
    page = PageContext(
        version="9.9",
        date="2000-01-01",
        title="t",
        exit_codes=[(0, "ok")],
        environment=[Variable(".DOT_VAR", "starts with a dot")],
        files=[Variable("'~/.quoted'", "\\ backslash first")],
    )
    example = Example("wscli tricky -t '\\.x' | grep -F '\\'", ".explained\n'quoted")
    path = tmp_path / "wscli-tricky.1"
    path.write_text(render_page(command, root, page, [example]))

    assert groff_warnings(path) == ""
    words = normalise(render_man(path))
    for phrase in (*TRICKY, ".verbatim line", "'another", "indented \\ line"):
        assert normalise(phrase) in words
    assert words.count(normalise(TRICKY[2])) == 2  # in DESCRIPTION and under the option
    for phrase in (
        "-t, --tricky 'A\\B'",
        "Default: .5.",
        "wscli-tricky - 'quoted .short help",
        "wscli tricky [OPTIONS] 'ARG'",
        ".DOT_VAR starts with a dot",
        "'~/.quoted' \\ backslash first",
        "wscli tricky -t '\\.x' | grep -F '\\'",
        ".explained 'quoted",
    ):
        assert normalise(phrase) in words, phrase


def test_long_example_lines_are_continued_outside_quotes() -> None:
    line = "wscli handshake -H 'Host: a very long header value with spaces' " + "-s x " * 20
    lines = wrap_shell(line.strip(), width=40)
    assert len(lines) > 3
    assert all(text.endswith(" \\") for text in lines[:-1])
    assert any("'Host: a very long header value with spaces'" in text for text in lines)
    joined = " ".join(text.removesuffix(" \\").strip() for text in lines)
    assert joined == " ".join(line.split())


# --- examples ---------------------------------------------------------------------------


def test_every_example_uses_real_options() -> None:
    for name, examples in content.EXAMPLES.items():
        assert name in {c.name for c in COMMANDS}, f"examples for unknown command {name}"
        for example in examples:
            assert example_problems(example, ROOT) == [], example.command


def help_examples(command: CommandDoc) -> list[str]:
    """The lines of the "Examples:" paragraphs of a command's --help epilog."""
    found = []
    for verbatim, lines in paragraphs(command.epilog):
        if verbatim and lines[0].strip().lower() == "examples:":
            found += [line.strip() for line in lines[1:] if line.strip()]
    return found


def test_help_examples_use_real_options() -> None:
    lines = [line for command in COMMANDS for line in help_examples(command)]
    assert "wscli handshake --accept-for dGhlIHNhbXBsZSBub25jZQ==" in lines
    for line in lines:
        assert example_problems(Example(line, ""), ROOT) == [], line


def test_the_main_commands_help_ends_with_examples() -> None:
    """connect, serve, proxy and handshake: three or four examples in --help."""
    counts = {command.name: len(help_examples(command)) for command in COMMANDS}
    for name in ("wscli connect", "wscli serve", "wscli proxy", "wscli handshake"):
        assert 3 <= counts[name] <= 4, (name, counts[name])
    serve = next(command for command in COMMANDS if command.name == "wscli serve")
    assert "/admission" in serve.epilog  # every endpoint is listed


def test_pages_show_examples_once() -> None:
    """The EXAMPLES section has them; the --help "Examples:" block is not repeated."""
    for command in COMMANDS:
        page = (REPO / MAN_DIR / f"{command.page}.1").read_text()
        assert "Examples:" not in page, command.page


def test_every_command_has_examples() -> None:
    for command in COMMANDS:
        assert content.EXAMPLES.get(command.name), "add examples to wscli/docgen/content.py"


@requires("man", "groff")
def test_the_issue_examples_are_in_the_pages() -> None:
    def page(name: str) -> str:
        # the EXAMPLES section, shell line continuations joined
        text = render_man(REPO / MAN_DIR / f"{name}.1").split("\nEXAMPLES\n", 1)[1]
        return normalise(text).replace(" \\ ", " ")

    assert "--ws-key x3JJHMbDL1EzLkh9GBhXDw==" in page("wscli-handshake")
    assert "-s chat -s superchat" in page("wscli-handshake")
    assert "| wscli connect ws://" in page("wscli-connect")
    serve = page("wscli-serve")
    assert "--certfile cert.pem --keyfile key.pem" in serve
    assert "--token" in serve


def test_example_checker_finds_false_options() -> None:
    assert invocations("echo hi | wscli connect ws://x > out; source <(wscli completion zsh)") == [
        ["connect", "ws://x"],
        ["completion", "zsh"],
    ]
    good = Example("wscli --color never completion bash | head", "x")
    assert example_problems(good, ROOT) == []
    bad = Example("wscli completion --no-such bash && wscli nosuch", "x")
    assert example_problems(bad, ROOT) == [
        "wscli completion has no option --no-such",
        "wscli has no command nosuch",
    ]
    # an option's value is not taken for an option, even when it starts with a dash
    assert example_problems(Example("wscli --color=never --color -x completion", "x"), ROOT) == []
    assert example_problems(Example("echo nothing", "x"), ROOT) == [
        "no wscli invocation in 'echo nothing'"
    ]


# --- README and docs/ -------------------------------------------------------------------------


def _readme() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


def test_reference_lists_every_option() -> None:
    reference = (REPO / REFERENCE).read_text(encoding="utf-8").split(BEGIN, 1)[1].split(END, 1)[0]
    sections = re.split(r"^## ", reference, flags=re.M)[1:]
    by_command = {s.split("\n", 1)[0].strip("`"): s for s in sections}
    assert set(by_command) == {c.name for c in COMMANDS}
    for command in COMMANDS:
        section = by_command[command.name]
        for option in command.options:
            for name in option.all_names:
                assert re.search(rf"`{re.escape(name)}[` ]", section), (command.name, name)
            for var in option.envvars:
                assert var in section
            if option.default is not None:
                assert f"Default: {option.default}." in section


def test_readme_exit_code_table_matches_exitcodes() -> None:
    table = _readme().split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| *(\d+) *\| *(.+?) *\|$", table, flags=re.M)
    assert [(int(code), text) for code, text in rows] == [
        (int(code), text) for code, text in EXIT_CODE_DESCRIPTIONS.items()
    ]


def test_readme_documents_the_doc_commands() -> None:
    readme = _readme()
    development = (REPO / "docs" / "development.md").read_text(encoding="utf-8")
    assert "python -m wscli.docgen --write" in development
    assert "python -m wscli.docgen --check" in development
    for shell in ("bash", "zsh", "fish"):
        assert f"wscli completion {shell}" in readme


def test_wheel_installs_the_generated_files() -> None:
    """pyproject's shared-data maps every generated file to where shells and man look."""
    pyproject = (REPO / "pyproject.toml").read_text()
    table = pyproject.split("[tool.hatch.build.targets.wheel.shared-data]", 1)[1]
    table = table.split("\n[", 1)[0]
    mapping = dict(re.findall(r'^"([^"]+)" = "([^"]+)"$', table, flags=re.M))
    assert mapping == {
        COMPLETION_FILES["bash"]: "share/bash-completion/completions/wscli",
        COMPLETION_FILES["zsh"]: "share/zsh/site-functions/_wscli",
        COMPLETION_FILES["fish"]: "share/fish/vendor_completions.d/wscli.fish",
        MAN_DIR: "share/man/man1",
    }
    sdist = re.search(r"^include = \[(.*)\]$", pyproject.split("targets.sdist]", 1)[1], re.M)
    assert sdist is not None
    assert '"completions"' in sdist.group(1) and '"man"' in sdist.group(1)
