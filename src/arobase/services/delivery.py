"""Delivery: what happens to a message once a protocol has accepted its envelope and bytes.

SMTP (MX and submission) and later the webmail's send all end here, so the rules live once:
where an address goes (local accounts, remote addresses through aliases), which addresses a user
may send as, the headers a submission must carry, and the trace headers we prepend before the
message is stored durably, for every local recipient and the outbound queue in one atomic step.

The message body is never rewritten: the stored bytes are the received bytes (CRLF line ends)
with our header fields prepended (and, for submissions, a missing Message-ID or Date added to the
header block).

Headers that belong to final delivery (`Return-Path`, `Delivered-To`) are only written when every
recipient is local: the blob is shared by all recipients and by the outbound queue, and a message
we relay must not carry them (RFC 5321 4.4), nor reveal one local recipient to the others, so
`Delivered-To` is added only when there is exactly one local recipient and no remote one.
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import logging
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from ..addressing import AddressError, EmailAddress, parse_address, split_subaddress
from ..mime import ParsedMessage, parse_message
from ..store import Account, Store
from .accounts import Accounts

log = logging.getLogger("arobase.delivery")

MAX_HOPS = 50  # Received fields before we call it a loop (RFC 5321 6.3 suggests at least 100 for relays)
FOLD = b"\r\n\t"


@dataclass(frozen=True, slots=True)
class Origin:
    """Who handed us the message: written in the Received header, used by the sender checks."""

    client_ip: str
    helo: str
    protocol: str  # the Received "with" keyword: ESMTP, ESMTPS, ESMTPSA, UTF8SMTPS (RFC 3848, 6531), HTTP
    tls: str = ""  # tls.describe() of the connection, "" without TLS
    login: str = ""  # the authenticated user, "" for none


@dataclass(slots=True)
class Route:
    """Where mail for one address goes. Disabled accounts are left out, as if they did not exist."""

    address: EmailAddress
    local_domain: bool
    accounts: list[Account] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)

    @property
    def exists(self) -> bool:
        return bool(self.accounts or self.remote)


@dataclass(frozen=True, slots=True)
class Delivered:
    id: str  # our message id, in the Received header and the log
    size: int  # bytes stored, headers included
    placed: list[tuple[int, int, int]]  # (account id, mailbox id, uid)
    queued: int  # outbound entries created
    blob: str = ""  # hash of the stored message


class Delivery:
    def __init__(self, store: Store, accounts: Accounts, hostname: str) -> None:
        self.store = store
        self.accounts = accounts
        self.hostname = hostname
        self._ids = itertools.count()
        self._id_prefix = f"{int(time.time()):08x}{secrets.token_hex(2)}"

    def new_id(self) -> str:
        """A unique id for Received and the log; a counter, so no system call per message."""
        return f"{self._id_prefix}{next(self._ids):06x}"

    # -- addresses -------------------------------------------------------------------------

    def is_local_domain(self, domain: str) -> bool:
        return not domain.startswith("[") and self.store.get_domain(domain) is not None

    def route(self, address: EmailAddress) -> Route:
        """Resolve a recipient through accounts, aliases, subaddresses and catch-alls."""
        if not self.is_local_domain(address.domain):
            return Route(address, False, remote=[str(address)])
        resolution = self.accounts.resolve(address)
        return Route(address, True, [a for a in resolution.accounts if not a.disabled], list(resolution.remote))

    def owns(self, account: Account, address: str | EmailAddress) -> bool:
        """May `account` send as `address`: its own address (with any +tag) or an alias reaching it.

        A catch-all alias does not count: owning `@domain` would let its target send as every
        address of the domain that has no account of its own.
        """
        try:
            parsed = address if isinstance(address, EmailAddress) else parse_address(address)
        except AddressError:
            return False
        if not self.is_local_domain(parsed.domain):
            return False
        keys = [parsed.key]
        if self.accounts.separator:
            base, tag = split_subaddress(parsed.local_key, self.accounts.separator)
            if tag is not None:
                keys.append(f"{base}@{parsed.domain}")
        for key in keys:
            found = self.store.find_account(key)
            if found is not None:
                return found.id == account.id
            alias = self.store.find_alias(key)
            if alias is not None:
                return any(reached.id == account.id for target in alias.targets for reached in self._reach(target))
        return False

    def _reach(self, target: str) -> list[Account]:
        try:
            return self.accounts.resolve(target).accounts
        except AddressError:
            return []

    # -- message checks for submission -----------------------------------------------------

    def authors(self, message: bytes) -> list[str] | None:
        """Addresses in From and Sender; None when the message has no From address at all."""
        fields, _ = header_fields(message)
        found: dict[str, list[str]] = {"from": [], "sender": []}
        for name, value in fields:
            if name in found:
                text = value.decode("utf-8", "replace")
                found[name] += [addr for _, addr in email.utils.getaddresses([text]) if addr] or [text]
        if not found["from"]:
            return None
        return found["from"] + found["sender"]

    def unowned_authors(self, account: Account, message: bytes) -> list[str] | None:
        """From/Sender addresses the account may not use; None when there is no From."""
        authors = self.authors(message)
        if authors is None:
            return None
        return [author for author in authors if not self.owns(account, author)]

    def complete_submission(self, message: bytes) -> bytes:
        """Add the Message-ID and Date a submitted message lacks (RFC 6409 8.2, 8.3)."""
        fields, end = header_fields(message)
        names = {name for name, _ in fields}
        added = b""
        if "date" not in names:
            added += b"Date: " + email.utils.formatdate(localtime=True).encode() + b"\r\n"
        if "message-id" not in names:
            added += b"Message-ID: <" + secrets.token_hex(16).encode() + b"@" + self.hostname.encode() + b">\r\n"
        return message[:end] + added + message[end:] if added else message

    # -- storing ---------------------------------------------------------------------------

    async def deliver(
        self,
        message: bytes,
        *,
        sender: str,
        accounts: Sequence[Account],
        remote: Sequence[str],
        origin: Origin,
        recipients: Sequence[str] = (),
        sender_account: int | None = None,
        prepend: bytes = b"",
        mailboxes: Mapping[int, str] | None = None,
        parsed: ParsedMessage | None = None,
    ) -> Delivered:
        """Prepend the trace headers, store the blob durably, then place it everywhere at once.

        Returns only when the blob is fsynced and the metadata committed, so the caller may
        acknowledge. `recipients` are the addresses as the client gave them (a single one is
        named in Received); `prepend` carries extra header fields such as Authentication-Results;
        `mailboxes` names each account's target mailbox (the filters' Junk), INBOX by default.
        `parsed` is the caller's parse of `message` (the filters made one), reused by the store.
        Raises the store's QuotaExceeded (nothing stored for anyone) when an account is full.
        """
        message_id = self.new_id()
        headers = b""
        if not remote:
            headers += b"Return-Path: <" + sender.encode() + b">\r\n"
            if len(accounts) == 1:
                headers += b"Delivered-To: " + accounts[0].address.encode() + b"\r\n"
        headers += prepend + self.received(origin, message_id, recipients)
        raw = headers + message
        whole = prefixed(parsed, headers, message) if parsed is not None else None
        blob = await asyncio.to_thread(self.store.put_message, raw, whole)
        placed = await self.store.deliver(
            blob,
            [(account.id, (mailboxes or {}).get(account.id, "INBOX")) for account in accounts],
            outbound=list(remote),
            sender=sender,
            sender_account=sender_account,
        )
        log.info(
            "%s: from <%s> via %s [%s]%s, %d bytes, %d local, %d queued",
            message_id,
            sender,
            origin.protocol,
            origin.client_ip,
            f" as {origin.login}" if origin.login else "",
            len(raw),
            len(placed),
            len(remote),
        )
        return Delivered(message_id, len(raw), placed, len(remote), blob.hash)

    def received(self, origin: Origin, message_id: str, recipients: Sequence[str] = ()) -> bytes:
        """The Received field (RFC 5321 4.4), folded; names a recipient only when there is one."""
        parts = [f"Received: from {_token(origin.helo)} ([{origin.client_ip}])"]
        if origin.tls:
            parts.append(f"(using {_token(origin.tls)})")
        if origin.login:
            parts.append(f"(authenticated user {_token(origin.login)})")
        parts.append(f"by {self.hostname} (Arobase) with {origin.protocol} id {message_id}")
        stamp = email.utils.formatdate(localtime=True)
        if len(recipients) == 1:
            parts.append(f"for <{_token(recipients[0])}>; {stamp}")
        else:
            parts[-1] += ";"
            parts.append(stamp)
        return FOLD.join(part.encode("utf-8") for part in parts) + b"\r\n"


def prefixed(parsed: ParsedMessage, headers: bytes, message: bytes) -> ParsedMessage | None:
    """The parse of `headers + message` from the parse of `message`, or None when it cannot be derived.

    Parsing is the costliest step of ingest: the trace fields added in front change only the root's
    header block, so part offsets shift and the header text gains those fields; the rest is the same.
    """
    if not parsed.parts or parsed.parts[0].header_start != 0 or not headers.endswith(b"\r\n"):
        return None
    if message[:1] in (b" ", b"\t"):  # it would continue the last trace field
        return None
    shift = len(headers)
    front = parse_message(headers + b"\r\n").header_text
    parts = [
        replace(
            part,
            header_start=part.header_start + shift if part.header_start else 0,
            body_start=part.body_start + shift,
            body_end=part.body_end + shift,
        )
        for part in parsed.parts
    ]
    text = front + "\n" + parsed.header_text if parsed.header_text else front
    return replace(parsed, parts=parts, header_text=text)


def header_fields(message: bytes) -> tuple[list[tuple[str, bytes]], int]:
    """The unfolded header fields (lower-case names) and the offset where the header block ends.

    The end is where a missing field may be inserted: the blank line, or the first line that is
    not a header field when a sloppy message has no blank line.
    """
    fields: list[tuple[str, bytes]] = []
    pos = 0
    size = len(message)
    while pos < size:
        end = message.find(b"\r\n", pos)
        nxt = size if end == -1 else end + 2
        line = message[pos : size if end == -1 else end]
        if not line:
            return fields, pos
        if line[:1] in (b" ", b"\t"):
            if not fields:
                return fields, pos
            name, value = fields[-1]
            fields[-1] = (name, value + b" " + line.strip())
        else:
            name, colon, value = line.partition(b":")
            if not colon or not name or not all(33 <= c <= 126 for c in name):
                return fields, pos
            fields.append((name.decode("ascii").lower(), value.strip()))
        pos = nxt
    return fields, pos


def hop_count(message: bytes) -> int:
    """How many Received fields the message already carries, to stop mail loops."""
    return sum(1 for name, _ in header_fields(message)[0] if name == "received")


def _token(text: str) -> str:
    """Client-supplied text made safe inside a Received comment or clause."""
    return "".join(c if c.isprintable() and c not in "()\\;<>" else "?" for c in text)[:200] or "unknown"
