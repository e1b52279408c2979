"""The parser: every command's grammar, errors as ParseError only, and parse(serialize(ast)) == ast."""

from __future__ import annotations

import contextlib
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arobase.imap.wire import ast, responses
from arobase.imap.wire.parser import ParseError, parse


def p(line: bytes, *, utf8: bool = False) -> ast.Command:
    return parse(line + b"\r\n", utf8=utf8)


def err(line: bytes, *, utf8: bool = False) -> ParseError:
    with pytest.raises(ParseError) as info:
        p(line, utf8=utf8)
    return info.value


# -- examples, command by command --------------------------------------------------------------


def test_simple_commands_and_tags() -> None:
    for name, kind in [
        (b"CAPABILITY", ast.Capability),
        (b"noop", ast.Noop),
        (b"Logout", ast.Logout),
        (b"STARTTLS", ast.StartTLS),
        (b"NAMESPACE", ast.Namespace),
        (b"IDLE", ast.Idle),
        (b"CHECK", ast.Check),
    ]:
        command = p(b"A]1 " + name)
        assert type(command) is kind and command.tag == "A]1"
    assert p(b"x UNSELECT") == ast.Close(unselect=True, tag="x")
    assert p(b"x CLOSE") == ast.Close(tag="x")


def test_bad_tags_and_separators() -> None:
    assert err(b"+tag NOOP").tag == "*"
    assert err(b"a  NOOP").status == "BAD"
    assert err(b"a NOOP extra").tag == "a"
    assert err(b"a FROB").text.startswith("unknown command")
    assert err(b"a UID NOOP").text == "UID NOOP is not a command"
    with pytest.raises(ParseError):
        parse(b"a NOOP")  # no CRLF


def test_login_with_every_string_form() -> None:
    assert p(b'a LOGIN arthur "p\\"w\\\\"') == ast.Login("arthur", 'p"w\\', tag="a")
    assert p(b"a LOGIN {6}\r\narthur {3+}\r\np w") == ast.Login("arthur", "p w", tag="a")
    assert p('a LOGIN "élodie" "mot"'.encode()) == ast.Login("élodie", "mot", tag="a")
    assert err(b'a LOGIN "x\x00" y').status == "BAD"


def test_authenticate() -> None:
    assert p(b"a AUTHENTICATE plain") == ast.Authenticate("PLAIN", None, tag="a")
    assert p(b"a AUTHENTICATE PLAIN =") == ast.Authenticate("PLAIN", b"", tag="a")
    assert p(b"a AUTHENTICATE PLAIN AGEAYg==") == ast.Authenticate("PLAIN", b"\0a\0b", tag="a")
    assert err(b"a AUTHENTICATE PLAIN AGE!").status == "BAD"


def test_enable_id_create_status() -> None:
    assert p(b"a ENABLE IMAP4rev2 utf8=accept") == ast.Enable(("IMAP4REV2", "UTF8=ACCEPT"), tag="a")
    assert err(b"a ENABLE")
    assert p(b"a ID NIL") == ast.Id(None, tag="a")
    assert p(b'a ID ("name" "x" "os" NIL)') == ast.Id((("name", "x"), ("os", None)), tag="a")
    assert p(b"a ID ()") == ast.Id((), tag="a")
    assert p(b"a CREATE Foo/Bar (USE (\\Sent))") == ast.Create("Foo/Bar", ("\\Sent",), tag="a")
    assert p(b"a STATUS INBOX (messages uidnext SIZE deleted)").items == ("MESSAGES", "UIDNEXT", "SIZE", "DELETED")  # type: ignore[attr-defined]
    assert err(b"a STATUS INBOX (FOO)").text == "unknown STATUS item FOO"
    assert err(b"a STATUS INBOX ()")


def test_mailbox_names_utf7_and_utf8() -> None:
    assert p(b"a SELECT Entw&APw-rfe") == ast.Select("Entwürfe", tag="a")
    assert p(b'a DELETE "a&-b"') == ast.Delete("a&b", tag="a")
    assert p(b'a DELETE "a&-b"', utf8=True) == ast.Delete("a&-b", tag="a")  # no UTF-7 once UTF-8 is on
    assert p('a DELETE "Entwürfe"'.encode(), utf8=True) == ast.Delete("Entwürfe", tag="a")
    assert p('a DELETE "Entwürfe"'.encode()) == ast.Delete("Entwürfe", tag="a")  # valid UTF-8 is tolerated
    assert err(b"a DELETE a&Jjo").status == "BAD"  # unterminated
    assert err(b"a DELETE &AGEAYg-").status == "BAD"  # ASCII must not be encoded
    assert err(b"a DELETE &-&-x&AOk").status == "BAD"
    assert err(b'a DELETE "\xff"').text == "mailbox name is not valid UTF-8"
    assert err(b"a DELETE {3}\r\na\x01b", utf8=True).text == "control characters in a mailbox name"


