"""Response serializers and modified UTF-7, byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arobase.imap.wire import ast, responses, utf7


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("Entwürfe", "Entw&APw-rfe"),
        ("a&b", "a&-b"),
        ("&", "&-"),
        ("&-", "&--"),
        ("日本語", "&ZeVnLIqe-"),
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),  # RFC 3501's example
        ("x😀", "x&2D3eAA-"),
    ],
)
def test_utf7_known_forms(name: str, encoded: str) -> None:
    assert utf7.encode(name) == encoded
    assert utf7.decode(encoded) == name


@pytest.mark.parametrize("bad", ["&", "&Jjo", "&AGE-", "&U,BTFw", "a\x7fb", "é", "&2D0-", "&AOk-&AOk-"])
def test_utf7_rejects_non_canonical_or_broken(bad: str) -> None:
    with pytest.raises(utf7.UTF7Error):
        utf7.decode(bad)


@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_utf7_round_trip(name: str) -> None:
    encoded = utf7.encode(name)
    assert encoded.isascii()
    assert utf7.decode(encoded) == name


def test_strings_pick_their_form() -> None:
    assert responses.astring("INBOX") == b"INBOX"
    assert responses.astring("a]b") == b"a]b"
    assert responses.astring("nil") == b'"nil"'
    assert responses.astring("") == b'""'
    assert responses.astring('a "b"\\') == b'"a \\"b\\"\\\\"'
    assert responses.string("été") == b"{5}\r\n\xc3\xa9t\xc3\xa9"
    assert responses.string("été", utf8=True) == '"été"'.encode()
    assert responses.string(b"\xff", utf8=True) == b"{1}\r\n\xff"
    assert responses.string("a\r\nb") == b"{4}\r\na\r\nb"
    assert responses.nstring(None) == b"NIL"
    assert responses.literal(b"\x00", binary=True) == b"~{1}\r\n\x00"


def test_mailbox_names_on_the_wire() -> None:
    assert responses.mailbox("inbox") == b"INBOX"
    assert responses.mailbox("Entwürfe") == b"Entw&APw-rfe"
    assert responses.mailbox("Entwürfe", utf8=True) == '"Entwürfe"'.encode()
    assert responses.mailbox("a b&c") == b'"a b&-c"'


def test_flags_dates_sets_and_lines() -> None:
    assert responses.flag_list(["$b", "\\Seen", "a", "\\Answered"]) == b"(\\Answered \\Seen $b a)"
    assert responses.date_time(datetime(1996, 7, 7, 2, 44, 25, tzinfo=timezone(-timedelta(hours=7)))) == (
        b'" 7-Jul-1996 02:44:25 -0700"'
    )
    assert responses.date_time(datetime(2024, 12, 25, 23, 0, 0, tzinfo=UTC)) == b'"25-Dec-2024 23:00:00 +0000"'
    assert responses.sequence_set([5, 1, 2, 3, 9, 10]) == b"1:3,5,9:10"
    assert responses.sequence_set(ast.SequenceSet(((1, ast.STAR), (4, 4)))) == b"1:*,4"
    assert responses.sequence_set(ast.SequenceSet(saved=True)) == b"$"
    assert responses.tagged("a1", "NO", "no\r\nway", "TRYCREATE") == b"a1 NO [TRYCREATE] no  way\r\n"
    assert responses.status_line("BYE", "") == b"* BYE done\r\n"
    assert responses.continuation() == b"+ \r\n"


def test_sequence_set_resolution() -> None:
    s = ast.SequenceSet(((5, 2), (1, 1), (9, ast.STAR)))
    assert s.resolve(7) == [(1, 5), (7, 9)]
    assert s.resolve(0) == [(1, 5)]
    assert ast.SequenceSet(((ast.STAR, ast.STAR),)).resolve(0) == []
    assert list(ast.SequenceSet(((3, 1),)).values(10)) == [1, 2, 3]
    assert ast.SequenceSet(((2, 4),)).contains(4, 0)
