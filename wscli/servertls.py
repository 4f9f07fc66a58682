"""TLS for `wscli serve`: load ``--certfile``/``--keyfile`` and say plainly why not.

OpenSSL's own words ("[SSL] PEM lib (_ssl.c:3905)") name neither the file nor the cause,
and an encrypted key makes it prompt for a pass phrase on the terminal (twice), which
would hang a server started by a service manager. So an encrypted key is refused outright,
and a failure is explained by looking at what the files hold.
"""

from __future__ import annotations

import ssl

from wscli.errors import UsageProblem

DECRYPT_HINT = "decrypt it first, e.g. openssl pkey -in KEY -out KEY.plain"


class _Encrypted(Exception):
    """Raised from the pass-phrase callback: we never prompt."""


def _refuse_password() -> str:
    raise _Encrypted


def server_tls_context(certfile: str, keyfile: str | None) -> ssl.SSLContext:
    """A TLS server context for ``--certfile``/``--keyfile``; UsageProblem when unusable."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    what = f"cannot load server certificate {certfile!r}"
    try:
        context.load_cert_chain(certfile, keyfile, password=_refuse_password)
    except _Encrypted:
        raise UsageProblem(what, "the private key is encrypted", DECRYPT_HINT) from None
    except ssl.SSLError as exc:
        why, hint = _explain(exc, certfile, keyfile)
        raise UsageProblem(what, why, hint) from None
    except OSError as exc:
        raise UsageProblem(what, (exc.strerror or str(exc)).lower()) from None
    return context


def _explain(exc: ssl.SSLError, certfile: str, keyfile: str | None) -> tuple[str, str | None]:
    """(why, hint) for a certificate/key pair OpenSSL refused."""
    if exc.reason == "KEY_VALUES_MISMATCH":
        return "the private key does not match the certificate", None
    if "BEGIN CERTIFICATE" not in _text(certfile):
        return "no PEM certificate in it", "--certfile takes the certificate chain (PEM)"
    key_path = keyfile or certfile
    if "PRIVATE KEY" not in _text(key_path):
        hint = "give the key with --keyfile" if keyfile is None else None
        return f"no PEM private key in {key_path!r}", hint
    return f"OpenSSL refused it: {exc.reason or exc}", None


def _text(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            return file.read(1 << 20)
    except OSError:
        return ""
