"""What `wscli top` is told: each of its options declared once (see
:mod:`wscli.core.options`); the TLS options are the ones every client command shares."""

from __future__ import annotations

from wscli.core.clientoptions import ClientTLSOptions
from wscli.core.options import Seconds, argument, declared, option


@declared
class TopConfig(ClientTLSOptions):
    """Everything `wscli top` can be told."""

    url: str = argument(metavar="URL", urls=True)
    token: str | None = option(
        "--token",
        envvar="WSCLI_METRICS_TOKEN",
        metavar="TOKEN",
        default=None,
        help="The server's metrics token, or its --token when it has no other (sent as "
        "Authorization: Bearer). Prefer the variable: arguments show in ps.",
    )
    interval: float = option(
        "--interval",
        kind=Seconds(positive=True),
        default=0.5,
        help="Read the server and redraw this often.",
    )
    timeout: float = option(
        "--timeout",
        kind=Seconds(positive=True),
        default=5.0,
        help="Bound for each read of the server.",
    )
