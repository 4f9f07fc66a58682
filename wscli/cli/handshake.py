"""`wscli handshake URL`: show and verify the raw opening handshake (RFC 6455 §4)."""

from __future__ import annotations

import sys

import click

from wscli.cli.options import command
from wscli.core.errors import UsageProblem
from wscli.core.exitcodes import ExitCode
from wscli.handshake.config import HandshakeConfig

EPILOG = """\b
Examples:
  wscli handshake wss://echo.example.com/
  wscli handshake ws://127.0.0.1:8765/chat -s chat -s superchat --debug
  wscli handshake ws://h/chat --ws-key x3JJHMbDL1EzLkh9GBhXDw== --offline
  wscli handshake --accept-for dGhlIHNhbXBsZSBub25jZQ==

\b
stdout gets the exact request and response head (on a terminal: "> " and "< " lines);
stderr gets the verdict. After a 101 the connection is closed with 1000.

\b
Exit status: 0 valid 101 and clean close, 2 usage, 3 could not connect (DNS, refused, TLS),
4 handshake rejected (non-101, wrong accept, unoffered subprotocol, malformed, oversized or
cut-off response), 5 closed abnormally, 6 a phase timed out."""


@command(HandshakeConfig, short_help="Show and verify the opening handshake.", epilog=EPILOG)
def handshake(config: HandshakeConfig) -> int:
    """Perform the opening handshake with URL and show exactly what went over the wire.

    The request is built by websockets' sans-I/O client, so the bytes shown are the bytes
    sent. permessage-deflate is offered by default, as browsers do (--no-compression to
    leave it out). An -H header wscli sends anyway (e.g. Host) replaces it in place.
    """
    import asyncio

    from wscli.cli.entry import quiet_stdout
    from wscli.cli.group import get_environment
    from wscli.core.accept import accept_for as compute_accept
    from wscli.core.accept import validate_key
    from wscli.handshake.output import write_report
    from wscli.handshake.report import HandshakeReport
    from wscli.handshake.run import run_handshakes
    from wscli.net.client import check_request

    url, accept_for = config.url, config.accept_for
    if accept_for is not None:
        if url is not None:
            raise UsageProblem(
                "--accept-for takes no URL",
                f"it only computes the accept value; {url!r} would be ignored",
                hint="wscli handshake --accept-for KEY, or wscli handshake URL --ws-key KEY",
            )
        click.echo(compute_accept(validate_key(accept_for, "--accept-for")))
        return ExitCode.OK
    if url is None:
        raise UsageProblem("missing URL", hint="wscli handshake URL, or --accept-for KEY")
    check_request(config, url)  # the URL, headers, --auth, TLS files, proxy: as connect does
    if config.ws_key is not None:
        validate_key(config.ws_key)
    env = get_environment()
    closed: list[BrokenPipeError] = []

    def write(report: HandshakeReport) -> None:
        try:
            write_report(
                report,
                env,
                sys.stdout,
                sys.stderr,
                json_output=config.json_output,
                debug=config.debug,
            )
        except BrokenPipeError as exc:
            closed.append(exc)  # the reader went away (`| head`): the verdict still counts

    last = asyncio.run(run_handshakes(config, url, write))
    if closed:
        quiet_stdout()
    if last.error is not None:
        raise last.error
    return ExitCode.OK