def test_list_forms() -> None:
    assert p(b'a LIST "" *') == ast.List("", ("*",), tag="a")
    assert p(b"a LIST ~ %/x]") == ast.List("~", ("%/x]",), tag="a")
    assert p(b'a LIST "" ""') == ast.List("", ("",), tag="a")
    command = p(b'a LIST (SUBSCRIBED RECURSIVEMATCH) "" ("INBOX" {1}\r\n*) RETURN (CHILDREN STATUS (UNSEEN))')
    assert command == ast.List(
        "",
        ("INBOX", "*"),
        frozenset({"SUBSCRIBED", "RECURSIVEMATCH"}),
        frozenset({"CHILDREN"}),
        ("UNSEEN",),
        True,
        tag="a",
    )
    assert p(b'a LIST "" % RETURN ()') == ast.List("", ("%",), extended=True, tag="a")
    assert err(b'a LIST (RECURSIVEMATCH) "" *').status == "BAD"
    assert err(b'a LIST (FOO) "" *').status == "BAD"
    assert p(b'a LSUB "" *') == ast.Lsub("", "*", tag="a")


def test_append_forms() -> None:
    command = p(b'a APPEND Sent (\\Seen $x) "07-Feb-1994 21:52:25 +0100" {3}\r\nabc')
    moment = datetime(1994, 2, 7, 21, 52, 25, tzinfo=timezone(timedelta(hours=1)))
    assert command == ast.Append("Sent", (ast.AppendMessage(b"abc", ("\\Seen", "$x"), moment),), tag="a")
    multi = p(b"a APPEND Sent {1+}\r\nx () ~{2+}\r\n\x00y UTF8 (~{1+}\r\nz)")
    assert [m.data for m in multi.messages] == [b"x", b"\x00y", b"z"]  # type: ignore[attr-defined]
    assert [m.binary for m in multi.messages] == [False, True, True]  # type: ignore[attr-defined]
    assert err(b"a APPEND Sent").text == "APPEND needs a message"
    assert err(b"a APPEND Sent {5}\r\nab").status == "BAD"
    assert err(b'a APPEND Sent " 7-Feb-1994 21:52:25 +2500" {1}\r\nx').text == "invalid time zone"
    assert err(b"a LOGIN ~{1}\r\nx y").status == "BAD"
    assert err(b"a APPEND Sent {2}\r\n\x00y").status == "BAD"


def test_fetch_forms() -> None:
    command = p(b"a UID FETCH 1:*,3 (UID FLAGS BODY.PEEK[1.2.HEADER.FIELDS.NOT (x-a Date)]<10.20>)")
    assert isinstance(command, ast.Fetch) and command.uid and command.name == "UID FETCH"
    assert command.attributes[2] == ast.FetchBody(
        ast.Section((1, 2), "HEADER.FIELDS.NOT", ("X-A", "DATE")), ast.Partial(10, 20), peek=True
    )
    assert p(b"a FETCH 2 fast").attributes == ast.MACROS["FAST"]  # type: ignore[attr-defined]
    assert p(b"a FETCH 2 BODY[]").attributes == (ast.FetchBody(),)  # type: ignore[attr-defined]
    assert p(b"a FETCH 2 (BINARY.PEEK[1]<0.5> BINARY.SIZE[2.1])").attributes == (  # type: ignore[attr-defined]
        ast.FetchBinary((1,), ast.Partial(0, 5), True),
        ast.FetchBinarySize((2, 1)),
    )
    assert p(b"a FETCH 1 (FLAGS) (CHANGEDSINCE 5)").changedsince == 5  # type: ignore[attr-defined]
    for bad in (b"a FETCH 0 FLAGS", b"a FETCH 1 ()", b"a FETCH 1 BODY[MIME]", b"a FETCH 1 BODY[1.]", b"a FETCH 1 X"):
        assert err(bad).status == "BAD"


