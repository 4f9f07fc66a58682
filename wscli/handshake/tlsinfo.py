"""What `wscli handshake --debug` shows of a TLS session, as ``curl -v`` does: version,
cipher, ALPN, the server's certificate (subject, issuer, validity and whether it expired,
names) and its chain, verified or not (-k, or a failed verification, when the details come
over a second connection that does not verify)."""

from __future__ import annotations

import datetime
import hashlib
import ssl

from wscli.core.x509 import Certificate, CertificateError, parse_certificate
from wscli.handshake.report import CertInfo, TlsInfo

CHAIN_MAX = 8
"""Issuers followed up from the certificate, at most."""


def tls_info(
    ssl_object: ssl.SSLObject | None,
    context: ssl.SSLContext,
    *,
    verify_error: str | None = None,
    trust: ssl.SSLContext | None = None,
    now: datetime.datetime | None = None,
) -> TlsInfo | None:
    """The session of ``ssl_object`` and its certificate; ``verify_error``: this is the
    second connection after a failed verification, and why it failed. ``trust``: the
    context whose CA certificates complete the chain (``context`` by default)."""
    if ssl_object is None:
        return None
    cipher = ssl_object.cipher()
    der = ssl_object.getpeercert(binary_form=True)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    certificate: CertInfo | None = None
    chain: list[CertInfo] = []
    chain_from = None
    unreadable = None
    if der:
        try:
            leaf = parse_certificate(der)
        except CertificateError as exc:
            unreadable = str(exc)
        else:
            certificate = cert_info(leaf, der, now)
            chain_from, chain = _chain(ssl_object, trust or context, leaf, now)
    return TlsInfo(
        version=ssl_object.version(),
        cipher=cipher[0] if cipher else None,
        bits=cipher[2] if cipher else None,
        alpn=ssl_object.selected_alpn_protocol(),
        verified=verify_error is None and context.verify_mode != ssl.CERT_NONE,
        certificate=certificate,
        chain=chain,
        chain_from=chain_from,
        verify_error=verify_error,
        unreadable=unreadable,
    )


def cert_info(cert: Certificate, der: bytes, now: datetime.datetime) -> CertInfo:
    """``cert`` as the report holds it, its validity judged at ``now``."""
    return CertInfo(
        subject=cert.subject,
        issuer=cert.issuer,
        not_before=_when(cert.not_before),
        not_after=_when(cert.not_after),
        expired=now > cert.not_after,
        not_yet_valid=now < cert.not_before,
        san=list(cert.san),
        san_more=cert.san_more,
        sha256=fingerprint(der),
        self_signed=cert.self_signed,
    )


def _chain(
    ssl_object: ssl.SSLObject, context: ssl.SSLContext, leaf: Certificate, now: datetime.datetime
) -> tuple[str | None, list[CertInfo]]:
    """The issuers above ``leaf``: as the server sent them where Python can say (3.13+),
    else those of the trust store whose subject is the issuer's name, up the chain."""
    sent = getattr(ssl_object, "get_unverified_chain", None)
    if sent is not None:
        chain = []
        for der in list(sent() or [])[1 : CHAIN_MAX + 1]:
            try:
                chain.append(cert_info(parse_certificate(bytes(der)), bytes(der), now))
            except (CertificateError, TypeError):
                continue
        return "server", chain
    known: dict[bytes, tuple[Certificate, bytes]] = {}
    for der in context.get_ca_certs(binary_form=True):
        try:
            cert = parse_certificate(der)
        except CertificateError:
            continue
        known.setdefault(cert.subject_der, (cert, der))
    chain = []
    current = leaf
    while not current.self_signed and len(chain) < CHAIN_MAX:
        found = known.get(current.issuer_der)
        if found is None:
            break
        current, der = found
        chain.append(cert_info(current, der, now))
    return ("trust store" if chain else None), chain


def fingerprint(der: bytes | None) -> str | None:
    """``AB:CD:...``: the SHA-256 fingerprint of a DER certificate, as browsers show it."""
    if not der:
        return None
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def _when(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
