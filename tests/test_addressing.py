"""Tests for arobase.addressing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arobase.addressing import (
    AddressError,
    EmailAddress,
    domain_display,
    has_relay_tricks,
    normalize_domain,
    parse_address,
    parse_path,
    split_subaddress,
)


def test_simple_address() -> None:
    addr = parse_address("arthur@example.test")
    assert addr == EmailAddress("arthur", "example.test")
    assert str(addr) == "arthur@example.test"
    assert addr.key == "arthur@example.test"
    assert not addr.is_literal


def test_case_insensitive_key_keeps_display_case() -> None:
    upper = parse_address("Arthur.Dupont@Example.TEST")
    lower = parse_address("arthur.dupont@example.test")
    assert upper.key == lower.key == "arthur.dupont@example.test"
    assert upper.local_key == "arthur.dupont"
    assert upper.local == "Arthur.Dupont"
    assert upper.display == "Arthur.Dupont@example.test"
    assert str(upper) == "Arthur.Dupont@example.test"


def test_idn_domain_unicode_and_a_label_agree() -> None:
    unicode_form = parse_address("pierre@exemple-été.test")
    a_label_form = parse_address("pierre@xn--exemple-t-i4ab.test")
    assert unicode_form.domain == "xn--exemple-t-i4ab.test"
    assert unicode_form == a_label_form
    assert unicode_form.display == "pierre@exemple-été.test"
    assert str(unicode_form) == "pierre@xn--exemple-t-i4ab.test"


def test_idn_uppercase_unicode_is_mapped() -> None:
    assert parse_address("pierre@EXEMPLE-ÉTÉ.test").domain == "xn--exemple-t-i4ab.test"


def test_utf8_local_part() -> None:
    addr = parse_address("josé@example.test")
    assert addr.local == "josé"
    assert addr.display == "josé@example.test"
    assert parse_address("JOSÉ@example.test").key == addr.key


def test_utf8_local_key_ignores_normalization_form() -> None:
    composed = parse_address("jos\u00e9@example.test")
    decomposed = parse_address("jose\u0301@example.test")
    assert composed.key == decomposed.key


def test_quoted_local_part() -> None:
    addr = parse_address('"john doe"@example.test')
    assert addr.local == "john doe"
    assert str(addr) == '"john doe"@example.test'
    assert addr.key == '"john doe"@example.test'
    assert not has_relay_tricks(addr)


def test_needlessly_quoted_local_is_the_same_address() -> None:
    assert parse_address('"John"@example.test').key == parse_address("john@example.test").key
    assert str(parse_address('"john"@example.test')) == "john@example.test"


def test_quoted_pair_round_trips() -> None:
    addr = parse_address(r'"a\"b\\c"@example.test')
    assert addr.local == 'a"b\\c'
    assert str(addr) == r'"a\"b\\c"@example.test'
    assert parse_address(str(addr)) == addr


def test_quoted_at_is_a_relay_trick() -> None:
    addr = parse_address('"a@b"@example.test')
    assert addr.local == "a@b"
    assert addr.domain == "example.test"
    assert has_relay_tricks(addr)


@pytest.mark.parametrize("text", ["user%other.test@example.test", "other!user@example.test"])
def test_percent_and_bang_are_parsed_but_flagged(text: str) -> None:
    addr = parse_address(text)
    assert has_relay_tricks(addr)


def test_plain_address_has_no_relay_tricks() -> None:
    assert not has_relay_tricks(parse_address("user+tag@example.test"))


def test_trailing_dot_on_domain_is_stripped() -> None:
    assert parse_address("a@example.test.") == parse_address("a@example.test")
    assert normalize_domain("example.test.") == "example.test"


def test_ipv4_literal() -> None:
    addr = parse_address("root@[192.0.2.1]")
    assert addr.is_literal
    assert addr.domain == "[192.0.2.1]"
    assert addr.display == "root@[192.0.2.1]"
    assert str(addr) == "root@[192.0.2.1]"


def test_ipv6_literal_is_canonical() -> None:
    addr = parse_address("root@[IPv6:2001:DB8:0:0::1]")
    assert addr.is_literal
    assert addr.domain == "[IPv6:2001:db8::1]"
    assert parse_address("root@[ipv6:2001:db8::1]") == addr


@pytest.mark.parametrize(
    "text",
    [
        "",
        "user",
        "user@",
        "@example.test",
        "a@b@example.test",
        "@a:b@c.test",
        "@a,@b:user@c.test",
        ".user@example.test",
        "user.@example.test",
        "us..er@example.test",
        "us er@example.test",
        "user@exa mple.test",
        "us\x00er@example.test",
        "user@example.test\r\n",
        "us\ter@example.test",
        '"unterminated@example.test',
        '"ctl\x07"@example.test',
        '"quoted"x@example.test',
        '""@example.test',
        "a" * 65 + "@example.test",
        "user@" + ".".join(["a" * 60] * 5),
        "user@" + "a" * 64 + ".test",
        "user@example..test",
        "user@.example.test",
        "user@example.test..",
        "user@-example.test",
        "user@exa_mple.test",
        "user@xn--zz.test",
        "user@[192.0.2.1",
        "user@[300.0.0.1]",
        "user@[IPv6:zz::1]",
        "user@[IPv6:fe80::1%eth0]",
        "user@[tag:something]",
        "<user@example.test>",
        "user@example.test>",
    ],
)
def test_invalid_addresses(text: str) -> None:
    with pytest.raises(AddressError):
        parse_address(text)


def test_error_messages_are_human() -> None:
    with pytest.raises(AddressError, match="missing '@'"):
        parse_address("user")
    with pytest.raises(AddressError, match="source route"):
        parse_address("@a:b@c.test")
    with pytest.raises(AddressError, match="64 octets"):
        parse_address("a" * 65 + "@example.test")


def test_local_part_length_counts_octets() -> None:
    parse_address("é" * 32 + "@example.test")
    with pytest.raises(AddressError):
        parse_address("é" * 33 + "@example.test")


def test_parse_path() -> None:
    assert parse_path("<user@example.test>") == parse_address("user@example.test")
    assert parse_path("<>") is None


def test_parse_path_ignores_source_route() -> None:
    addr = parse_path("<@relay.test,@other.test:User@Example.TEST>")
    assert addr == EmailAddress("User", "example.test")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<",
        "user@example.test",
        "<user@example.test",
        "user@example.test>",
        "<<user@example.test>>",
        "<@relay.test user@example.test>",
        "<@relay.test,:user@example.test>",
        "<relay.test:user@example.test>",
        "<@bad_host.test:user@example.test>",
        "<@:user@example.test>",
        "< user@example.test>",
    ],
)
def test_invalid_paths(text: str) -> None:
    with pytest.raises(AddressError):
        parse_path(text)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("user+tag", ("user", "tag")),
        ("user", ("user", None)),
        ("+user", ("+user", None)),
        ("user+a+b", ("user", "a+b")),
        ("user+", ("user", "")),
    ],
)
def test_split_subaddress(local: str, expected: tuple[str, str | None]) -> None:
    assert split_subaddress(local) == expected


def test_split_subaddress_custom_separator() -> None:
    assert split_subaddress("user-tag", "-") == ("user", "tag")
    assert split_subaddress("user+tag", "-") == ("user+tag", None)


def test_normalize_domain_and_display() -> None:
    assert normalize_domain("Exemple-Été.TEST") == "xn--exemple-t-i4ab.test"
    assert normalize_domain("XN--EXEMPLE-T-I4AB.test") == "xn--exemple-t-i4ab.test"
    assert domain_display("xn--exemple-t-i4ab.test") == "exemple-été.test"
    assert domain_display("example.test") == "example.test"


@pytest.mark.parametrize("text", ["", ".", "a..b", "bad_label.test", "xn--zz.test", "-a.test"])
def test_normalize_domain_rejects_invalid(text: str) -> None:
    with pytest.raises(AddressError):
        normalize_domain(text)


def test_domain_display_rejects_invalid() -> None:
    with pytest.raises(AddressError):
        domain_display("xn--zz.test")


@given(st.text())
def test_parse_address_only_raises_address_error(text: str) -> None:
    try:
        addr = parse_address(text)
    except AddressError:
        return
    assert parse_address(str(addr)) == addr
    assert parse_address(addr.key).key == addr.key


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=30).map(lambda s: s + "@x.test"))
def test_parse_address_local_parts_only_raise_address_error(text: str) -> None:
    with contextlib.suppress(AddressError):
        parse_address(text)


@given(st.text())
def test_parse_path_only_raises_address_error(text: str) -> None:
    with contextlib.suppress(AddressError):
        parse_path(f"<{text}>")
