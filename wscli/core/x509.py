"""What a server's certificate says, read from its DER bytes (pure: no I/O, no ssl).

Python's ``ssl`` decodes a certificate only when it was verified; `wscli handshake --debug`
shows one with -k, and the one a failed verification refused, too (as ``curl -v`` does).
So the few fields it shows are read here, with the DER rules they need (X.690; RFC 5280
§4.1): subject, issuer, validity, subject alternative names, and the raw names that link a
certificate to its issuer.

The bytes are the server's: every length is checked against what is left, nothing is
read twice (time linear in the input), nothing recursive, and anything else than a
certificate raises :class:`CertificateError` (a ValueError) and nothing else.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress

MAX_NAMES = 64
"""Subject alternative names kept (a CDN certificate may hold hundreds); the rest counted."""

_SEQUENCE, _SET, _OID, _OCTETS, _BOOLEAN = 0x30, 0x31, 0x06, 0x04, 0x01
_UTC_TIME, _GENERALIZED_TIME = 0x17, 0x18
_SAN = "2.5.29.17"
_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.6": "C",
    "2.5.4.8": "ST",
    "2.5.4.7": "L",
    "2.5.4.5": "serialNumber",
    "1.2.840.113549.1.9.1": "emailAddress",
}
# Directory string types: how their bytes become text.
_STRINGS = {
    0x0C: "utf-8",  # UTF8String
    0x13: "ascii",  # PrintableString
    0x16: "ascii",  # IA5String
    0x14: "latin-1",  # TeletexString (as browsers read it)
    0x1E: "utf-16-be",  # BMPString
    0x1C: "utf-32-be",  # UniversalString
}
_GENERAL_NAMES = {0x81: "email", 0x82: "DNS", 0x86: "URI", 0x87: "IP Address"}


class CertificateError(ValueError):
    """The bytes are not a certificate wscli can read."""


@dataclasses.dataclass(frozen=True)
class Certificate:
    """The fields of a certificate `wscli handshake --debug` shows."""

    subject: str
    issuer: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    san: tuple[str, ...] = ()
    """``DNS:name``, ``IP Address:1.2.3.4``, ... (at most :data:`MAX_NAMES`)."""
    san_more: int = 0
    """Names past :data:`MAX_NAMES`, counted."""
    subject_der: bytes = b""
    issuer_der: bytes = b""
    """The raw names: a certificate's issuer is the one whose subject has these bytes."""

    @property
    def self_signed(self) -> bool:
        return self.subject_der == self.issuer_der


def parse_certificate(der: bytes) -> Certificate:
    """The fields of the DER certificate ``der``; :class:`CertificateError` otherwise."""
    try:
        return _parse(der)
    except CertificateError:
        raise
    except (ValueError, IndexError, UnicodeDecodeError) as exc:
        raise CertificateError(f"not a certificate: {exc}") from None


def _parse(der: bytes) -> Certificate:
    reader = _Reader(der)
    certificate = reader.element(_SEQUENCE)
    tbs = _Reader(der, *certificate).element(_SEQUENCE)
    fields = _Reader(der, *tbs)
    if fields.peek() == 0xA0:  # [0] EXPLICIT version
        fields.skip()
    fields.skip()  # serialNumber
    fields.skip()  # signature
    issuer = fields.element(_SEQUENCE)
    validity = _Reader(der, *fields.element(_SEQUENCE))
    not_before = _time(der, *validity.any())
    not_after = _time(der, *validity.any())
    subject = fields.element(_SEQUENCE)
    fields.skip()  # subjectPublicKeyInfo
    san: list[str] = []
    while not fields.done():
        tag, start, end = fields.any()
        if tag == 0xA3:  # [3] EXPLICIT extensions
            san = _alternative_names(der, start, end)
    kept = tuple(san[:MAX_NAMES])
    return Certificate(
        subject=_name(der, *subject),
        issuer=_name(der, *issuer),
        not_before=not_before,
        not_after=not_after,
        san=kept,
        san_more=len(san) - len(kept),
        subject_der=der[subject[0] : subject[1]],
        issuer_der=der[issuer[0] : issuer[1]],
    )


