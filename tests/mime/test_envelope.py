"""Address parsing from raw headers: groups, routes, comments, encoded-words."""

from __future__ import annotations

from arobase.mime import Address, parse_message
from arobase.mime.envelope import RawAddress, parse_address_list

from .imap_sexp import check_envelope, parse_sexp


def test_rfc5322_group_example() -> None:
    value = b"A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;"
    assert parse_address_list(value) == [
        RawAddress(None, None, b"A Group", None),
        RawAddress(b"Ed Jones", None, b"c", b"a.test"),
        RawAddress(None, None, b"joe", b"where.test"),
        RawAddress(b"John", None, b"jdoe", b"one.test"),
        RawAddress(None, None, None, None),
    ]


def test_group_markers_in_envelope_and_model() -> None:
    raw = b"To: undisclosed-recipients:;\r\nCc: Team: a@x.test, b@x.test;, c@y.test\r\n\r\n"
    m = parse_message(raw)
    env = parse_sexp(m.imap_envelope)
    check_envelope(env)
    assert isinstance(env, list)
    assert env[5] == [[None, None, b"undisclosed-recipients", None], [None, None, None, None]]
    assert m.to == [Address(None, "undisclosed-recipients", None), Address(None, None, None)]
    assert [a.is_group_marker for a in m.cc] == [True, False, False, True, False]
    assert [a.email for a in m.cc] == [None, "a@x.test", "b@x.test", None, "c@y.test"]


def test_route_comment_and_quoted_names() -> None:
    value = b'"Smith, J." <@relay1,@relay2:js@example.com>, pete(A comment)@example.com (Pete)'
    assert parse_address_list(value) == [
        RawAddress(b"Smith, J.", b"@relay1,@relay2", b"js", b"example.com"),
        RawAddress(b"Pete", None, b"pete", b"example.com"),
    ]


def test_names_stay_raw_in_envelope_but_decode_for_readers() -> None:
    raw = b"From: =?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>\r\n\r\n"
    m = parse_message(raw)
    assert m.from_ == [Address("Keld J\u00f8rn Simonsen", "keld", "dkuug.dk")]
    assert b'(("=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=" NIL "keld" "dkuug.dk"))' in m.imap_envelope


def test_obsolete_and_broken_forms() -> None:
    assert parse_address_list(b"John Q. Public <jqp@x.test>")[0].name == b"John Q. Public"
    assert parse_address_list(b"<postmaster>") == [RawAddress(None, None, b"postmaster", b"")]
    assert parse_address_list(b"<>") == [RawAddress(None, None, b"", b"")]
    assert parse_address_list(b"just words") == [RawAddress(None, None, b"just words", b"")]
    assert parse_address_list(b",,, a@b ,,") == [RawAddress(None, None, b"a", b"b")]
    assert parse_address_list(b"") == []
    assert parse_address_list(None) == []
    # Unbalanced junk never raises.
    for junk in (b'"unterminated <a@b>', b"(unclosed comment a@b", b"<a@b", b"a@[1.2.3", b":;:;<>@"):
        parse_address_list(junk)


def test_message_ids() -> None:
    raw = (
        b"Message-ID: <abc@x.test>\r\n"
        b"In-Reply-To: Your message of Monday <prev@x.test>\r\n"
        b"References: <one@x.test>\r\n <two@x.test>   <three@x.test>\r\n\r\n"
    )
    m = parse_message(raw)
    assert m.message_id == "<abc@x.test>"
    assert m.in_reply_to == "<prev@x.test>"
    assert m.references == ["<one@x.test>", "<two@x.test>", "<three@x.test>"]
    env = parse_sexp(m.imap_envelope)
    assert isinstance(env, list)
    assert env[8] == b"Your message of Monday <prev@x.test>"  # raw, unfolded
    assert env[9] == b"<abc@x.test>"


def test_date_parsing() -> None:
    m = parse_message(b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\n")
    assert m.date is not None and m.date.utcoffset() is not None
    assert m.date.isoformat() == "1994-02-07T21:52:25-08:00"
    assert m.imap_envelope.startswith(b'("Mon, 7 Feb 1994 21:52:25 -0800" NIL')
    assert parse_message(b"Date: Mon, 7 Feb 1994 21:52:25 -0000\r\n\r\n").date.tzinfo is not None
    assert parse_message(b"Date: yesterday-ish\r\n\r\n").date is None


def test_forgotten_angle_brackets() -> None:
    assert parse_address_list(b"John Smith john@x.test") == [
        RawAddress(b"John Smith", None, b"john", b"x.test")
    ]