def test_store_copy_expunge_select() -> None:
    assert p(b"a STORE 1,3:4 -FLAGS.SILENT \\Seen $x") == ast.Store(
        ast.SequenceSet(((1, 1), (3, 4))), ast.StoreAction("remove", ("\\Seen", "$x"), True), tag="a"
    )
    assert p(b"a UID STORE * (UNCHANGEDSINCE 9) FLAGS ()").unchangedsince == 9  # type: ignore[attr-defined]
    assert p(b"a UID MOVE 4 Trash") == ast.Copy(ast.SequenceSet(((4, 4),)), "Trash", uid=True, move=True, tag="a")
    assert p(b"a UID EXPUNGE 1:2").name == "UID EXPUNGE"
    assert p(b"a EXAMINE inbox (CONDSTORE)") == ast.Select("inbox", readonly=True, condstore=True, tag="a")


def test_search_keys() -> None:
    command = p(b"a UID SEARCH RETURN (COUNT MIN) CHARSET UTF-8 OR SUBJECT {2}\r\n\xc3\xa9 NOT (SEEN 1:3) UID $")
    assert command == ast.Search(
        ast.SearchAnd(
            (
                ast.SearchOr(
                    ast.SearchText("SUBJECT", "é"),
                    ast.SearchNot(
                        ast.SearchAnd((ast.SearchFlag("\\Seen"), ast.SearchSequence(ast.SequenceSet(((1, 3),)))))
                    ),
                ),
                ast.SearchSequence(ast.SequenceSet(saved=True), uid=True),
            )
        ),
        uid=True,
        charset="UTF-8",
        returns=("COUNT", "MIN"),
        tag="a",
    )
    assert p(b'a SEARCH SENTSINCE "1-Feb-2024" LARGER 5 KEYWORD $x HEADER X-Y ""').key == ast.SearchAnd(  # type: ignore[attr-defined]
        (
            ast.SearchDate("SENTSINCE", date(2024, 2, 1)),
            ast.SearchSize(True, 5),
            ast.SearchFlag("$x"),
            ast.SearchHeader("X-Y", ""),
        )
    )
    assert p(b"a SEARCH CHARSET ISO-8859-1 BODY {1}\r\n\xe9").key == ast.SearchText("BODY", "é")  # type: ignore[attr-defined]
    e = err(b"a SEARCH CHARSET X-NOPE ALL")
    assert (e.status, e.code) == ("NO", "BADCHARSET (UTF-8 US-ASCII)")
    assert err(b"a SEARCH " + b"NOT " * 100 + b"ALL").text == "search keys nested too deeply"
    assert err(b"a SEARCH ()").status == "BAD"


# -- properties --------------------------------------------------------------------------------


@settings(max_examples=400)
@given(st.binary(max_size=200), st.booleans())
def test_random_bytes_raise_only_parse_errors(data: bytes, utf8: bool) -> None:
    with contextlib.suppress(ParseError):
        parse(data + b"\r\n", utf8=utf8)


PREFIXES = [b"a FETCH ", b"a UID SEARCH ", b"a STORE ", b"a LIST ", b"a APPEND x ", b"a LOGIN ", b"a STATUS x "]


@settings(max_examples=400)
@given(st.sampled_from(PREFIXES), st.binary(max_size=80))
def test_random_arguments_raise_only_parse_errors(prefix: bytes, data: bytes) -> None:
    with contextlib.suppress(ParseError):
        parse(prefix + data + b"\r\n")


# serializers for the round trip: what a client would write for an AST


def ser_set(value: ast.SequenceSet) -> bytes:
    return responses.sequence_set(value)


def ser_name(name: str) -> bytes:
    return responses.mailbox(name)


def ser_section(section: ast.Section) -> bytes:
    parts = [".".join(map(str, section.part))] if section.part else []
    if section.text:
        text = section.text
        if section.fields:
            text += " (" + " ".join(section.fields) + ")"
        parts.append(text)
    return b"[" + ".".join(parts).encode() + b"]"


def ser_partial(partial: ast.Partial | None) -> bytes:
    return b"" if partial is None else b"<%d.%d>" % (partial.start, partial.length)


def ser_fetch_att(att: ast.FetchAttribute) -> bytes:
    if isinstance(att, ast.FetchSimple):
        return att.name.encode()
    if isinstance(att, ast.FetchBody):
        return (b"BODY.PEEK" if att.peek else b"BODY") + ser_section(att.section) + ser_partial(att.partial)
    part = b"[" + ".".join(map(str, att.part)).encode() + b"]"
    if isinstance(att, ast.FetchBinary):
        return (b"BINARY.PEEK" if att.peek else b"BINARY") + part + ser_partial(att.partial)
    return b"BINARY.SIZE" + part