class _Reader:
    """Elements one after another between ``start`` and ``end`` of ``der``."""

    def __init__(self, der: bytes, start: int = 0, end: int | None = None) -> None:
        self.der = der
        self.position = start
        self.end = len(der) if end is None else end

    def done(self) -> bool:
        return self.position >= self.end

    def peek(self) -> int:
        if self.done():
            raise CertificateError("truncated")
        return self.der[self.position]

    def any(self) -> tuple[int, int, int]:
        """The next element: (tag, start of its value, end of its value)."""
        der, position = self.der, self.position
        if position + 2 > self.end:
            raise CertificateError("truncated")
        tag, length = der[position], der[position + 1]
        start = position + 2
        if length & 0x80:
            count = length & 0x7F
            if not 1 <= count <= 4 or start + count > self.end:
                raise CertificateError("unsupported length")
            length = int.from_bytes(der[start : start + count], "big")
            start += count
        if start + length > self.end:
            raise CertificateError("truncated")
        self.position = start + length
        return tag, start, start + length

    def element(self, tag: int) -> tuple[int, int]:
        found, start, end = self.any()
        if found != tag:
            raise CertificateError(f"tag {found:#x} where {tag:#x} was due")
        return start, end

    def skip(self) -> None:
        self.any()


def _oid(der: bytes, start: int, end: int) -> str:
    if start >= end:
        raise CertificateError("empty object identifier")
    first = der[start]
    parts = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    value = 0
    for byte in der[start + 1 : end]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


def _string(der: bytes, tag: int, start: int, end: int) -> str:
    encoding = _STRINGS.get(tag, "latin-1")
    return der[start:end].decode(encoding, "replace")


def _name(der: bytes, start: int, end: int) -> str:
    """A Name as ``CN=..., O=...`` (RFC 4514's short forms, in the certificate's order)."""
    parts: list[str] = []
    names = _Reader(der, start, end)
    while not names.done():
        attributes = _Reader(der, *names.element(_SET))
        while not attributes.done():
            pair = _Reader(der, *attributes.element(_SEQUENCE))
            oid = _oid(der, *pair.element(_OID))
            tag, value_start, value_end = pair.any()
            parts.append(f"{_NAMES.get(oid, oid)}={_string(der, tag, value_start, value_end)}")
    return ", ".join(parts)


def _alternative_names(der: bytes, start: int, end: int) -> list[str]:
    """The subject alternative names in the extensions at ``start``..``end``."""
    extensions = _Reader(der, *_Reader(der, start, end).element(_SEQUENCE))
    while not extensions.done():
        extension = _Reader(der, *extensions.element(_SEQUENCE))
        oid = _oid(der, *extension.element(_OID))
        if extension.peek() == _BOOLEAN:
            extension.skip()  # critical
        value_start, value_end = extension.element(_OCTETS)
        if oid != _SAN:
            continue
        found: list[str] = []
        names = _Reader(der, *_Reader(der, value_start, value_end).element(_SEQUENCE))
        while not names.done():
            tag, name_start, name_end = names.any()
            kind = _GENERAL_NAMES.get(tag)
            raw = der[name_start:name_end]
            if kind == "IP Address" and len(raw) in (4, 16):
                found.append(f"{kind}:{ipaddress.ip_address(raw)}")
            elif kind is not None:
                found.append(f"{kind}:{raw.decode('ascii', 'replace')}")
        return found
    return []


def _time(der: bytes, tag: int, start: int, end: int) -> datetime.datetime:
    """A UTCTime or GeneralizedTime (RFC 5280 §4.1.2.5: Z, seconds, no fractions)."""
    text = der[start:end].decode("ascii")
    if tag == _UTC_TIME and len(text) == 13:  # YYMMDDHHMMSSZ; YY below 50 is 20YY
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != _GENERALIZED_TIME or len(text) != 15:  # YYYYMMDDHHMMSSZ
        raise CertificateError("unsupported certificate time")
    if not text[:-1].isascii() or not text[:-1].isdigit() or text[-1] != "Z":
        raise CertificateError("unsupported certificate time")
    when = datetime.datetime.strptime(text, "%Y%m%d%H%M%SZ")
    return when.replace(tzinfo=datetime.timezone.utc)
