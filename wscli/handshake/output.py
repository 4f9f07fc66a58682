"""Where `wscli handshake` writes: the exchange on stdout, the verdict and details on stderr.

The one place that decides, for a finished :class:`HandshakeReport`, what goes where:

- ``--json``: one JSON document on stdout, nothing else there;
- stdout a terminal: the readable ``> `` / ``< `` view (colour as the Environment says);
- stdout a pipe: the exact bytes, nothing added;
- stderr: ``--debug`` details, then the verdict (not with ``--json``: it is in the document).
  When stdout is a terminal too, the details of what came before the request (resolving,
  connecting, TLS) are printed before the exchange, so the screen reads in time order, as
  ``curl -v`` does.
"""

from __future__ import annotations

from typing import TextIO

from rich.console import Console

from wscli.handshake.render import (
    json_line,
    raw_output,
    render_debug,
    render_debug_setup,
    render_debug_wire,
    render_exchange,
    render_redirect,
    render_verdict,
)
from wscli.handshake.report import HandshakeReport
from wscli.net.terminal import Environment, make_console


def write_report(
    report: HandshakeReport,
    env: Environment,
    stdout: TextIO,
    stderr: TextIO,
    *,
    json_output: bool = False,
    debug: bool = False,
) -> None:
    """Write ``report`` for ``env``; the caller raises ``report.error`` afterwards.

    A reader that went away (``| head``) does not cost the verdict on stderr: the
    BrokenPipeError is raised again once everything else is written.
    """
    err = make_console(stderr, env.color_stderr)
    in_time_order = debug and env.stdout_isatty and not json_output
    if in_time_order:
        err.print(render_debug_setup(report), end="")
        stderr.flush()
    broken: BrokenPipeError | None = None
    try:
        _write_stdout(report, env, stdout, err, json_output)
    except BrokenPipeError as exc:
        broken = exc
    if in_time_order:
        err.print(render_debug_wire(report), end="")
    elif debug:
        err.print(render_debug(report), end="")
    if report.redirected_to is not None and not json_output:
        err.print(render_redirect(report), end="")
    elif report.verdict is not None and not json_output:
        err.print(render_verdict(report.verdict), end="")
    if broken is not None:
        raise broken


def _write_stdout(
    report: HandshakeReport, env: Environment, stdout: TextIO, err: Console, json_output: bool
) -> None:
    if json_output:
        stdout.write(json_line(report) + "\n")
        stdout.flush()
    elif env.stdout_isatty:
        if report.request_sent or report.offline:
            view = render_exchange(
                report.request, report.response, report.body, body_truncated=report.body_truncated
            )
            make_console(stdout, env.color_stdout).print(view, end="")
    else:
        stdout.flush()
        stdout.buffer.write(raw_output(report))
        stdout.buffer.flush()
        if report.body_truncated:
            # The body was cut anywhere (mid-tag): the note starts a line of its own.
            lead = "" if report.body.endswith(b"\n") else "\n"
            note = f"{lead}(body cut after the first {len(report.body)} bytes)"
            err.print(note, markup=False, highlight=False)
