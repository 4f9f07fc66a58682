"""TLS client contexts shared by `connect` and `handshake`."""

from __future__ import annotations

import ssl

from wscli.errors import UsageProblem


def client_context(
    *,
    insecure: bool = False,
    cafile: str | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> ssl.SSLContext:
    """Build a verifying TLS client context (system CAs plus ``cafile``).

    ``insecure`` turns off certificate and host name verification; ``certfile`` and
    ``keyfile`` present a client certificate.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if cafile is not None:
        try:
            context.load_verify_locations(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise UsageProblem(f"cannot load CA file {cafile!r}", _reason(exc)) from None
    if certfile is not None:
        try:
            context.load_cert_chain(certfile, keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise UsageProblem(
                f"cannot load client certificate {certfile!r}", _reason(exc)
            ) from None
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc)
