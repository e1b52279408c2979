"""Email addresses: strict parsing, canonical lookup keys and IDN handling.

Everything that takes an address from the outside world (SMTP commands, the
webmail, the admin CLI) goes through :func:`parse_address` or :func:`parse_path`,
so that accounts, relay checks and display all agree on what an address is.

Syntax follows RFC 5321 (``Mailbox``, ``Path``) extended by RFC 6531 (UTF-8 in
local parts and U-labels in domains). Domains are kept in A-label (punycode)
form; local parts are case-insensitive in Arobase, so lookups use :attr:`EmailAddress.key`.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import string
import unicodedata
from dataclasses import dataclass

import idna

__all__ = [
    "AddressError",
    "EmailAddress",
    "domain_display",
    "has_relay_tricks",
    "normalize_domain",
    "parse_address",
    "parse_path",
    "split_subaddress",
]

MAX_LOCAL_OCTETS = 64  # RFC 5321 section 4.5.3.1.1
MAX_DOMAIN_OCTETS = 255  # RFC 5321 section 4.5.3.1.2

_ATEXT = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~")
_LDH_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_RELAY_CHARS = frozenset("%!@")


class AddressError(ValueError):
    """An address that Arobase refuses; the message is meant for humans."""


@dataclass(frozen=True)
class EmailAddress:
    """A parsed mailbox.

    ``local`` is the local part as the sender wrote it, unquoted (``john doe`` for
    ``"john doe"@…``), with its case kept for display. ``domain`` is the A-label
    form in lower case without a trailing dot, or an address literal such as
    ``[192.0.2.1]``. Build instances with :func:`parse_address`.
    """

    local: str
    domain: str

    @property
    def local_key(self) -> str:
        """Local part for comparison: case-folded and NFC, as addresses are case-insensitive."""
        return unicodedata.normalize("NFC", unicodedata.normalize("NFD", self.local).casefold())

    @property
    def key(self) -> str:
        """Canonical lookup key, itself a valid address: ``local_key@domain``."""
        return f"{_quote_local(self.local_key)}@{self.domain}"

    @property
    def is_literal(self) -> bool:
        """True when the domain is an address literal like ``[192.0.2.1]``."""
        return self.domain.startswith("[")

    @property
    def display(self) -> str:
        """Address for humans, with the domain in Unicode (U-label) form."""
        return f"{_quote_local(self.local)}@{domain_display(self.domain)}"

    def __str__(self) -> str:
        """Address for the wire, with the domain in A-label form."""
        return f"{_quote_local(self.local)}@{self.domain}"


def parse_address(text: str) -> EmailAddress:
    """Parse an addr-spec (``local@domain``), refusing anything ambiguous."""
    if not text:
        raise AddressError("empty address")
    _reject_controls(text)
    if text.startswith("@"):
        if ":" in text:
            raise AddressError(f"source routes are not allowed in an address: {_show(text)}")
        raise AddressError(f"missing local part before '@': {_show(text)}")

    if text.startswith('"'):
        local, end = _parse_quoted(text)
        if end == len(text) or text[end] != "@":
            raise AddressError(f"expected '@' after the quoted local part: {_show(text)}")
        raw_local, domain_text = text[:end], text[end + 1 :]
    else:
        raw_local, at, domain_text = text.partition("@")
        if not at:
            raise AddressError(f"missing '@': {_show(text)}")
        _check_dot_atom(raw_local, text)
        local = raw_local

    if "@" in domain_text:
        raise AddressError(f"more than one '@' outside quotes: {_show(text)}")
    if not local:
        raise AddressError(f"empty local part: {_show(text)}")
    if len(raw_local.encode("utf-8")) > MAX_LOCAL_OCTETS:
        raise AddressError(f"local part longer than {MAX_LOCAL_OCTETS} octets: {_show(text)}")
    if not domain_text:
        raise AddressError(f"missing domain after '@': {_show(text)}")

    if domain_text.startswith("["):
        domain = _parse_literal(domain_text)
    else:
        domain = normalize_domain(domain_text)
    return EmailAddress(local=local, domain=domain)


def parse_path(text: str) -> EmailAddress | None:
    """Parse an SMTP path ``<…>``; ``<>`` (the null sender) gives None.

    A source route (``<@a,@b:user@d>``) is checked and then ignored, as RFC 5321
    section 4.1.2 requires.
    """
    if len(text) < 2 or not text.startswith("<") or not text.endswith(">"):
        raise AddressError(f"a path must be enclosed in '<' and '>': {_show(text)}")
    inner = text[1:-1]
    if not inner:
        return None
    if inner.startswith("@"):
        route, colon, inner = inner.partition(":")
        if not colon:
            raise AddressError(f"source route without ':': {_show(text)}")
        for hop in route.split(","):
            if not hop.startswith("@") or len(hop) == 1:
                raise AddressError(f"malformed source route: {_show(text)}")
            normalize_domain(hop[1:])
    return parse_address(inner)


def has_relay_tricks(addr: EmailAddress) -> bool:
    """True if the local part could smuggle another destination (``%``, ``!`` or ``@``).

    Old sendmail-style routing (``user%other@host``, ``host!user``) is a classic
    way to turn a server into an open relay, so SMTP refuses such recipients.
    """
    return any(char in _RELAY_CHARS for char in addr.local)


def split_subaddress(local: str, separator: str = "+") -> tuple[str, str | None]:
    """Split ``user+tag`` into ``("user", "tag")``; the tag is None if there is none.

    A leading separator is part of the name, not a subaddress. ``user+`` gives an
    empty tag so that callers can tell it from plain ``user``.
    """
    if not separator:
        raise ValueError("separator must not be empty")
    index = local.find(separator, 1)
    if index == -1:
        return local, None
    return local[:index], local[index + len(separator) :]


@functools.lru_cache(maxsize=4096)  # IDNA checks cost ~0.1 ms, and the same domains come back all day
def normalize_domain(text: str) -> str:
    """Return a domain as lower-case A-labels without a trailing dot.

    Unicode input is mapped with UTS 46 (so ``Exemple-Été.test`` works) and then
    checked against IDNA 2008 and the letter-digit-hyphen rule.
    """
    _reject_controls(text)
    try:
        ascii_domain = idna.encode(text, uts46=True, std3_rules=True, transitional=False)
    except (idna.IDNAError, UnicodeError) as exc:
        raise AddressError(f"invalid domain {_show(text)}: {exc}") from None
    domain = ascii_domain.decode("ascii").lower().removesuffix(".")
    if len(domain) > MAX_DOMAIN_OCTETS:
        raise AddressError(f"domain longer than {MAX_DOMAIN_OCTETS} octets: {_show(text)}")
    for label in domain.split("."):
        if not _LDH_LABEL.match(label):
            raise AddressError(f"invalid label {label!r} in domain {_show(text)}")
    return domain


def domain_display(a_label: str) -> str:
    """Return the Unicode (U-label) form of a domain for display."""
    if a_label.startswith("["):
        return a_label
    try:
        return idna.decode(a_label)
    except (idna.IDNAError, UnicodeError) as exc:
        raise AddressError(f"invalid domain {_show(a_label)}: {exc}") from None


def _parse_quoted(text: str) -> tuple[str, int]:
    """Read the quoted string at the start of text; return its content and end index."""
    content: list[str] = []
    index = 1
    while index < len(text):
        char = text[index]
        if char == '"':
            return "".join(content), index + 1
        if char == "\\":
            index += 1
            if index == len(text) or not " " <= text[index] <= "~":
                raise AddressError(f"invalid escape in quoted local part: {_show(text)}")
            char = text[index]
        elif not (" " <= char <= "~" or _is_utf8_text(char)):
            raise AddressError(f"invalid character {char!r} in quoted local part: {_show(text)}")
        content.append(char)
        index += 1
    raise AddressError(f"unterminated quoted local part: {_show(text)}")


def _check_dot_atom(local: str, text: str) -> None:
    if not local:
        raise AddressError(f"empty local part: {_show(text)}")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise AddressError(f"misplaced dot in local part: {_show(text)}")
    for char in local:
        if char != "." and char not in _ATEXT and not _is_utf8_text(char):
            raise AddressError(f"invalid character {char!r} in local part: {_show(text)}")


def _parse_literal(text: str) -> str:
    """Validate ``[IPv4]`` or ``[IPv6:…]`` and return it in canonical form."""
    if not text.endswith("]"):
        raise AddressError(f"unterminated address literal: {_show(text)}")
    body = text[1:-1]
    try:
        if body[:5].lower() == "ipv6:":
            ipv6 = ipaddress.IPv6Address(body[5:])
            if ipv6.scope_id is None:
                return f"[IPv6:{ipv6.compressed}]"
        else:
            return f"[{ipaddress.IPv4Address(body)}]"
    except ValueError:
        pass
    raise AddressError(f"invalid address literal: {_show(text)}")


def _is_utf8_text(char: str) -> bool:
    """Non-ASCII characters allowed by RFC 6531, minus invisible and space-like ones."""
    return char > "\x7f" and unicodedata.category(char)[0] not in "CZ"


def _quote_local(local: str) -> str:
    """Quote a local part only when it is not a valid dot-atom."""
    dot_atom = (
        local
        and not local.startswith(".")
        and not local.endswith(".")
        and ".." not in local
        and all(c == "." or c in _ATEXT or _is_utf8_text(c) for c in local)
    )
    if dot_atom:
        return local
    escaped = local.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _reject_controls(text: str) -> None:
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise AddressError(f"control character {char!r} in {_show(text)}")


def _show(text: str) -> str:
    """Quote user input for an error message, cut short if it is huge."""
    return repr(text if len(text) <= 80 else text[:77] + "...")
