"""wscli.net.tls: certificate/key problems explained in one line; no pass-phrase prompt."""

from __future__ import annotations

import contextlib
import datetime
import ssl
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from tests.support import run_wscli
from wscli.core.errors import UsageProblem
from wscli.net.tls import (
    DECRYPT_HINT,
    certificate_problem,
    client_context,
    server_context,
    validity,
)


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("pems")
    ca = trustme.CA()
    cert, other = ca.issue_cert("127.0.0.1"), ca.issue_cert("127.0.0.2")
    cert.cert_chain_pems[0].write_to_path(where / "cert.pem")
    cert.private_key_pem.write_to_path(where / "key.pem")
    cert.private_key_and_cert_chain_pem.write_to_path(where / "both.pem")
    other.private_key_pem.write_to_path(where / "other-key.pem")
    key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), None)
    (where / "encrypted.pem").write_bytes(
        key.private_bytes(  # type: ignore[union-attr]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    return where


def _served_certificate(server: ssl.SSLContext) -> bytes:
    """The certificate ``server`` presents in a real TLS handshake (in memory, no socket)."""
    client = ssl.create_default_context()
    client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
    wires = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    near = client.wrap_bio(wires[0], wires[1], server_side=False)
    far = server.wrap_bio(wires[2], wires[3], server_side=True)
    for _ in range(10):  # a TLS 1.3 handshake takes two round trips
        for side in (near, far):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        wires[2].write(wires[1].read())
        wires[0].write(wires[3].read())
    served = near.getpeercert(binary_form=True)
    assert served is not None
    return served


def test_a_good_pair_loads(pems: Path) -> None:
    # Loaded means usable: the context serves the certificate that was given.
    given_der = ssl.PEM_cert_to_DER_cert((pems / "cert.pem").read_text(encoding="ascii"))
    apart = server_context(str(pems / "cert.pem"), str(pems / "key.pem"))
    together = server_context(str(pems / "both.pem"), None)
    assert _served_certificate(apart) == given_der
    assert _served_certificate(together) == given_der


@pytest.mark.parametrize(
    ("certfile", "keyfile", "why", "hint"),
    [
        ("key.pem", None, "no PEM certificate in it", "--certfile takes the certificate chain"),
        ("cert.pem", None, "no PEM private key in '{dir}/cert.pem'", "give the key with --keyfile"),
        ("cert.pem", "cert.pem", "no PEM private key in '{dir}/cert.pem'", None),
        ("cert.pem", "other-key.pem", "the private key does not match the certificate", None),
        ("cert.pem", "encrypted.pem", "the private key is encrypted", DECRYPT_HINT),
    ],
)
def test_problems_are_explained(
    pems: Path, certfile: str, keyfile: str | None, why: str, hint: str | None
) -> None:
    with pytest.raises(UsageProblem) as caught:
        server_context(str(pems / certfile), str(pems / keyfile) if keyfile else None)
    assert caught.value.what == f"cannot load server certificate {str(pems / certfile)!r}"
    assert caught.value.why == why.format(dir=pems)
    assert (caught.value.hint or "").startswith(hint or "")
    assert bool(caught.value.hint) == bool(hint)


def test_an_encrypted_key_never_prompts(pems: Path) -> None:
    # Found by QA: OpenSSL asked "Enter PEM pass phrase:" twice, then failed with
    # "invalid argument" (and would wait forever on a terminal).
    cert, key = str(pems / "cert.pem"), str(pems / "encrypted.pem")
    result = run_wscli("serve", "--port", "0", "--certfile", cert, "--keyfile", key)
    assert result.returncode == 2
    assert result.stderr.decode() == (
        f"wscli: error: cannot load server certificate {cert!r}: the private key is encrypted "
        f"(hint: {DECRYPT_HINT})\n"
    )


def test_client_certificate_problems_name_the_client_options(pems: Path) -> None:
    with pytest.raises(UsageProblem) as caught:
        client_context(certfile=str(pems / "cert.pem"))
    assert caught.value.why == f"no PEM private key in {str(pems / 'cert.pem')!r}"
    assert caught.value.hint == "give the key with --key"
    with pytest.raises(UsageProblem, match="cannot load client certificate") as caught:
        client_context(certfile=str(pems / "cert.pem"), keyfile=str(pems / "encrypted.pem"))
    assert caught.value.why == "the private key is encrypted"


def test_an_encrypted_client_key_never_prompts(pems: Path) -> None:
    cert, key = str(pems / "cert.pem"), str(pems / "encrypted.pem")
    result = run_wscli(
        "connect", "wss://127.0.0.1:9/", "--cert", cert, "--key", key, "--open-timeout", "2"
    )
    assert result.returncode == 2
    assert result.stderr.decode() == (
        f"wscli: error: cannot load client certificate {cert!r}: the private key is encrypted "
        f"(hint: {DECRYPT_HINT})\n"
    )


# Out-of-date certificates: loaded without a word by OpenSSL, refused by every client


@pytest.mark.parametrize(
    ("dates", "problem"),
    [
        (None, None),
        (
            (datetime.datetime(2020, 1, 1), datetime.datetime(2021, 1, 1, 12, 30)),
            "expired on 2021-01-01 12:30 UTC",
        ),
        (
            (datetime.datetime(2090, 1, 1), datetime.datetime(2091, 1, 1)),
            "not valid before 2090-01-01 00:00 UTC",
        ),
    ],
)
def test_an_out_of_date_certificate_is_named(
    tmp_path: Path, dates: tuple[datetime.datetime, datetime.datetime] | None, problem: str | None
) -> None:
    kwargs = {} if dates is None else {"not_before": dates[0], "not_after": dates[1]}
    cert = trustme.CA().issue_cert("127.0.0.1", **kwargs)
    cert.private_key_and_cert_chain_pem.write_to_path(tmp_path / "both.pem")
    found = certificate_problem(str(tmp_path / "both.pem"))
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found and "clients will refuse it" in found


def test_certificate_dates_from_both_time_forms() -> None:
    cert = trustme.CA().issue_cert(
        "x", not_before=datetime.datetime(2049, 12, 31), not_after=datetime.datetime(2050, 1, 2)
    )
    der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())
    before, after = validity(der)  # UTCTime up to 2049, GeneralizedTime from 2050 (RFC 5280)
    assert (before.year, after.year, after.day) == (2049, 2050, 2)


@given(st.binary(max_size=300))
def test_any_bytes_give_dates_or_only_value_or_index_errors(data: bytes) -> None:
    with contextlib.suppress(ValueError, IndexError):
        validity(data)


@given(st.integers(min_value=0, max_value=2000), st.binary(min_size=1, max_size=1))
def test_a_mangled_certificate_gives_only_value_or_index_errors(at: int, byte: bytes) -> None:
    der = bytearray(ssl.PEM_cert_to_DER_cert(CERT_PEM))
    der[at % len(der)] = byte[0]
    with contextlib.suppress(ValueError, IndexError):
        validity(bytes(der))


CERT_PEM = trustme.CA().issue_cert("127.0.0.1").cert_chain_pems[0].bytes().decode()
