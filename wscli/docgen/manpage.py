"""Man pages (section 1) from :class:`~wscli.docgen.model.CommandDoc` (pure groff text).

One page per command: NAME, SYNOPSIS, DESCRIPTION, (COMMANDS), OPTIONS, EXIT STATUS,
ENVIRONMENT, FILES, EXAMPLES, SEE ALSO. Hyphenation is off and text left-aligned so the
rendered page reads (and compares) like the help text.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from wscli.docgen.model import CommandDoc, Example, OptionDoc, Variable
from wscli.docgen.roff import bold, escape, italic, quote_arg, text_block

EXAMPLE_WIDTH = 72
"""Example command lines longer than this are continued with a backslash."""


@dataclasses.dataclass(frozen=True)
class PageContext:
    """What every page shares: version, date, and the hand-written sections."""

    version: str
    date: str
    title: str
    exit_codes: Sequence[tuple[int, str]]
    environment: Sequence[Variable]
    files: Sequence[Variable]
    see_also_external: Sequence[str] = ()


def collect_environment(root: CommandDoc, fixed: Sequence[Variable]) -> tuple[Variable, ...]:
    """The fixed variables, then every variable an option reads, merged by name."""
    uses: dict[str, list[str]] = {}
    for command in root.walk():
        for option in command.options:
            for var in option.envvars:
                uses.setdefault(var, []).append(f"{option.names[-1]} of {command.name}")
    known = {v.name for v in fixed}
    collected = [
        Variable(var, "Default for " + " and ".join(where) + ".")
        for var, where in uses.items()
        if var not in known
    ]
    return (*fixed, *collected)


OWN_SECTIONS = ("exit status", "examples")
"""Epilog paragraphs the page leaves out: its EXIT STATUS and EXAMPLES sections say more."""


def epilog_for_page(text: str) -> str:
    """Help text minus its "Exit status" and "Examples" paragraphs (see OWN_SECTIONS)."""
    kept = []
    for block in re.split(r"\n[ \t]*\n", text.strip("\n")):
        first = block.replace("\b", "").strip().lower()
        if not first.startswith(OWN_SECTIONS):
            kept.append(block)
    return "\n\n".join(kept).strip()


def short_description(command: CommandDoc) -> str:
    """The NAME line's description: short help without a ``wscli:`` prefix or final dot."""
    text = command.short_help.strip()
    prefix = f"{command.path[-1]}: "
    if text.startswith(prefix):
        text = text[len(prefix) :]
    return text.rstrip(".")


def option_tag(option: OptionDoc) -> str:
    """The ``.TP`` tag of an option: its spellings in bold, the metavar in italics."""

    def spell(names: Sequence[str]) -> str:
        text = ", ".join(bold(name) for name in names)
        if option.metavar:
            text += " " + italic(option.metavar)
        return text

    tag = spell(option.names)
    if option.secondary_names:
        tag += " / " + spell(option.secondary_names)
    return tag


def option_details(option: OptionDoc) -> str:
    """One sentence list of the facts ``--help`` shows in brackets, and a few more."""
    facts: list[str] = []
    if option.choices:
        facts.append("One of: " + ", ".join(option.choices) + ".")
    if option.value_range:
        facts.append(f"Range: {option.value_range}.")
    if option.default is not None:
        facts.append(f"Default: {option.default}.")
    if option.envvars:
        facts.append("Environment: " + ", ".join(option.envvars) + ".")
    if option.multiple and "repeatable" not in option.help.lower():
        facts.append("Repeatable.")
    if option.required:
        facts.append("Required.")
    return " ".join(facts)


def wrap_shell(line: str, width: int = EXAMPLE_WIDTH) -> list[str]:
    """Split a shell line at unquoted spaces into lines of at most ``width`` (where possible),
    each but the last ending in a `` \\`` continuation."""
    words: list[str] = []
    current: list[str] = []
    quote = ""
    for char in line:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == " ":
            words.append("".join(current))
            current = []
            continue
        current.append(char)
    words.append("".join(current))
    lines: list[str] = []
    for word in (w for w in words if w):
        if lines and len(lines[-1]) + 1 + len(word) <= width - 2:
            lines[-1] += " " + word
        else:
            lines.append(word if not lines else "  " + word)
    return [text + " \\" for text in lines[:-1]] + lines[-1:]


