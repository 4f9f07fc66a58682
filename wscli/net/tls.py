"""TLS contexts: the client one shared by `connect` and `handshake`, the server one of `serve`.

Certificates and keys are loaded in one place so a problem reads the same everywhere.
OpenSSL's own words ("[SSL] PEM lib (_ssl.c:3905)") name neither the file nor the cause,
and an encrypted key makes it prompt for a pass phrase on the terminal (twice), which would
hang a server started by a service manager or a client in a script. So an encrypted key is
refused outright, and a failure is explained by looking at what the files hold.
"""

from __future__ import annotations

import asyncio
import contextlib
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
