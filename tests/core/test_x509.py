"""wscli.core.x509: the fields of a server's certificate, read from its DER bytes. A parser
of peer bytes: examples against real certificates, and properties (only CertificateError,
bounded output, linear time)."""

from __future__ import annotations

import datetime
import ssl
import time

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st

from wscli.core.x509 import MAX_NAMES, Certificate, CertificateError, parse_certificate


def _tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + content


def _name(cn: bytes) -> bytes:
    attribute = _tlv(0x30, _tlv(0x06, b"\x55\x04\x03") + _tlv(0x0C, cn))
    return _tlv(0x30, _tlv(0x31, attribute))


def synthetic(names: int, cn: bytes = b"host", subject: bytes | None = None) -> bytes:
    """A certificate (unsigned, but shaped as one) with ``names`` DNS names."""
    general = b"".join(_tlv(0x82, f"h{i}.example".encode()) for i in range(names))
    san = _tlv(0x30, _tlv(0x06, b"\x55\x1d\x11") + _tlv(0x04, _tlv(0x30, general)))
    tbs = _tlv(
        0x30,
        _tlv(0xA0, _tlv(0x02, b"\x02"))
        + _tlv(0x02, b"\x01")
        + _tlv(0x30, _tlv(0x06, b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b"))
        + _name(b"Test CA")
        + _tlv(0x30, _tlv(0x17, b"250101000000Z") + _tlv(0x18, b"20350101000000Z"))
        + (_name(cn) if subject is None else subject)
        + _tlv(0x30, _tlv(0x05, b""))
        + _tlv(0xA3, _tlv(0x30, san)),
    )
    return _tlv(0x30, tbs + _tlv(0x30, _tlv(0x05, b"")) + _tlv(0x03, b"\x00"))


def _der(pem: bytes) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem.decode())


def test_a_real_certificate() -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost", "::1", common_name="wscli")
    cert = parse_certificate(_der(leaf.cert_chain_pems[0].bytes()))
    assert cert.subject.startswith("O=trustme") and cert.subject.endswith(", CN=wscli")
    assert cert.issuer.startswith("O=trustme") and "Testing CA" in cert.issuer
    assert cert.san == ("IP Address:127.0.0.1", "DNS:localhost", "IP Address:::1")
    assert cert.not_after == datetime.datetime(3000, 1, 1, tzinfo=datetime.timezone.utc)
    root = parse_certificate(_der(ca.cert_pem.bytes()))
    assert root.self_signed and not cert.self_signed
    assert cert.issuer_der == root.subject_der  # what links a certificate to its issuer


def test_a_synthetic_certificate_and_the_names_bound() -> None:
    cert = parse_certificate(synthetic(3))
    assert cert == Certificate(
        subject="CN=host",
        issuer="CN=Test CA",
        not_before=datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc),
        not_after=datetime.datetime(2035, 1, 1, tzinfo=datetime.timezone.utc),
        san=("DNS:h0.example", "DNS:h1.example", "DNS:h2.example"),
        subject_der=cert.subject_der,
        issuer_der=cert.issuer_der,
    )
    many = parse_certificate(synthetic(MAX_NAMES + 10))
    assert len(many.san) == MAX_NAMES and many.san_more == 10


@pytest.mark.parametrize("der", [b"", b"\x30", b"\x30\x84\xff\xff\xff\xff", b"\x31\x00"])
def test_not_a_certificate(der: bytes) -> None:
    with pytest.raises(CertificateError):
        parse_certificate(der)


def _text_size(cert: Certificate) -> int:
    return len(cert.subject) + len(cert.issuer) + sum(len(name) for name in cert.san)


@given(st.binary(max_size=2048))
def test_any_bytes_raise_only_certificate_error(der: bytes) -> None:
    try:
        cert = parse_certificate(der)
    except CertificateError:
        return
    assert _text_size(cert) <= 8 * len(der) + 64


VALID = synthetic(4, cn=b"caf\xc3\xa9")


@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=8))
def test_a_damaged_certificate_raises_only_certificate_error(
    changes: list[tuple[int, int]],
) -> None:
    der = bytearray(VALID)
    for position, value in changes:
        der[position] = value
    try:
        cert = parse_certificate(bytes(der))
    except CertificateError:
        return
    assert _text_size(cert) <= 8 * len(der) + 64


def _cpu(der: bytes) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for _ in range(20):
            parse_certificate(der)
        best = min(best, time.process_time() - start)
    return best


def test_time_is_linear_in_the_input() -> None:
    # Names in the subject: every one is read (SANs past MAX_NAMES are counted only).
    def wide(count: int) -> bytes:
        attribute = _tlv(0x31, _tlv(0x30, _tlv(0x06, b"\x55\x04\x0b") + _tlv(0x0C, b"unit")))
        return synthetic(4, subject=_tlv(0x30, attribute * count))

    small, large = wide(500), wide(4000)
    assert len(large) > 7 * len(small)
    assert _cpu(large) <= 24 * max(_cpu(small), 1e-4)