def ser_key(key: ast.SearchKey) -> bytes:
    if isinstance(key, ast.SearchAll):
        return b"ALL"
    if isinstance(key, ast.SearchFlag):
        names = {v: k for k, v in FLAG_KEYS.items()}
        if (key.flag, key.present) in names:
            return names[(key.flag, key.present)].encode()
        return (b"KEYWORD " if key.present else b"UNKEYWORD ") + key.flag.encode()
    if isinstance(key, ast.SearchText):
        return key.field.encode() + b" " + responses.literal(key.value.encode())
    if isinstance(key, ast.SearchHeader):
        return b"HEADER " + responses.astring(key.name) + b" " + responses.string(key.value)
    if isinstance(key, ast.SearchDate):
        d = key.date
        return f"{key.field} {d.day}-{responses.MONTHS[d.month - 1]}-{d.year:04d}".encode()
    if isinstance(key, ast.SearchSize):
        return (b"LARGER " if key.larger else b"SMALLER ") + str(key.size).encode()
    if isinstance(key, ast.SearchSequence):
        return (b"UID " if key.uid else b"") + ser_set(key.sequence)
    if isinstance(key, ast.SearchModSeq):
        return b"MODSEQ %d" % key.modseq
    if isinstance(key, ast.SearchNot):
        return b"NOT " + ser_key(key.key)
    if isinstance(key, ast.SearchOr):
        return b"OR " + ser_key(key.left) + b" " + ser_key(key.right)
    return b"(" + b" ".join(ser_key(k) for k in key.keys) + b")"


FLAG_KEYS = {
    "ANSWERED": ("\\Answered", True),
    "DELETED": ("\\Deleted", True),
    "SEEN": ("\\Seen", True),
    "UNDRAFT": ("\\Draft", False),
    "OLD": ("\\Recent", False),
}

numbers = st.integers(1, 2**32 - 1)
seq_number = st.one_of(st.just(ast.STAR), numbers)
sequence_sets = st.one_of(
    st.just(ast.SequenceSet(saved=True)),
    st.lists(st.tuples(seq_number, seq_number), min_size=1, max_size=4).map(lambda r: ast.SequenceSet(tuple(r))),
)
atoms = st.text(st.sampled_from("abcXYZ019$-_."), min_size=1, max_size=8)
names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(
    lambda n: n.upper() != "INBOX" and n.upper() != "NIL"
)
partials = st.one_of(st.none(), st.builds(ast.Partial, st.integers(0, 10**6), st.integers(1, 10**6)))
parts = st.lists(st.integers(1, 20), max_size=3).map(tuple)
sections = st.one_of(
    st.builds(ast.Section, parts),
    st.builds(ast.Section, parts, st.sampled_from(["HEADER", "TEXT"])),
    st.builds(
        ast.Section,
        parts,
        st.sampled_from(["HEADER.FIELDS", "HEADER.FIELDS.NOT"]),
        st.lists(atoms.map(str.upper), min_size=1, max_size=3).map(tuple),
    ),
    st.builds(ast.Section, st.lists(st.integers(1, 20), min_size=1, max_size=3).map(tuple), st.just("MIME")),
)
fetch_atts = st.one_of(
    st.sampled_from(["ENVELOPE", "FLAGS", "UID", "BODYSTRUCTURE", "RFC822.SIZE", "BODY"]).map(ast.FetchSimple),
    st.builds(ast.FetchBody, sections, partials, st.booleans()),
    st.builds(ast.FetchBinary, parts, partials, st.booleans()),
    st.builds(ast.FetchBinarySize, parts),
)
# NUL cannot travel in an IMAP string or a plain literal (only in APPEND's binary literal).
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=10)
leaf_keys = st.one_of(
    st.just(ast.SearchAll()),
    st.sampled_from(list(FLAG_KEYS.values())).map(lambda fp: ast.SearchFlag(*fp)),
    st.builds(ast.SearchFlag, atoms.filter(lambda a: not a.startswith("\\")), st.booleans()),
    st.builds(ast.SearchText, st.sampled_from(["BODY", "TEXT", "FROM", "SUBJECT"]), texts),
    st.builds(ast.SearchHeader, atoms, texts.filter(lambda t: "\x00" not in t and "\r" not in t and "\n" not in t)),
    st.builds(ast.SearchDate, st.sampled_from(["BEFORE", "SENTON"]), st.dates(date(1900, 1, 1), date(2100, 1, 1))),
    st.builds(ast.SearchSize, st.booleans(), st.integers(0, 10**9)),
    st.builds(ast.SearchSequence, sequence_sets, st.booleans()),
    st.builds(ast.SearchModSeq, st.integers(0, 10**9)),
)
search_keys = st.recursive(
    leaf_keys,
    lambda inner: st.one_of(
        st.builds(ast.SearchNot, inner),
        st.builds(ast.SearchOr, inner, inner),
        st.lists(inner, min_size=2, max_size=3).map(lambda k: ast.SearchAnd(tuple(k))),
    ),
    max_leaves=8,
)


