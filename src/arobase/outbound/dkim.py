"""DKIM for mail we send (RFC 6376): keys per domain, their DNS records, and signing with dkimpy.

Keys live in the store (table dkim_keys), so a backup of the data directory carries them. Each domain
gets an RSA 2048 key when it is added; `arobase domain dkim-rotate` adds a key under a new selector and
retires the old one, whose record may stay published until mail signed with it has been read.

Only RSA keys are created: dkimpy needs PyNaCl for Ed25519 (RFC 8463), which is not a dependency.
"""

from __future__ import annotations

import base64
import functools
import logging
import time
from collections.abc import Sequence
from email.utils import getaddresses

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from ..services.delivery import header_fields
from ..store import DKIMKey, Store

log = logging.getLogger("arobase.outbound.dkim")

RSA_BITS = 2048
#: The usual header set (RFC 6376 5.4.1), plus From and Subject signed twice ("oversigning") so nobody can add
#: a second one after signing without breaking the signature. Absent fields are signed as absent.
SIGNED_HEADERS = (
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "Content-Language",
)
OVERSIGNED = ("From", "Subject")


def new_selector(store: Store, domain: str) -> str:
    """A selector not used before by the domain: the date, then a counter if needed (`a20261126`, `a20261126b`)."""
    used = {key.selector for key in store.dkim_keys(domain, active_only=False)}
    base = "a" + time.strftime("%Y%m%d", time.gmtime())
    for suffix in ["", *"bcdefghijklmnopqrstuvwxyz"]:
        if base + suffix not in used:
            return base + suffix
    return f"{base}t{int(time.time())}"


def generate_rsa_key() -> str:
    """A new RSA 2048 private key as PKCS#8 PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def create_key(store: Store, domain: str, *, retire: bool = False) -> str:
    """Give a domain a new active signing key; returns its selector. `retire` deactivates its older keys."""
    selector = new_selector(store, domain)
    store.add_dkim_keys(domain, [(selector, "rsa", generate_rsa_key())], retire=retire).wait()
    return selector


def public_record(key: DKIMKey) -> str:
    """The TXT record to publish at SELECTOR._domainkey.DOMAIN (RFC 6376 3.6.1)."""
    private = serialization.load_pem_private_key(key.private_key.encode("ascii"), password=None)
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode('ascii')}"


def record_name(key: DKIMKey) -> str:
    return f"{key.selector}._domainkey.{key.domain}"


def candidate_domains(message: bytes, sender: str) -> list[str]:
    """Domains to sign for, best first: the From domain (what DMARC aligns with), then the envelope sender's."""
    candidates = []
    for name, value in header_fields(message)[0]:
        if name == "from":
            addresses = [addr for _, addr in getaddresses([value.decode("utf-8", "replace")]) if "@" in addr]
            if addresses:
                candidates.append(addresses[0].rpartition("@")[2].lower())
            break
    if sender and "@" in sender:
        domain = sender.rpartition("@")[2].lower()
        if domain not in candidates:
            candidates.append(domain)
    return candidates


class _Signer(dkim.DKIM):
    """dkimpy's signer with the RSA operation done by OpenSSL (cryptography) instead of pure Python.

    dkimpy computes RSA signatures with Python integers: about 16 ms per signature on this kind of machine,
    holding the GIL. Canonicalization, header selection and folding stay dkimpy's; only `gen_header` is
    replaced, following dkimpy 1.1's own, with the signature taken over the same header hash.
    """

    def __init__(self, message: bytes, key: rsa.RSAPrivateKey) -> None:
        super().__init__(message, linesep=b"\r\n")
        self._key = key

    def gen_header(  # type: ignore[no-untyped-def]
        self, fields, include_headers, canon_policy, header_name, pk, standardize=False
    ) -> bytes:
        header_value = b"; ".join(b"=".join(x) for x in fields)
        header_value = dkim.fold(header_value, namelen=len(header_name), linesep=b"\r\n")
        header_value = dkim.RE_BTAG.sub(b"\\1", header_value)
        header = (header_name, b" " + header_value)
        h = dkim.HashThrough(self.hasher(), self.debug_content)
        headers = canon_policy.canonicalize_headers(self.headers)
        self.signed_headers = dkim.hash_headers(h, canon_policy, headers, include_headers, header, dict(fields))
        signature = self._key.sign(h.digest(), padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        index = next(i for i, (tag, _) in enumerate(fields) if tag == b"b")
        fields[index] = (b"b", base64.b64encode(signature))
        header_value = b"; ".join(b"=".join(x) for x in fields) + self.linesep
        return dkim.fold(header_value, namelen=len(header_name), linesep=self.linesep)


@functools.lru_cache(maxsize=256)
def _private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise dkim.KeyFormatError("not an RSA key")
    return key


def sign(message: bytes, keys: Sequence[DKIMKey]) -> bytes:
    """DKIM-Signature fields for `message` (CRLF line ends), one per key, to prepend to it.

    A key that fails to sign (corrupt PEM) is logged and skipped: the message still goes out, unsigned
    by that key, rather than staying stuck in the queue.
    """
    include = [name.encode() for name in (*SIGNED_HEADERS, *OVERSIGNED)]
    fields = b""
    for key in keys:
        try:
            signer = _Signer(message, _private_key(key.private_key))
            fields += signer.sign(
                key.selector.encode("ascii"),
                key.domain.encode("ascii"),
                key.private_key.encode("ascii"),
                signature_algorithm=b"rsa-sha256",
                include_headers=include,
                canonicalize=(b"relaxed", b"relaxed"),
            )
        except (dkim.DKIMException, ValueError) as e:
            log.error("DKIM signing with %s failed: %s", record_name(key), e)
    return fields
