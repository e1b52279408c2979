"""Tests for arobase.tls: generation, real handshakes, hot reload, errors."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import ssl
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from arobase.tls import TLSConfigError, TLSContexts, describe, generate_self_signed


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    generate_self_signed("mail.example.test", cert, key)
    return cert, key


@pytest.fixture
async def server(pair: tuple[Path, Path]) -> AsyncIterator[tuple[TLSContexts, int, list[str]]]:
    """An echo server over TLS; yields the contexts, its port and the described sessions."""
    contexts = TLSContexts(*pair)
    sessions: list[str] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sessions.append(describe(writer.get_extra_info("ssl_object")))
        try:
            while line := await reader.readline():
                writer.write(line)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=contexts.server_context())
    port = srv.sockets[0].getsockname()[1]
    async with srv:
        yield contexts, port, sessions


def client_context(*certs: Path) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.load_verify_locations(cadata="".join(c.read_text() for c in certs))
    return context


async def connect(
    port: int, context: ssl.SSLContext, hostname: str = "localhost"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=hostname)


async def echo_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    writer.write(b"ping\n")
    await writer.drain()
    return await asyncio.wait_for(reader.readline(), 5) == b"ping\n"


def peer_serial(writer: asyncio.StreamWriter) -> int:
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number


def test_generate_writes_files_with_safe_modes(pair: tuple[Path, Path]) -> None:
    cert, key = pair
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert.stat().st_mode) == 0o644
    assert sorted(p.name for p in cert.parent.iterdir()) == ["cert.pem", "key.pem"]  # no temp files


def test_generate_replaces_existing_key_keeping_0600(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    key.write_text("old")
    key.chmod(0o644)
    generate_self_signed("mail.example.test", cert, key)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "PRIVATE KEY" in key.read_text()


def test_generated_certificate_names(pair: tuple[Path, Path]) -> None:
    cert = x509.load_pem_x509_certificate(pair[0].read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mail.example.test", "localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_generate_with_idn_hostname(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    generate_self_signed("mail.exemple-été.test", cert, key, days=1)
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    san = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName)[0] == "mail.xn--exemple-t-i4ab.test"


async def test_handshake_verifies_localhost(server: tuple[TLSContexts, int, list[str]]) -> None:
    contexts, port, sessions = server
    reader, writer = await connect(port, client_context(contexts.cert_path))
    assert await echo_ok(reader, writer)
    assert writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
    writer.close()
    assert sessions[0].startswith("TLSv1.")
    assert sessions[0].split()[1]  # cipher name


async def test_handshake_verifies_configured_hostname(
    server: tuple[TLSContexts, int, list[str]],
) -> None:
    contexts, port, _ = server
    reader, writer = await connect(port, client_context(contexts.cert_path), "mail.example.test")
    assert await echo_ok(reader, writer)
    writer.close()


async def test_handshake_rejects_wrong_hostname(server: tuple[TLSContexts, int, list[str]]) -> None:
    contexts, port, _ = server
    with pytest.raises(ssl.SSLCertVerificationError):
        await connect(port, client_context(contexts.cert_path), "other.test")


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
async def test_tls_1_1_client_is_refused(server: tuple[TLSContexts, int, list[str]]) -> None:
    _, port, _ = server
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await connect(port, old)
    old.maximum_version = ssl.TLSVersion.TLSv1_2  # same client, newer protocol: accepted
    reader, writer = await connect(port, old)
    assert await echo_ok(reader, writer)
    writer.close()


async def test_reload_serves_new_certificate_without_dropping_connections(
    server: tuple[TLSContexts, int, list[str]], tmp_path: Path
) -> None:
    contexts, port, _ = server
    old_copy = tmp_path / "old.pem"
    old_copy.write_bytes(contexts.cert_path.read_bytes())
    context_before = contexts.server_context()

    old_reader, old_writer = await connect(port, client_context(contexts.cert_path))
    old_serial = peer_serial(old_writer)

    generate_self_signed("mail.example.test", contexts.cert_path, contexts.key_path)
    contexts.reload()
    assert contexts.server_context() is context_before

    trust = client_context(old_copy, contexts.cert_path)
    new_reader, new_writer = await connect(port, trust)
    new_serial = peer_serial(new_writer)
    assert new_serial != old_serial
    assert new_serial == contexts.certificate.serial_number

    assert await echo_ok(old_reader, old_writer)
    assert await echo_ok(new_reader, new_writer)
    old_writer.close()
    new_writer.close()


async def test_failed_reload_keeps_serving_old_certificate(
    server: tuple[TLSContexts, int, list[str]],
) -> None:
    contexts, port, _ = server
    trust = client_context(contexts.cert_path)
    serial = contexts.certificate.serial_number
    contexts.key_path.write_text("garbage\n")
    with pytest.raises(TLSConfigError, match=str(contexts.key_path)):
        contexts.reload()
    reader, writer = await connect(port, trust)
    assert peer_serial(writer) == serial
    assert await echo_ok(reader, writer)
    writer.close()


def test_reload_refuses_key_type_change(pair: tuple[Path, Path], tmp_path: Path) -> None:
    contexts = TLSContexts(*pair)
    other_cert, other_key = tmp_path / "other.pem", tmp_path / "other.key"
    generate_self_signed("mail.example.test", other_cert, other_key)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    contexts.key_path.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    contexts.cert_path.write_bytes(_self_signed_rsa_cert(rsa_key))
    with pytest.raises(TLSConfigError, match="key type changed from EC to RSA"):
        contexts.reload()


def _self_signed_rsa_cert(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_missing_certificate_names_the_path(tmp_path: Path) -> None:
    cert, key = tmp_path / "nope.pem", tmp_path / "key.pem"
    with pytest.raises(TLSConfigError, match=f"certificate file not found: {cert}"):
        TLSContexts(cert, key)


def test_missing_key_names_the_path(pair: tuple[Path, Path], tmp_path: Path) -> None:
    key = tmp_path / "missing.key"
    with pytest.raises(TLSConfigError, match=f"key file not found: {key}"):
        TLSContexts(pair[0], key)


def test_mismatched_key_names_both_paths(pair: tuple[Path, Path], tmp_path: Path) -> None:
    other_cert, other_key = tmp_path / "o.pem", tmp_path / "o.key"
    generate_self_signed("localhost", other_cert, other_key)
    with pytest.raises(TLSConfigError, match="does not match") as info:
        TLSContexts(pair[0], other_key)
    assert str(other_key) in str(info.value)
    assert str(pair[0]) in str(info.value)


def test_garbage_certificate(pair: tuple[Path, Path]) -> None:
    pair[0].write_text("not a certificate")
    with pytest.raises(TLSConfigError, match=f"{pair[0]}: no valid PEM certificate"):
        TLSContexts(*pair)


def test_key_path_is_a_directory(pair: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(TLSConfigError, match=f"cannot read TLS key file {tmp_path}"):
        TLSContexts(pair[0], tmp_path)


def test_unreadable_key(pair: tuple[Path, Path]) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can read anything")
    pair[1].chmod(0)
    with pytest.raises(TLSConfigError, match=f"not readable.*{pair[1]}"):
        TLSContexts(*pair)


def test_server_context_settings(pair: tuple[Path, Path]) -> None:
    context = TLSContexts(*pair).server_context()
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.options & ssl.OP_NO_COMPRESSION
    names = {cipher["name"] for cipher in context.get_ciphers()}
    assert "ECDHE-ECDSA-AES128-GCM-SHA256" in names
    assert not any("CBC" in name or "RC4" in name for name in names)


def test_bad_cipher_list(pair: tuple[Path, Path]) -> None:
    with pytest.raises(TLSConfigError, match="no usable cipher"):
        TLSContexts(*pair, ciphers="NOT-A-CIPHER")
