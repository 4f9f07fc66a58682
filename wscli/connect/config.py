"""What `wscli connect` is told: each of its options declared once, as a field of the config
that the code reading it takes (pure data; see :mod:`wscli.core.options`).

- :class:`~wscli.core.clientoptions.ConnectOptions`: the connection (shared with other
  client commands);
- :class:`SessionOptions`: around it: reconnects, redirects, Socket.IO
  (:class:`SocketIOOptions`);
- :class:`PipePolicy` and :class:`ReplOptions`: the pipe and the prompt; both obey the
  :class:`ScriptOptions`, and the prompt shows messages as the :class:`OutputOptions` say
  (the pipe's writer reads them too);
- :class:`ConnectConfig`: the command, all of the above.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from wscli.core.clientoptions import ConnectOptions, JsonOption
from wscli.core.errors import UsageProblem
from wscli.core.options import (
    FLAG,
    Choice,
    Integer,
    Seconds,
    declared,
    fixed,
    group,
    option,
)

TransportChoice = Literal["auto", "websocket", "polling"]
BinaryInput = Literal["raw", "base64", "hex"]

# Counted from the last message sent (or received), not from stdin's end: `echo x |` ends
# stdin before the connection is open, and starting wscli took up to 3.8 s of a run on the
# loaded test machine (load 19), which used up the old 0.5 s before the request even went
# out. Measured from the send, replies of wscli serve and Node ws on loopback came within
# 3 ms (p50) and 135 ms (the slowest of 80) at load 19; a round trip between continents
# adds about 300 ms. 1 s covers both with room for the server's work; a slower server is
# no longer lost without a word (exit 8, "no reply"). A request/response script should say
# -n 1 and end at the reply.
DEFAULT_IDLE: Final = 1.0


def _json_argument(text: str, option: str, expected: type[Any], example: str) -> Any:
    # Imported when a value is read, not when `wscli --help` loads the declarations.
    from wscli.core.socketio import loads_bounded

    try:
        value = loads_bounded(text)
    except ValueError as exc:
        raise UsageProblem(f"invalid {option}", f"not JSON: {exc}") from None
    if not isinstance(value, expected):
        raise UsageProblem(f"invalid {option}", example)
    return value


def parse_ack_reply(text: str) -> list[Any]:
    """``--ack-reply``: a JSON array of arguments."""
    reply: list[Any] = _json_argument(
        text, "--ack-reply", list, "expected a JSON array of arguments, e.g. []"
    )
    return reply


def parse_handshake_auth(text: str | None) -> dict[str, Any] | None:
    """``--handshake-auth``: a JSON object, the Socket.IO CONNECT packet's payload."""
    if text is None:
        return None
    auth: dict[str, Any] = _json_argument(text, "--handshake-auth", dict, "expected a JSON object")
    return auth


@declared
class SocketIOOptions:
    """``--socketio``: namespace, event, how lines become arguments, acknowledgements."""

    namespace: str = option(
        "--namespace", metavar="NAME", default="/", help="Socket.IO namespace to join."
    )
    event: str = option(
        "--event",
        metavar="NAME",
        default="message",
        help="Socket.IO event name for sent lines.",
    )
    emit: tuple[str, ...] = option(
        "--emit",
        multiple=True,
        metavar="EVENT",
        default=(),
        help="Socket.IO: emit EVENT with no arguments once the namespace is joined "
        "(repeatable, in order, before -x; again after a --reconnect).",
    )
    handshake_auth: dict[str, Any] | None = option(
        "--handshake-auth",
        metavar="JSON",
        default=None,
        convert=parse_handshake_auth,
        help="Socket.IO: the auth object sent when joining the namespace (the server's "
        'socket.handshake.auth), e.g. \'{"token":"..."}\'.',
    )
    transport: TransportChoice = option(
        "--transport",
        kind=Choice(("auto", "websocket", "polling")),
        default="auto",
        help="Socket.IO transport; auto falls back to HTTP long-polling when the WebSocket "
        "upgrade is refused (said on stderr).",
    )
    raw_strings: bool = option(
        "--raw-strings",
        kind=FLAG,
        default=False,
        help="Socket.IO: send each line as one string, even when it is valid JSON.",
    )
    spread: bool = option(
        "--spread",
        kind=FLAG,
        default=False,
        help="Socket.IO: a line holding a JSON array sends its items as separate arguments.",
    )
    ack: bool = option(
        "--ack",
        kind=FLAG,
        default=False,
        help="Socket.IO: ask for an acknowledgement of each emit and print it (ack N: [args]).",
    )
    ack_timeout: float = option(
        "--ack-timeout",
        kind=Seconds(positive=True),
        default=10.0,
        help="Socket.IO: an acknowledgement not received within SECONDS exits 6 in a pipe "
        "(a warning line at the prompt).",
    )
    ack_reply: list[Any] = option(
        "--ack-reply",
        metavar="JSON",
        default="[]",
        convert=parse_ack_reply,
        help="Socket.IO: arguments (a JSON array) of wscli's answer to server events that ask "
        "for an acknowledgement.",
    )


@declared
class SessionOptions:
    """The connection options plus what the session does around them."""

    connect: ConnectOptions = group(ConnectOptions)
    reconnect: bool = option(
        "--reconnect",
        kind=FLAG,
        default=False,
        help="After a failed connect, an abnormal close or a server going away (1001), retry "
        "with backoff; re-send -x.",
    )
    max_retries: int | None = option(
        "--max-retries",
        kind=Integer(min=0),
        metavar="N",
        default=5,
        help="Reconnect attempts in a row before giving up; a connection that ends within 10 s "
        "counts as failed (the count and the growing delay restart only after 10 s up).",
    )
    socketio: bool = option(
        "--socketio",
        kind=FLAG,
        default=False,
        help="Speak Socket.IO (Engine.IO v4) at /socket.io/ instead of plain messages.",
    )
    socketio_options: SocketIOOptions = group(SocketIOOptions)
    stable_after: float = fixed(10.0)
    """Seconds a connection must stay open before a later failure starts the retry count
    and the backoff afresh; see :func:`wscli.connect.session.run_session`."""