def ser_command(command: ast.Command) -> bytes:
    uid = b"UID " if getattr(command, "uid", False) is True else b""
    if isinstance(command, ast.Fetch):
        return (
            uid
            + b"FETCH "
            + ser_set(command.sequence)
            + b" ("
            + b" ".join(map(ser_fetch_att, command.attributes))
            + b")"
        )
    if isinstance(command, ast.Search):
        return uid + b"SEARCH " + ser_key(ast.SearchAnd((command.key,)))
    if isinstance(command, ast.Store):
        action = command.action
        sign = {"add": b"+", "remove": b"-", "replace": b""}[action.mode]
        silent = b".SILENT" if action.silent else b""
        return (
            uid
            + b"STORE "
            + ser_set(command.sequence)
            + b" "
            + sign
            + b"FLAGS"
            + silent
            + b" "
            + b"("
            + " ".join(action.flags).encode()
            + b")"
        )
    if isinstance(command, ast.Copy):
        return (
            uid
            + (b"MOVE " if command.move else b"COPY ")
            + ser_set(command.sequence)
            + b" "
            + ser_name(command.mailbox)
        )
    if isinstance(command, ast.Rename):
        return b"RENAME " + ser_name(command.old) + b" " + ser_name(command.new)
    if isinstance(command, ast.Status):
        return b"STATUS " + ser_name(command.mailbox) + b" (" + " ".join(command.items).encode() + b")"
    assert isinstance(command, ast.Login)
    return b"LOGIN " + responses.astring(command.user) + b" " + responses.astring(command.password)


commands = st.one_of(
    st.builds(ast.Fetch, sequence_sets, st.lists(fetch_atts, min_size=1, max_size=4).map(tuple), uid=st.booleans()),
    st.builds(ast.Search, search_keys, uid=st.booleans()),
    st.builds(
        ast.Store,
        sequence_sets,
        st.builds(
            ast.StoreAction,
            st.sampled_from(["add", "remove", "replace"]),
            st.lists(st.one_of(atoms, st.just("\\Seen")), max_size=3).map(tuple),
            st.booleans(),
        ),
        uid=st.booleans(),
    ),
    st.builds(ast.Copy, sequence_sets, names, uid=st.booleans(), move=st.booleans()),
    st.builds(ast.Rename, names, names),
    st.builds(ast.Status, names, st.lists(st.sampled_from(["MESSAGES", "SIZE", "UNSEEN"]), min_size=1).map(tuple)),
    st.builds(ast.Login, texts.filter(lambda t: "\x00" not in t), texts.filter(lambda t: "\x00" not in t)),
)


@settings(max_examples=300)
@given(commands)
def test_parse_serialize_round_trip(command: ast.Command) -> None:
    if isinstance(command, ast.Search) and not isinstance(command.key, ast.SearchAnd):
        command = ast.Search(ast.SearchAnd((command.key,)), uid=command.uid)
    data = b"t1 " + ser_command(command) + b"\r\n"
    parsed = parse(data)
    if isinstance(parsed, ast.Search):  # the parser unwraps a one-key list: compare the same shape
        key = parsed.key if isinstance(parsed.key, ast.SearchAnd) else ast.SearchAnd((parsed.key,))
        parsed = ast.Search(key, uid=parsed.uid, tag="t1")
        command = ast.Search(_flatten(command.key), uid=command.uid)  # type: ignore[attr-defined]
        parsed = ast.Search(_flatten(parsed.key), uid=parsed.uid)
    object.__setattr__(command, "tag", "t1")
    object.__setattr__(parsed, "tag", "t1")
    assert parsed == command


def _flatten(key: ast.SearchKey) -> ast.SearchKey:
    """One-key parenthesised lists are the key itself: normalise both sides of the comparison."""
    if isinstance(key, ast.SearchAnd):
        keys = tuple(_flatten(k) for k in key.keys)
        return keys[0] if len(keys) == 1 else ast.SearchAnd(keys)
    if isinstance(key, ast.SearchNot):
        return ast.SearchNot(_flatten(key.key))
    if isinstance(key, ast.SearchOr):
        return ast.SearchOr(_flatten(key.left), _flatten(key.right))
    return key
