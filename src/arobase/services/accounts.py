"""Domains, accounts, aliases and passwords: the rules above the store's records.

Everything that names an address goes through `arobase.addressing`, so `Arthur.Dupont@Example.TEST`
and `arthur.dupont@example.test` are the same mailbox everywhere, and domains are kept in A-label
form. Password checks use argon2id, with a short-lived cache of successful checks because a real
argon2 verification costs tens of milliseconds of CPU on every login.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..addressing import (
    AddressError,
    EmailAddress,
    normalize_domain,
    parse_address,
    split_subaddress,
)
from ..store import Account, Alias, Domain, NotFound, Store

MAX_ALIAS_DEPTH = 8
CACHE_TTL = 60.0
_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class AccountError(Exception):
    """A mistake in what was asked (unknown domain, bad address); the message is for the user."""


@dataclass(slots=True)
class Resolution:
    """Where mail for one address goes: local accounts and, through aliases, remote addresses."""

    accounts: list[Account] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.accounts or self.remote)


def generate_password() -> str:
    """About 100 bits of entropy in four easy-to-type groups."""
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(5)) for _ in range(4))


class Accounts:
    def __init__(
        self, store: Store, *, subaddress_separator: str = "+", default_quota: int = 0, postmaster: str = ""
    ) -> None:
        self.store = store
        self.postmaster = postmaster
        self.separator = subaddress_separator
        self.default_quota = default_quota
        self._hasher = PasswordHasher()
        self._cache: dict[bytes, float] = {}
        self._cache_lock = threading.Lock()
        self._cache_key = secrets.token_bytes(32)

    # -- domains ---------------------------------------------------------------------------

    def add_domain(self, name: str, *, dkim: bool = True) -> Domain:
        """Add a domain and, unless `dkim` is False, its first DKIM signing key."""
        domain = self.store.add_domain(_domain(name)).wait()
        if dkim:
            self.rotate_dkim(domain.name, retire=False)
        return domain

    def rotate_dkim(self, name: str, *, retire: bool = True) -> str:
        """Give a domain a new DKIM key under a new selector (retiring the old ones); returns the selector."""
        from ..outbound.dkim import create_key  # imported here: the outbound package sits above the services

        domain = _domain(name)
        if self.store.get_domain(domain) is None:
            raise AccountError(f"no domain {name}")
        return create_key(self.store, domain, retire=retire)

    def remove_domain(self, name: str) -> None:
        self.store.remove_domain(_domain(name)).wait()

    def is_local_domain(self, name: str) -> bool:
        try:
            return self.store.get_domain(normalize_domain(name)) is not None
        except AddressError:
            return False

    # -- accounts --------------------------------------------------------------------------

    def add_user(self, address: str, password: str, *, display_name: str = "", quota: int | None = None) -> Account:
        parsed = _address(address)
        if parsed.is_literal:
            raise AccountError(f"{address}: an account needs a domain name, not an address literal")
        _check_password(password)
        return self.store.add_account(
            str(parsed),
            parsed.key,
            parsed.domain,
            self._hasher.hash(password),
            display_name,
            self.default_quota if quota is None else quota,
        ).wait()

    def get(self, address: str) -> Account:
        account = self.store.find_account(_address(address).key)
        if account is None:
            raise AccountError(f"no account {address}")
        return account

    def set_password(self, address: str, password: str) -> None:
        _check_password(password)
        self.store.update_account(self.get(address).id, password_hash=self._hasher.hash(password)).wait()
        with self._cache_lock:
            self._cache.clear()

    def set_disabled(self, address: str, disabled: bool) -> None:
        self.store.update_account(self.get(address).id, disabled=disabled).wait()

    def set_quota(self, address: str, quota: int, messages: int | None = None) -> None:
        """Set the byte quota and, when given, the message-count quota (0 = unlimited for both)."""
        if quota < 0 or (messages is not None and messages < 0):
            raise AccountError("a quota is 0 (unlimited) or a positive number")
        self.store.update_account(self.get(address).id, quota=quota, message_quota=messages).wait()

    def remove_user(self, address: str) -> None:
        self.store.remove_account(self.get(address).id).wait()

    def authenticate(self, address: str, password: str) -> Account | None:
        """The account if the password is right and the account enabled; None otherwise."""
        try:
            account = self.store.find_account(parse_address(address).key)
        except AddressError:
            return None
        if account is None or account.disabled:
            return None
        cache_key = hmac.digest(
            self._cache_key, f"{account.id}\0{account.password_hash}\0{password}".encode(), hashlib.sha256
        )
        now = time.monotonic()
        with self._cache_lock:
            if self._cache.get(cache_key, 0.0) > now:
                return account
        try:
            self._hasher.verify(account.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        with self._cache_lock:
            if len(self._cache) > 10_000:
                self._cache = {k: v for k, v in self._cache.items() if v > now}
            self._cache[cache_key] = now + CACHE_TTL
        return account

    # -- aliases ---------------------------------------------------------------------------

    def add_alias(self, source: str, targets: list[str]) -> Alias:
        """`sales@domain -> a@domain, b@elsewhere`, or a catch-all `@domain -> someone`."""
        if not targets:
            raise AccountError("an alias needs at least one target")
        checked = [str(_address(target)) for target in targets]
        if source.startswith("@"):
            domain = _domain(source[1:])
            return self.store.add_alias("@" + domain, "@" + domain, domain, checked).wait()
        parsed = _address(source)
        return self.store.add_alias(str(parsed), parsed.key, parsed.domain, checked).wait()

    def remove_alias(self, source: str) -> None:
        key = "@" + _domain(source[1:]) if source.startswith("@") else _address(source).key
        try:
            self.store.remove_alias(key).wait()
        except NotFound:
            raise AccountError(f"no alias {source}") from None

    # -- delivery --------------------------------------------------------------------------

    def resolve(self, address: str | EmailAddress) -> Resolution:
        """Where mail to `address` goes: account, alias, subaddress (user+tag) or catch-all.

        An empty Resolution means the address does not exist here.
        """
        result = Resolution()
        parsed = address if isinstance(address, EmailAddress) else parse_address(address)
        self._resolve(parsed, result, set(), 0)
        return result

    def _resolve(self, address: EmailAddress, result: Resolution, seen: set[str], depth: int) -> None:
        if address.key in seen or depth > MAX_ALIAS_DEPTH:
            return
        seen.add(address.key)
        if self.store.get_domain(address.domain) is None:
            result.remote.append(str(address))
            return
        for key in self._candidates(address):
            account = self.store.find_account(key)
            if account is not None:
                if account.id not in {a.id for a in result.accounts}:
                    result.accounts.append(account)
                return
            alias = self.store.find_alias(key)
            if alias is not None:
                for target in alias.targets:
                    self._resolve(parse_address(target), result, seen, depth + 1)
                return
        if address.local_key == "postmaster":  # RFC 5321 4.5.1: every domain must accept it
            self._resolve_postmaster(address.domain, result, seen, depth)

    def _resolve_postmaster(self, domain: str, result: Resolution, seen: set[str], depth: int) -> None:
        """postmaster@domain with no account or alias of its own: the configured one, else the first account."""
        if self.postmaster:
            self._resolve(parse_address(self.postmaster), result, seen, depth + 1)
            return
        accounts = self.store.list_accounts(domain)
        if accounts:
            first = min(accounts, key=lambda account: account.id)
            if first.id not in {a.id for a in result.accounts}:
                result.accounts.append(first)

    def postmaster_domain(self, hostname: str) -> str | None:
        """The domain a bare `<postmaster>` belongs to: our host name's domain when it is ours, else the first."""
        labels = hostname.lower().rstrip(".").split(".")
        for start in range(len(labels) - 1):
            candidate = ".".join(labels[start:])
            if self.is_local_domain(candidate):
                return candidate
        domains = self.store.list_domains()
        return min(domains, key=lambda domain: domain.id).name if domains else None

    def _candidates(self, address: EmailAddress) -> list[str]:
        """Keys to try in order: the address, the address without +tag, the catch-all."""
        keys = [address.key]
        if self.separator:
            base, tag = split_subaddress(address.local_key, self.separator)
            if tag is not None:
                keys.append(f"{base}@{address.domain}")
        keys.append("@" + address.domain)
        return keys


def _address(text: str) -> EmailAddress:
    try:
        return parse_address(text)
    except AddressError as e:
        raise AccountError(f"{text}: {e}") from None


def _domain(text: str) -> str:
    try:
        return normalize_domain(text)
    except AddressError as e:
        raise AccountError(f"{text}: {e}") from None


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise AccountError("a password needs at least 8 characters")
    if any(ord(c) < 32 for c in password):
        raise AccountError("a password cannot contain control characters")
