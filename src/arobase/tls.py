"""TLS that works out of the box: a self-signed certificate and a reloadable server context.

Arobase must offer STARTTLS/IMAPS from the first start, before the admin has a
real certificate, and must pick up a renewed certificate on SIGHUP without
dropping the connections in progress. Both needs are served here.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from arobase.addressing import AddressError, normalize_domain

__all__ = ["DEFAULT_CIPHERS", "TLSConfigError", "TLSContexts", "describe", "generate_self_signed"]

# Mozilla "intermediate" TLS 1.2 suites; TLS 1.3 suites are OpenSSL's defaults.
DEFAULT_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256",
        "DHE-RSA-AES256-GCM-SHA384",
        "DHE-RSA-CHACHA20-POLY1305",
    ]
)


class TLSConfigError(Exception):
    """The certificate or key cannot be used; the message names the offending file."""


def generate_self_signed(hostname: str, cert_path: Path, key_path: Path, days: int = 825) -> None:
    """Write a self-signed EC P-256 certificate for hostname, localhost and 127.0.0.1.

    The key file is created with mode 0600 from the start and both files are
    replaced atomically, so a concurrent reader never sees a half-written pair
    and the key is never world-readable.
    """
    alt_names = _subject_alt_names(hostname)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    common_name = str(alt_names[0].value)[:64]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    public_key = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # tolerate small clock skew
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_atomic(Path(key_path), key_pem, 0o600)
    _write_atomic(Path(cert_path), cert.public_bytes(serialization.Encoding.PEM), 0o644)


class TLSContexts:
    """Owns the server SSLContext and reloads its certificate in place.

    Listeners keep a reference to :meth:`server_context`; :meth:`reload` loads
    the new certificate into that same object, so new handshakes use it while
    established connections carry on untouched. ``certificate`` is the leaf
    currently served, for expiry checks.
    """

    def __init__(
        self,
        cert_path: Path,
        key_path: Path,
        *,
        ciphers: str = DEFAULT_CIPHERS,
        minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
    ) -> None:
        self.cert_path = Path(cert_path)
        self.key_path = Path(key_path)
        self._ciphers = ciphers
        self._minimum_version = minimum_version
        self.certificate, self._key_kind = _check_pair(self.cert_path, self.key_path)
        self._server = self._new_server_context()
        self._load(self._server)

    def server_context(self) -> ssl.SSLContext:
        """The context to give to listeners; always the same object."""
        return self._server

    def reload(self) -> None:
        """Re-read the certificate and key into the live context.

        Everything is checked on a scratch context first: a bad file raises
        TLSConfigError and leaves the running context serving the old certificate.
        """
        certificate, key_kind = _check_pair(self.cert_path, self.key_path)
        if key_kind != self._key_kind:
            # An SSLContext keeps one certificate per key type and cannot drop
            # one, so the old certificate would still be offered to some clients.
            raise TLSConfigError(
                f"{self.key_path}: key type changed from {self._key_kind} to {key_kind}; "
                "restart Arobase to use it"
            )
        self._load(self._new_server_context())
        self._load(self._server)
        self.certificate = certificate

    def _new_server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = self._minimum_version
        try:
            context.set_ciphers(self._ciphers)
        except ssl.SSLError:
            raise TLSConfigError(f"no usable cipher in {self._ciphers!r}") from None
        context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
        context.options |= ssl.OP_NO_RENEGOTIATION
        return context

    def _load(self, context: ssl.SSLContext) -> None:
        try:
            context.load_cert_chain(self.cert_path, self.key_path)
        except OSError as exc:  # ssl.SSLError is an OSError too
            raise TLSConfigError(
                f"cannot load certificate {self.cert_path} with key {self.key_path}: {exc}"
            ) from exc


def describe(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> str:
    """Protocol and cipher of a finished handshake, e.g. for Received headers."""
    version = ssl_object.version()
    cipher = ssl_object.cipher()
    if version is None or cipher is None:
        return ""
    return f"{version} {cipher[0]}"


def _subject_alt_names(hostname: str) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for name in (hostname, "localhost"):
        try:
            entry: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(name))
        except ValueError:
            entry = x509.DNSName(_a_label(name))
        if entry not in names:
            names.append(entry)
    loopback = x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))
    if loopback not in names:
        names.append(loopback)
    return names


def _a_label(hostname: str) -> str:
    try:
        return normalize_domain(hostname)
    except AddressError as exc:
        raise ValueError(f"invalid hostname for a certificate: {exc}") from None


def _check_pair(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, str]:
    """Parse both files and check that they belong together, for clear error messages."""
    cert_data = _read(cert_path, "certificate")
    key_data = _read(key_path, "key")
    try:
        chain = x509.load_pem_x509_certificates(cert_data)
    except ValueError:
        raise TLSConfigError(f"{cert_path}: no valid PEM certificate found") from None
    try:
        key = serialization.load_pem_private_key(key_data, password=None)
    except TypeError:
        raise TLSConfigError(f"{key_path}: encrypted keys are not supported") from None
    except (ValueError, UnsupportedAlgorithm):
        raise TLSConfigError(f"{key_path}: no valid PEM private key found") from None
    leaf = chain[0]
    if leaf.public_key() != key.public_key():
        raise TLSConfigError(f"{key_path}: key does not match the certificate {cert_path}")
    return leaf, _key_kind(key)


def _key_kind(key: object) -> str:
    """OpenSSL keeps one certificate slot per kind of key; name that slot."""
    kinds = {
        "EC": ec.EllipticCurvePrivateKey,
        "RSA": rsa.RSAPrivateKey,
        "Ed25519": ed25519.Ed25519PrivateKey,
        "Ed448": ed448.Ed448PrivateKey,
    }
    return next((kind for kind, cls in kinds.items() if isinstance(key, cls)), type(key).__name__)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise TLSConfigError(f"TLS {what} file not found: {path}") from None
    except PermissionError:
        raise TLSConfigError(f"TLS {what} file not readable (permission denied): {path}") from None
    except OSError as exc:
        raise TLSConfigError(f"cannot read TLS {what} file {path}: {exc.strerror}") from None


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write data to path with exactly mode, through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), mode)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
