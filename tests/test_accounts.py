"""Addressing rules: case-insensitive lookup, IDN domains, subaddressing, aliases, catch-all."""

from __future__ import annotations

import pytest

from arobase.services.accounts import AccountError, Accounts, generate_password
from arobase.store import AlreadyExists, InvalidOperation, Store


def test_address_is_case_insensitive_and_keeps_display_case(accounts: Accounts) -> None:
    created = accounts.add_user("Arthur.Dupont@Example.TEST", "secret-password", display_name="Arthur Dupont")
    assert created.address == "Arthur.Dupont@example.test"
    assert accounts.get("arthur.dupont@example.test").id == created.id
    assert accounts.get("ARTHUR.DUPONT@EXAMPLE.TEST").id == created.id
    with pytest.raises(AlreadyExists):
        accounts.add_user("arthur.dupont@example.test", "another-password")


def test_idn_domain_stored_as_a_label(accounts: Accounts, store: Store) -> None:
    domain = accounts.add_domain("exemple-été.test")
    assert domain.name == "xn--exemple-t-i4ab.test"
    assert domain.display == "exemple-été.test"
    account = accounts.add_user("josé@exemple-été.test", "secret-password")
    assert account.address.endswith("@" + domain.name)
    assert accounts.get(f"JOSÉ@{domain.name}").id == account.id
    assert accounts.resolve("josé@EXEMPLE-ÉTÉ.test").accounts == [account]


def test_unknown_domain_and_bad_address_are_user_errors(accounts: Accounts) -> None:
    from arobase.store import NotFound

    with pytest.raises(NotFound, match="no domain"):
        accounts.add_user("someone@elsewhere.test", "secret-password")
    with pytest.raises(AccountError):
        accounts.add_user("not an address", "secret-password")
    with pytest.raises(AccountError, match="8 characters"):
        accounts.add_user("short@example.test", "short")


def test_subaddress_delivers_to_the_user(accounts: Accounts) -> None:
    user = accounts.add_user("pierre@example.test", "secret-password")
    assert accounts.resolve("Pierre+Newsletters@example.test").accounts == [user]
    assert not accounts.resolve("nobody+tag@example.test")


def test_aliases_and_catch_all(accounts: Accounts) -> None:
    arthur = accounts.add_user("arthur@example.test", "secret-password")
    pierre = accounts.add_user("pierre@example.test", "secret-password")
    accounts.add_alias("Sales@example.test", ["arthur@example.test", "pierre@example.test", "boss@remote.example"])
    resolved = accounts.resolve("sales@EXAMPLE.test")
    assert resolved.accounts == [arthur, pierre] and resolved.remote == ["boss@remote.example"]
    assert not accounts.resolve("unknown@example.test")
    accounts.add_alias("@example.test", ["pierre@example.test"])
    assert accounts.resolve("unknown@example.test").accounts == [pierre]
    assert accounts.resolve("arthur@example.test").accounts == [arthur]  # exact match beats catch-all
    with pytest.raises(AlreadyExists):
        accounts.add_alias("arthur@example.test", ["pierre@example.test"])


def test_alias_loops_terminate(accounts: Accounts) -> None:
    accounts.add_alias("a@example.test", ["b@example.test"])
    accounts.add_alias("b@example.test", ["a@example.test"])
    assert not accounts.resolve("a@example.test")


def test_remote_address_resolves_remote(accounts: Accounts) -> None:
    resolved = accounts.resolve("someone@remote.example")
    assert resolved.accounts == [] and resolved.remote == ["someone@remote.example"]


def test_authentication(accounts: Accounts) -> None:
    accounts.add_user("arthur@example.test", "secret-password")
    assert accounts.authenticate("ARTHUR@example.test", "secret-password") is not None
    assert accounts.authenticate("ARTHUR@example.test", "secret-password") is not None  # cached path
    assert accounts.authenticate("arthur@example.test", "wrong-password") is None
    assert accounts.authenticate("nobody@example.test", "secret-password") is None
    assert accounts.authenticate("garbage", "secret-password") is None
    accounts.set_password("arthur@example.test", "new-password")
    assert accounts.authenticate("arthur@example.test", "secret-password") is None
    assert accounts.authenticate("arthur@example.test", "new-password") is not None
    accounts.set_disabled("arthur@example.test", True)
    assert accounts.authenticate("arthur@example.test", "new-password") is None


def test_password_hash_is_argon2id(accounts: Accounts) -> None:
    account = accounts.add_user("arthur@example.test", "secret-password")
    assert account.password_hash.startswith("$argon2id$")


def test_generated_passwords_are_strong_and_distinct() -> None:
    passwords = {generate_password() for _ in range(100)}
    assert len(passwords) == 100
    assert all(len(p) == 23 for p in passwords)


def test_domain_with_accounts_cannot_be_removed(accounts: Accounts) -> None:
    accounts.add_user("arthur@example.test", "secret-password")
    with pytest.raises(InvalidOperation, match="still has"):
        accounts.remove_domain("example.test")
    accounts.remove_user("arthur@example.test")
    accounts.remove_domain("EXAMPLE.test")
    assert not accounts.is_local_domain("example.test")


def test_postmaster_always_exists(store: Store) -> None:
    accounts = Accounts(store)
    accounts.add_domain("example.test")
    first = accounts.add_user("arthur@example.test", "secret-password")
    accounts.add_user("pierre@example.test", "secret-password")
    assert accounts.resolve("Postmaster@example.test").accounts == [first]  # RFC 5321 4.5.1
    assert accounts.postmaster_domain("mail.example.test") == "example.test"
    configured = Accounts(store, postmaster="pierre@example.test")
    assert [a.address for a in configured.resolve("postmaster@example.test").accounts] == ["pierre@example.test"]
    accounts.add_alias("postmaster@example.test", ["arthur@example.test"])
    assert configured.resolve("postmaster@example.test").accounts == [first]  # an explicit alias wins
