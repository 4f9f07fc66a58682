"""Running `wscli handshake` from its config: the request (the same one `wscli connect`
sends, from :mod:`wscli.core.clientrequest`), the exchange (direct or through --proxy; hop by
hop with -L), what the verdict adds (the server's words and a hint for a refusal, a
subprotocol the server ignored), and the reports written as they come."""

from __future__ import annotations

from collections.abc import Callable

from websockets.client import ClientProtocol

from wscli.core.clientrequest import request_for
from wscli.core.errors import HandshakeRejected
from wscli.core.headers import ignored_subprotocols
from wscli.core.redirects import MAX_REDIRECTS, next_hop, redirect_target
from wscli.core.refusal import Refusal, refusal_hint
from wscli.core.url import normalize_url, parse_ws_url, redact_url
from wscli.handshake.config import HandshakeConfig
from wscli.handshake.exchange import Exchange
from wscli.handshake.report import HandshakeReport
from wscli.handshake.request import parse_head
from wscli.net.client import tls_context
from wscli.net.tunnel import resolve_proxy

Write = Callable[[HandshakeReport], None]
"""Writes one hop's report (stdout, stderr) as soon as it is done."""


def build_report(config: HandshakeConfig, url: str) -> tuple[HandshakeReport, ClientProtocol]:
    """The report of an exchange with ``url`` (its request built, nothing sent yet), and
    the protocol that built the request."""
    uri = parse_ws_url(url)
    protocol, request = request_for(config, uri, key=config.ws_key)
    protocol.send_request(request)
    sent = b"".join(protocol.data_to_send())
    report = HandshakeReport(
        normalize_url(url), uri.host, uri.port, uri.secure, sent, offline=config.offline
    )
    return report, protocol


async def run_handshakes(config: HandshakeConfig, url: str, write: Write) -> HandshakeReport:
    """Perform the handshake with ``url`` (with -L, hop by hop), writing each report as it
    is done; return the last one (whose error, if any, is the run's)."""
    for hop in range(MAX_REDIRECTS + 1):
        report, protocol = build_report(config, url)
        if config.offline:
            write(report)
            return report
        uri = parse_ws_url(url)
        await Exchange(
            report,
            protocol,
            tls_context(config, uri, url),
            config.timeout,
            resolve_proxy(config.proxy, uri.host, uri.port, uri.secure),
            inspect=config.debug or config.json_output,
            cafile=config.cacert,
        ).run()
        explain(report, config)
        location = _redirect(report)
        if location is None or not config.location or hop == MAX_REDIRECTS:
            write(report)
            return report
        target = redirect_target(report.url, location)
        config, dropped = next_hop(config, report.url, target)
        report.redirected_to = redact_url(target)
        report.dropped_credentials = dropped
        report.error = None  # followed: only the last hop's verdict counts
        write(report)
        url = target
    raise AssertionError("unreachable")  # the loop returns


def _redirect(report: HandshakeReport) -> str | None:
    """The Location of a redirect answer (3xx), if that is what the server answered."""
    verdict = report.verdict
    if verdict is None or verdict.status_code is None or not 300 <= verdict.status_code < 400:
        return None
    locations = parse_head(report.response).get_all("Location")
    return locations[0] if locations else None


def explain(report: HandshakeReport, config: HandshakeConfig) -> None:
    """Add to ``report``'s error what `connect` would say: for a refusal, the first line of
    its body and the hint its status and headers call for; for a 101 that chose none of
    the subprotocols offered, --require-subprotocol's error."""
    verdict, error = report.verdict, report.error
    if verdict is None:
        return
    if isinstance(error, HandshakeRejected) and verdict.status_code and not verdict.status_ok:
        head = parse_head(report.response)
        refusal = Refusal.of(verdict.status_code, verdict.reason, head.headers, report.body)
        report.error = HandshakeRejected(
            error.what,
            error.why,
            hint=refusal_hint(
                refusal,
                report.url,
                subprotocols=verdict.subprotocols_offered,
                auth=config.authorizes,
                origin=config.origin is not None,
                socketio_option="wscli connect --socketio",
            ),
            refusal=refusal,
        )
    elif error is None and verdict.subprotocol_ignored and config.require_subprotocol:
        report.error = HandshakeRejected(
            "--require-subprotocol", ignored_subprotocols(verdict.subprotocols_offered)
        )