@declared
class ScriptOptions:
    """What both the pipe and the prompt do: send first, the deadline, how to close."""

    execute: tuple[str, ...] = option(
        "-x",
        "--execute",
        multiple=True,
        metavar="MSG",
        default=(),
        help="Send MSG as soon as the connection opens (repeatable, in order); @FILE sends "
        "the file's content, @- all of stdin, @@ a literal @.",
    )
    timeout: float | None = option(
        "--timeout",
        kind=Seconds(positive=True),
        default=None,
        help="Overall deadline in seconds; reaching it closes and exits 6.",
    )
    close_code: int = option(
        "--close-code",
        kind=Integer(1000, 4999),
        metavar="CODE",
        default=1000,
        help="Close code wscli sends when it ends the connection.",
    )
    close_reason: str = option(
        "--close-reason",
        metavar="TEXT",
        default="",
        show_default=False,
        help="Close reason wscli sends.",
    )


def _separator(text: str | None) -> bytes:
    from wscli.connect.inputs import parse_separator  # read when a value is, not for --help

    return parse_separator(text)


@declared
class SeparatorOption:
    """``--separator``: what ends a message in stdin and on stdout."""

    separator: bytes = option(
        "--separator",
        metavar="SEP",
        default=None,
        convert=_separator,
        show_default=False,
        help="End each message with SEP instead of a newline, in stdin and on stdout, for "
        "messages that hold newlines: 'nul' for NUL (as xargs -0 reads), or any text "
        "(escapes \\n \\r \\t \\0 \\xHH).",
    )


@declared
class InputOptions(SeparatorOption):
    """How stdin (and -x) become messages."""

    binary: bool = option(
        "--binary",
        kind=FLAG,
        default=False,
        help="Send each stdin message (and -x) as a binary message.",
    )
    binary_input: BinaryInput = option(
        "--binary-input",
        kind=Choice(("raw", "base64", "hex")),
        default="raw",
        help="How binary messages are written in stdin and -x: as they are, or base64 or hex "
        "(as --binary-format prints received ones, so a received line can be sent back); "
        "base64 and hex imply --binary.",
    )
    stream: bool = option(
        "--stream",
        kind=FLAG,
        default=False,
        help="Send each chunk read from stdin as a binary message.",
    )
    whole_input: bool = option(
        "--whole-input",
        kind=FLAG,
        default=False,
        help="Send all of stdin as one message, newlines and all (text, or binary with "
        "--binary); the same as -x @-.",
    )

    @property
    def sends_binary(self) -> bool:
        """stdin's messages (and -x) go as binary."""
        return self.binary or self.stream or self.binary_input != "raw"


@declared
class PipePolicy(ScriptOptions):
    """What to send up front, how to read stdin, and when to stop."""

    count: int | None = option(
        "-n",
        "--count",
        kind=Integer(min=1),
        metavar="N",
        default=None,
        help="End (exit 0) after N messages have been received; fewer by --idle: exit 8. "
        "On a terminal too: no prompt then, as with --wait.",
    )
    idle: float = option(
        "--idle",
        kind=Seconds(),
        default=DEFAULT_IDLE,
        help="After stdin ends, end when no message came for SECONDS since the last one sent "
        "or received: exit 0 if a reply came after the last send, else 8 (no reply); "
        "0: no limit.",
    )
    wait: float | None = option(
        "-w",
        "--wait",
        kind=Seconds(),
        default=None,
        help="After stdin ends (or after -x with </dev/null, or on a terminal: no prompt "
        "then), stay open exactly SECONDS.",
    )
    input: InputOptions = group(InputOptions)


@declared
class OutputOptions(SeparatorOption, JsonOption):
    """How received messages and events are shown."""

    timestamps: bool = option(
        "--timestamps", kind=FLAG, default=False, help="Prefix messages with an ISO 8601 UTC time."
    )
    full: bool = option(
        "--full",
        kind=FLAG,
        default=False,
        help="At the prompt, hex-dump binary messages in full (default: 128 bytes, /show N).",
    )
    show_ping_pong: bool = option(
        "--show-ping-pong",
        kind=FLAG,
        default=False,
        help="Show ping and pong frames (on stderr in a pipe).",
    )
    binary_format: Literal["base64", "hex"] = option(
        "--binary-format",
        kind=Choice(("base64", "hex")),
        default="base64",
        help="How received binary messages are written in a pipe.",
    )
    verbose: bool = option(
        "-v",
        "--verbose",
        kind=FLAG,
        default=False,
        help="Status (open, close) on stderr in a pipe.",
    )


@declared
class ReplOptions(OutputOptions, ScriptOptions):
    """How the prompt behaves and shows things."""

    pretty: bool = option(
        "--pretty",
        kind=FLAG,
        default=False,
        help="At the prompt, show JSON messages indented and highlighted (/pretty toggles).",
    )


@declared
class ConnectConfig:
    """Everything `wscli connect` is told: the pipe's and the prompt's options (one of them
    runs; the pipe's writer reads ``output``), and the session's."""

    pipe: PipePolicy = group(PipePolicy)
    output: OutputOptions = group(OutputOptions)
    prompt: ReplOptions = group(ReplOptions)
    no_tty: bool = option(
        "--no-tty", kind=FLAG, default=False, help="Pipe mode even on a terminal (no prompt)."
    )
    session: SessionOptions = group(SessionOptions)
