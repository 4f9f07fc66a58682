"""TLS contexts: the client one shared by `connect` and `handshake`, the server one of `serve`
and `proxy` (and a word at start when its certificate is out of date).

Certificates and keys are loaded in one place so a problem reads the same everywhere.
OpenSSL's own words ("[SSL] PEM lib (_ssl.c:3905)") name neither the file nor the cause,
and an encrypted key makes it prompt for a pass phrase on the terminal (twice), which would
hang a server started by a service manager or a client in a script. So an encrypted key is
refused outright, and a failure is explained by looking at what the files hold.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import re
import ssl

from wscli.core.errors import UsageProblem, os_reason

DECRYPT_HINT = "decrypt it first, e.g. openssl pkey -in KEY -out KEY.plain"


def client_context(
    *,
    insecure: bool = False,
    cafile: str | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> ssl.SSLContext:
    """Build a verifying TLS client context (system CAs plus ``cafile``).

    ``insecure`` turns off certificate and host name verification; ``certfile`` and
    ``keyfile`` present a client certificate (options --cert/--key).
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if cafile is not None:
        try:
            context.load_verify_locations(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise UsageProblem(f"cannot load CA file {cafile!r}", os_reason(exc)) from None
    if certfile is not None:
        load_certificate(
            context,
            certfile,
            keyfile,
            f"cannot load client certificate {certfile!r}",
            options=("--cert", "--key"),
        )
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def server_context(certfile: str, keyfile: str | None) -> ssl.SSLContext:
    """A TLS server context for ``--certfile``/``--keyfile``; UsageProblem when unusable."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    load_certificate(
        context,
        certfile,
        keyfile,
        f"cannot load server certificate {certfile!r}",
        options=("--certfile", "--keyfile"),
    )
    return context


class _Encrypted(Exception):
    """Raised from the pass-phrase callback: we never prompt."""


def _refuse_password() -> str:
    raise _Encrypted


def load_certificate(
    context: ssl.SSLContext,
    certfile: str,
    keyfile: str | None,
    what: str,
    options: tuple[str, str],
) -> None:
    """Load a certificate chain and key into ``context``, explaining any failure.

    ``options`` names the command's certificate and key options, for the hints.
    """
    try:
        context.load_cert_chain(certfile, keyfile, password=_refuse_password)
    except _Encrypted:
        raise UsageProblem(what, "the private key is encrypted", DECRYPT_HINT) from None
    except ssl.SSLError as exc:
        why, hint = _explain(exc, certfile, keyfile, options)
        raise UsageProblem(what, why, hint) from None
    except OSError as exc:
        raise UsageProblem(what, os_reason(exc)) from None


def _explain(
    exc: ssl.SSLError, certfile: str, keyfile: str | None, options: tuple[str, str]
) -> tuple[str, str | None]:
    """(why, hint) for a certificate/key pair OpenSSL refused."""
    cert_option, key_option = options
    if exc.reason == "KEY_VALUES_MISMATCH":
        return "the private key does not match the certificate", None
    if "BEGIN CERTIFICATE" not in _text(certfile):
        return "no PEM certificate in it", f"{cert_option} takes the certificate chain (PEM)"
    key_path = keyfile or certfile
    if "PRIVATE KEY" not in _text(key_path):
        hint = f"give the key with {key_option}" if keyfile is None else None
        return f"no PEM private key in {key_path!r}", hint
    return f"OpenSSL refused it: {exc.reason or exc}", None


def _text(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            return file.read(1 << 20)
    except OSError:
        return ""


_PEM_CERTIFICATE = re.compile(
    r"-----BEGIN CERTIFICATE-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----"
)


def certificate_problem(certfile: str, now: datetime.datetime | None = None) -> str | None:
    """Why the first certificate of ``certfile`` (PEM, as loaded) is not valid ``now``:
    expired, or not valid yet; None when it is, or when its dates cannot be read (OpenSSL
    loaded it: a date we cannot read is no reason to say more).

    ``load_cert_chain`` takes an expired certificate without a word; every client then
    refuses it, each with an error of its own, so the server says it at start instead.
    """
    match = _PEM_CERTIFICATE.search(_text(certfile))
    if match is None:
        return None
    try:
        der = base64.b64decode("".join(match[1].split()), validate=True)
        not_before, not_after = validity(der)
    except (ValueError, IndexError):
        return None
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if now > not_after:
        return f"the certificate expired on {_day(not_after)}: clients will refuse it"
    if now < not_before:
        return f"the certificate is not valid before {_day(not_before)}: clients will refuse it"
    return None


def validity(der: bytes) -> tuple[datetime.datetime, datetime.datetime]:
    """(notBefore, notAfter) of a DER X.509 certificate (RFC 5280 §4.1), read with the
    few DER rules they need; ValueError or IndexError for anything else."""
    certificate, _ = _tlv(der, 0, 0x30)
    tbs, _ = _tlv(der, certificate, 0x30)
    position = tbs
    if der[position] == 0xA0:  # [0] EXPLICIT version
        position = _skip(der, position)
    for _field in ("serialNumber", "signature", "issuer"):
        position = _skip(der, position)
    validity_start, _ = _tlv(der, position, 0x30)
    not_before, after_start = _time(der, validity_start)
    not_after, _ = _time(der, after_start)
    return not_before, not_after


def _header(der: bytes, position: int) -> tuple[int, int, int]:
    """(tag, start of the value, length of the value) of the DER element at ``position``."""
    tag = der[position]
    length = der[position + 1]
    start = position + 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(der[start : start + count], "big")
        start += count
    if start + length > len(der):
        raise ValueError("truncated DER")
    return tag, start, length


def _tlv(der: bytes, position: int, tag: int) -> tuple[int, int]:
    """(start of the value, end of the element) of the element at ``position``, which
    must have ``tag``."""
    found, start, length = _header(der, position)
    if found != tag:
        raise ValueError(f"DER tag {found:#x}, expected {tag:#x}")
    return start, start + length


def _skip(der: bytes, position: int) -> int:
    _, start, length = _header(der, position)
    return start + length


def _time(der: bytes, position: int) -> tuple[datetime.datetime, int]:
    """A UTCTime or GeneralizedTime at ``position``, and where the next element starts."""
    tag, start, length = _header(der, position)
    text = der[start : start + length].decode("ascii")
    if tag == 0x17 and len(text) == 13:  # YYMMDDHHMMSSZ; YY below 50 is 20YY (RFC 5280)
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != 0x18 or len(text) != 15:  # YYYYMMDDHHMMSSZ
        raise ValueError("unsupported certificate time")
    when = datetime.datetime.strptime(text, "%Y%m%d%H%M%SZ")
    return when.replace(tzinfo=datetime.timezone.utc), start + length


def _day(when: datetime.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
_NAME_MISMATCH = frozenset({62, 64})
NAMES_SHOWN = 8
"""Certificate names quoted in a name-mismatch hint, at most (a CDN certificate may hold
hundreds)."""


def name_mismatch(exc: BaseException | None) -> bool:
    """True when ``exc`` (or its cause) says the certificate is valid but for other names."""
    while exc is not None:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return exc.verify_code in _NAME_MISMATCH
        exc = exc.__cause__
    return False


async def certificate_names(
    host: str, port: int, *, cafile: str | None = None, timeout: float = 2.0
) -> list[str]:
    """The names the certificate of ``host:port`` is for (``DNS:...``, ``IP Address:...``,
    else its subject's ``CN=...``), read over a second TLS connection that checks the
    chain against the same CAs but not the name; [] when they cannot be read.

    For the hint of a name mismatch: "pass --cacert" was wrong advice there, the CA is
    trusted; what the user needs is a URL with a name the certificate has.
    """
    context = client_context(cafile=cafile)
    context.check_hostname = False  # the chain is still verified: only trusted names shown
    writer = None
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context, server_hostname=host), timeout
        )
        cert = writer.get_extra_info("peercert") or {}
    except (OSError, asyncio.TimeoutError, ValueError):
        return []
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), timeout)
    names = [f"{kind}:{value}" for kind, value in cert.get("subjectAltName", ())]
    if not names:
        names = [f"CN={v}" for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"]
    return names