def _section(name: str) -> list[str]:
    return [f".SH {quote_arg(name)}" if " " in name else f".SH {name}"]


def _tagged(tag: str, body: list[str]) -> list[str]:
    return [".TP", tag, *body]


def render_page(
    command: CommandDoc,
    root: CommandDoc,
    page: PageContext,
    examples: Sequence[Example] = (),
) -> str:
    """The groff source of ``command``'s man page; ``root`` supplies global options and the
    list of sibling pages for SEE ALSO."""
    out: list[str] = [
        '.\\" Generated by `python -m wscli.docgen --write` from the click definitions.',
        '.\\" Do not edit: change the CLI (or wscli/docgen/content.py) and regenerate.',
        ".TH "
        + " ".join(
            quote_arg(text)
            for text in (
                command.page.upper(),
                "1",
                page.date,
                f"wscli {page.version}",
                page.title,
            )
        ),
        ".nh",
        ".ad l",
    ]
    out += _section("NAME")
    out.append(f"{escape(command.page)} \\- {escape(short_description(command))}")

    out += _section("SYNOPSIS")
    out.append(f"{bold(command.name)} {escape(command.usage)}")

    out += _section("DESCRIPTION")
    out += text_block(command.help or short_description(command) + ".")
    epilog = epilog_for_page(command.epilog)
    if epilog:
        out.append(".PP")
        out += text_block(epilog)

    if command.subcommands:
        out += _section("COMMANDS")
        for sub in command.subcommands:
            body = text_block(short_description(sub) + ".")
            body.append(f"See {bold(sub.page)}(1).")
            out += _tagged(bold(sub.name), body)

    documented_arguments = [a for a in command.arguments if a.help]
    if documented_arguments:
        out += _section("ARGUMENTS")
        for argument in documented_arguments:
            out += _tagged(italic(argument.metavar), text_block(argument.help))

    out += _section("OPTIONS")
    for option in command.options:
        body = text_block(option.help)
        details = option_details(option)
        if details:
            if body:
                body.append(".sp")
            body.append(escape(details))
        out += _tagged(option_tag(option), body)
    if command is not root:
        global_names = [
            o.names[-1] for o in root.options if o.names[-1] not in ("--help", "--version")
        ]
        if global_names:
            out.append(".PP")
            out.append(
                "Options of "
                + bold(root.name)
                + " itself ("
                + ", ".join(bold(n) for n in global_names)
                + ") go before the command name; see "
                + bold(root.page)
                + "(1)."
            )

    out += _section("EXIT STATUS")
    for code, meaning in page.exit_codes:
        out += _tagged(bold(str(code)), [escape(meaning[:1].upper() + meaning[1:] + ".")])

    out += _section("ENVIRONMENT")
    for variable in page.environment:
        out += _tagged(bold(variable.name), text_block(variable.meaning))

    out += _section("FILES")
    for file in page.files:
        out += _tagged(italic(file.name), text_block(file.meaning))

    if examples:
        out += _section("EXAMPLES")
        for example in examples:
            out.append(".PP")
            out += text_block(example.explanation)
            out += [".PP", ".RS 4", ".nf"]
            out += [escape(line) for line in wrap_shell(example.command)]
            out += [".fi", ".RE"]

    out += _section("SEE ALSO")
    pages = [c.page for c in root.walk() if c.page != command.page]
    refs = [f"{bold(name)}(1)" for name in pages]
    refs += [f"{bold(ref.split('(')[0])}({ref.split('(', 1)[1]}" for ref in page.see_also_external]
    out.append(", ".join(refs))
    out.append(".PP")
    out.append("RFC 6455, The WebSocket Protocol.")
    return "\n".join(out) + "\n"
