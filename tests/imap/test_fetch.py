"""FETCH byte for byte: simple items, body sections and their traps, BINARY, \\Seen, corpus sanity."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arobase.imap.fetch import _header_fields_by_line, header_fields, split_header
from arobase.imap.wire import ast
from arobase.mime import parse_message
from arobase.mime.headers import scan_header
from arobase.services.accounts import Accounts
from arobase.store import Account, Store

from .engine_fixtures import Client, deliver, message, seqset

CORPUS = Path("/work/shared/corpus/mime")

RAW = (
    b"From: Alice <alice@example.test>\r\n"
    b"To: bob@example.test\r\n"
    b"Subject: hello\r\n"
    b"X-Folded: one\r\n two\r\n"
    b"from: second-from@example.test\r\n"
    b"\r\n"
    b"body line 1\r\nbody line 2\r\n"
)


def body(*attributes: ast.FetchAttribute, sequence: str = "1", uid: bool = False) -> ast.Fetch:
    return ast.Fetch(seqset(sequence), attributes, uid=uid)


def simple(*names: str) -> tuple[ast.FetchAttribute, ...]:
    return tuple(ast.FetchSimple(n) for n in names)  # type: ignore[arg-type]


@pytest.fixture
def alice(accounts: Accounts) -> Account:
    return accounts.add_user("alice@example.test", "correct horse")


@pytest.fixture
async def client(store: Store, alice: Account) -> AsyncIterator[Client]:
    c = Client(store, alice)
    yield c
    c.close()


async def select(client: Client, name: str = "INBOX", readonly: bool = False) -> bytes:
    return await client.run(ast.Select(name, readonly=readonly))


async def test_simple_items(client: Client, store: Store, alice: Account) -> None:
    when = datetime(2024, 3, 5, 7, 8, 9, tzinfo=timezone(timedelta(hours=-7)))
    deliver(store, alice, RAW, flags=["\\Flagged", "$Work"], date=when)
    await select(client)
    out = await client.run(body(*simple("UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE")))
    assert out == (
        b'* 1 FETCH (UID 1 FLAGS (\\Flagged $Work) INTERNALDATE " 5-Mar-2024 07:08:09 -0700"'
        b" RFC822.SIZE %d)\r\nTAG OK FETCH completed\r\n" % len(RAW)
    )


async def test_envelope_body_bodystructure_come_from_ingest(client: Client, store: Store, alice: Account) -> None:
    deliver(store, alice, RAW)
    parsed = parse_message(RAW)
    await select(client)
    out = await client.run(body(*simple("ENVELOPE", "BODY", "BODYSTRUCTURE")))
    assert out == (
        b"* 1 FETCH (ENVELOPE "
        + parsed.imap_envelope
        + b" BODY "
        + parsed.imap_body
        + b" BODYSTRUCTURE "
        + parsed.imap_bodystructure
        + b")\r\nTAG OK FETCH completed\r\n"
    )


async def test_uid_fetch_always_reports_the_uid(client: Client, store: Store, alice: Account) -> None:
    for n in range(3):
        deliver(store, alice, message(n))
    await select(client)
    out = await client.run(body(*simple("FLAGS"), sequence="2:*", uid=True))
    assert out == (b"* 2 FETCH (UID 2 FLAGS ())\r\n* 3 FETCH (UID 3 FLAGS ())\r\nTAG OK UID FETCH completed\r\n")


async def test_flags_alone_keep_recent_and_keywords_apart(client: Client, store: Store, alice: Account) -> None:
    deliver(store, alice, message(0), flags=["\\Seen"])
    deliver(store, alice, message(1), flags=["\\Seen"])
    await select(client)
    deliver(store, alice, message(2), flags=["\\Seen"])  # same flags, but \Recent for this session
    deliver(store, alice, message(3), flags=["$Work"])
    await client.run(ast.Noop())
    expected = [b"(\\Seen)", b"(\\Seen)", b"(\\Seen \\Recent)", b"(\\Recent $Work)"]
    out = await client.run(body(*simple("FLAGS"), sequence="1:*"))
    assert out == b"".join(b"* %d FETCH (FLAGS %s)\r\n" % (n, f) for n, f in enumerate(expected, 1)) + (
        b"TAG OK FETCH completed\r\n"
    )
    out = await client.run(body(*simple("UID", "FLAGS"), sequence="2:*", uid=True))
    assert out == b"".join(
        b"* %d FETCH (UID %d FLAGS %s)\r\n" % (n, n, f) for n, f in enumerate(expected, 1) if n > 1
    ) + (b"TAG OK UID FETCH completed\r\n")


async def test_body_sets_seen_and_reports_it_peek_does_not(client: Client, store: Store, alice: Account) -> None:
    deliver(store, alice, RAW)
    await select(client)
    out = await client.run(body(ast.FetchBody(peek=True)))
    assert out == b"* 1 FETCH (BODY[] {%d}\r\n%s)\r\nTAG OK FETCH completed\r\n" % (len(RAW), RAW)
    assert store.get_message(client.view.mailbox_id, 1).flags == frozenset()  # type: ignore[union-attr]
    out = await client.run(body(ast.FetchBody(ast.Section(text="TEXT"))))
    text = b"body line 1\r\nbody line 2\r\n"
    assert out == b"* 1 FETCH (BODY[TEXT] {%d}\r\n%s FLAGS (\\Seen))\r\nTAG OK FETCH completed\r\n" % (len(text), text)
    assert store.get_message(client.view.mailbox_id, 1).flags == {"\\Seen"}  # type: ignore[union-attr]
    # already seen: no FLAGS this time, and no second unsolicited FETCH from the change feed
    out = await client.run(body(ast.FetchBody(ast.Section(text="TEXT"))))
    assert out == b"* 1 FETCH (BODY[TEXT] {%d}\r\n%s)\r\nTAG OK FETCH completed\r\n" % (len(text), text)
    assert await client.noop() == b""


async def test_examine_never_sets_seen(client: Client, store: Store, alice: Account) -> None:
    deliver(store, alice, RAW)
    await select(client, readonly=True)
    out = await client.run(body(*simple("RFC822")))
    assert out == b"* 1 FETCH (RFC822 {%d}\r\n%s)\r\nTAG OK FETCH completed\r\n" % (len(RAW), RAW)
    assert store.get_message(client.view.mailbox_id, 1).flags == frozenset()  # type: ignore[union-attr]


async def test_rfc822_forms(client: Client, store: Store, alice: Account) -> None:
    deliver(store, alice, RAW)
    await select(client)
    header, _, text = RAW.partition(b"\r\n\r\n")
    header += b"\r\n\r\n"
    out = await client.run(body(*simple("RFC822.HEADER")))
    assert out == b"* 1 FETCH (RFC822.HEADER {%d}\r\n%s)\r\nTAG OK FETCH completed\r\n" % (len(header), header)
    out = await client.run(body(*simple("RFC822.TEXT")))
    assert out == b"* 1 FETCH (RFC822.TEXT {%d}\r\n%s FLAGS (\\Seen))\r\nTAG OK FETCH completed\r\n" % (
        len(text),
        text,
    )


async def test_header_fields_case_insensitive_in_message_order(client: Client, store: Store, alice: Account) -> None:
    deliver(store, alice, RAW)
    await select(client)
    section = ast.Section(text="HEADER.FIELDS", fields=("FROM", "X-FOLDED"))
    out = await client.run(body(ast.FetchBody(section, peek=True)))
    expected = b"From: Alice <alice@example.test>\r\nX-Folded: one\r\n two\r\nfrom: second-from@example.test\r\n\r\n"
    assert out == b"* 1 FETCH (BODY[HEADER.FIELDS (FROM X-FOLDED)] {%d}\r\n%s)\r\nTAG OK FETCH completed\r\n" % (
        len(expected),
        expected,
    )
    section = ast.Section(text="HEADER.FIELDS.NOT", fields=("from", "x-folded"))
    out = await client.run(body(ast.FetchBody(section, peek=True)))
    expected = b"To: bob@example.test\r\nSubject: hello\r\n\r\n"
    assert out.endswith(b"{%d}\r\n%s)\r\nTAG OK FETCH completed\r\n" % (len(expected), expected))


def test_header_fields_without_match_is_the_blank_line() -> None:
    assert header_fields(b"A: 1\r\nB: 2\r\n\r\n", ["C"]) == b"\r\n"
    assert header_fields(b"A: 1\r\nB: 2\r\n\r\n", ["b"]) == b"B: 2\r\n\r\n"


async def test_partial_fetches(client: Client, store: Store, alice: Account) -> None:
    deliver(store, alice, RAW)
    await select(client)
    out = await client.run(body(ast.FetchBody(partial=ast.Partial(0, 4), peek=True)))
    assert out == b"* 1 FETCH (BODY[]<0> {4}\r\nFrom)\r\nTAG OK FETCH completed\r\n"
    out = await client.run(body(ast.FetchBody(partial=ast.Partial(len(RAW) - 3, 100), peek=True)))
    assert out == b"* 1 FETCH (BODY[]<%d> {3}\r\n2\r\n)\r\nTAG OK FETCH completed\r\n" % (len(RAW) - 3)
    out = await client.run(body(ast.FetchBody(partial=ast.Partial(10_000, 5), peek=True)))
    assert out == b"* 1 FETCH (BODY[]<10000> {0}\r\n)\r\nTAG OK FETCH completed\r\n"


MULTI = (
    b"From: a@example.test\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n'
    b"preamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"caf=C3=A9 =\r\nsoft\r\n"
    b"--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"AAECAw==\r\n"
    b"--XX\r\nContent-Type: message/rfc822\r\n\r\n"
    b"Subject: inner\r\nFrom: b@example.test\r\n\r\ninner body\r\n"
    b"--XX\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n"
    b"begin 644 x\r\n"
    b"--XX--\r\n"
)


async def test_nested_sections_and_mime(client: Client, store: Store, alice: Account) -> None:
    deliver(store, alice, MULTI)
    await select(client)

    async def section(part: tuple[int, ...], text: str | None = None) -> bytes:
        out = await client.run(body(ast.FetchBody(ast.Section(part, text), peek=True)))  # type: ignore[arg-type]
        match = re.match(rb"\* 1 FETCH \(BODY\[[^\]]*\] \{(\d+)\}\r\n", out)
        assert match, out
        return out[match.end() : match.end() + int(match.group(1))]

    assert await section((1,)) == b"caf=C3=A9 =\r\nsoft"
    assert await section((1,), "MIME") == (
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    )
    assert await section((3,)) == b"Subject: inner\r\nFrom: b@example.test\r\n\r\ninner body"
    assert await section((3,), "HEADER") == b"Subject: inner\r\nFrom: b@example.test\r\n\r\n"
    assert await section((3,), "TEXT") == b"inner body"
    assert await section((3, 1)) == b"inner body"
    assert await section((9,)) == b""


async def test_binary_decodes_and_unknown_encoding_is_refused(client: Client, store: Store, alice: Account) -> None:
    deliver(store, alice, MULTI)
    await select(client)
    out = await client.run(body(ast.FetchBinary((1,), peek=True)))
    decoded = "café soft".encode()
    assert out == b"* 1 FETCH (BINARY[1] {%d}\r\n%s)\r\nTAG OK FETCH completed\r\n" % (len(decoded), decoded)
    out = await client.run(body(ast.FetchBinary((2,), peek=True), ast.FetchBinarySize((2,))))
    assert out == b"* 1 FETCH (BINARY[2] ~{4}\r\n\x00\x01\x02\x03 BINARY.SIZE[2] 4)\r\nTAG OK FETCH completed\r\n"
    out = await client.run(body(ast.FetchBinary((4,), peek=True)))
    assert out == b"TAG NO [UNKNOWN-CTE] unknown Content-Transfer-Encoding x-uuencode\r\n"


async def test_star_on_an_empty_mailbox(client: Client) -> None:
    await select(client)
    assert await client.run(body(*simple("FLAGS"), sequence="1:*")) == b"TAG OK FETCH completed\r\n"
    assert await client.run(body(*simple("FLAGS"), sequence="*", uid=True)) == b"TAG OK UID FETCH completed\r\n"
    out = await client.run(body(*simple("FLAGS"), sequence="1"))
    assert out.startswith(b"TAG BAD ")


async def test_sequence_beyond_exists_is_bad_uid_beyond_is_ignored(
    client: Client, store: Store, alice: Account
) -> None:
    deliver(store, alice, message(1))
    await select(client)
    assert (await client.run(body(*simple("UID"), sequence="1:2"))).startswith(b"TAG BAD ")
    assert await client.run(body(*simple("FLAGS"), sequence="1:99", uid=True)) == (
        b"* 1 FETCH (UID 1 FLAGS ())\r\nTAG OK UID FETCH completed\r\n"
    )
    # n:* always includes the last message, even when n is above every UID
    assert await client.run(body(*simple("FLAGS"), sequence="50:*", uid=True)) == (
        b"* 1 FETCH (UID 1 FLAGS ())\r\nTAG OK UID FETCH completed\r\n"
    )


async def test_macros_expand_in_order(client: Client, store: Store, alice: Account) -> None:
    deliver(store, alice, RAW, date=datetime(2024, 1, 1, tzinfo=UTC))
    await select(client)
    out = await client.run(body(*ast.MACROS["FAST"]))
    assert out == (
        b'* 1 FETCH (FLAGS () INTERNALDATE " 1-Jan-2024 00:00:00 +0000" RFC822.SIZE %d)\r\n'
        b"TAG OK FETCH completed\r\n" % len(RAW)
    )


def corpus_messages() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name not in ("LICENSE", "SOURCES.md"))[:80]


async def test_corpus_sections_match_the_parsed_offsets(client: Client, store: Store, alice: Account) -> None:
    """BODY[n] and BODY[n.MIME] of real messages are exactly the bytes the parser located."""
    files = corpus_messages()
    assert files
    raws = [p.read_bytes() for p in files]
    for raw in raws:
        deliver(store, alice, raw)
    await select(client)
    for seq, raw in enumerate(raws, start=1):
        parsed = parse_message(raw)
        out = await client.run(body(*simple("BODYSTRUCTURE"), sequence=str(seq)))
        assert out == b"* %d FETCH (BODYSTRUCTURE %s)\r\nTAG OK FETCH completed\r\n" % (seq, parsed.imap_bodystructure)
        for part in parsed.parts:
            if not part.number or "TEXT" in part.number:
                continue
            path = tuple(int(n) for n in part.number.split("."))
            for text, expected in (
                (None, raw[part.body_start : part.body_end]),
                ("MIME", raw[part.header_start : part.body_start]),
            ):
                out = await client.run(body(ast.FetchBody(ast.Section(path, text), peek=True), sequence=str(seq)))  # type: ignore[arg-type]
                assert out.endswith(b"{%d}\r\n%s)\r\nTAG OK FETCH completed\r\n" % (len(expected), expected)), (
                    seq,
                    part.number,
                    text,
                )


async def test_large_message_kept_in_a_file(client: Client, store: Store, alice: Account) -> None:
    raw = b"Subject: big\r\nContent-Type: text/plain\r\n\r\n" + b"0123456789abcdef\r\n" * 20_000
    assert len(raw) > store.inline_max
    deliver(store, alice, raw)
    await select(client)
    out = await client.run(body(ast.FetchBody(peek=True), ast.FetchBinarySize((1,))))
    assert out == b"* 1 FETCH (BODY[] {%d}\r\n%s BINARY.SIZE[1] %d)\r\nTAG OK FETCH completed\r\n" % (
        len(raw),
        raw,
        len(raw) - 42,
    )


_line = st.one_of(
    st.builds(
        lambda name, value: name + b":" + value,
        st.sampled_from([b"From", b"from", b"To", b"Subject", b"X-A", b"FROM ", b"Fromage", b"", b"From "]),
        st.binary(max_size=12).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    ),
    st.sampled_from([b" folded", b"\tfolded", b"no colon here", b"From someone", b""]),
)
_headers = st.lists(_line, max_size=8).flatmap(
    lambda lines: st.sampled_from([b"\r\n", b"\n"]).map(lambda eol: eol.join(lines) + eol + eol + b"body")
)


@given(_headers, st.lists(st.sampled_from(["FROM", "to", "SUBJECT", "x-a", "NOPE"]), min_size=1, max_size=3))
def test_fast_header_paths_agree_with_the_parser_rule(raw: bytes, names: list[str]) -> None:
    header, body_start = split_header(raw, 0, len(raw))
    assert body_start == scan_header(raw, 0, len(raw))[1]
    assert header == raw[:body_start]
    for exclude in (False, True):
        assert header_fields(header, names, exclude=exclude) == _header_fields_by_line(header, names, exclude=exclude)


async def test_header_sections_of_odd_and_large_messages(client: Client, store: Store, alice: Account) -> None:
    """Header fetches read only the head of a message; messages without a blank line, or with bare
    LFs, or kept in files, still give exactly the parser's header."""
    odd = [
        b"Subject: no body, no blank line\r\nFrom: a@b.test\r\n",
        b"Subject: bare LF\nFrom: a@b.test\n\nbody\r\n\r\nmore\r\n",
        b"Subject: big\r\nFrom: a@b.test\r\n\r\n" + b"x" * 200_000,
    ]
    for raw in odd:
        deliver(store, alice, raw)
    await select(client)
    for seq, raw in enumerate(odd, start=1):
        header = raw[: scan_header(raw, 0, len(raw))[1]]
        out = await client.run(body(*simple("RFC822.HEADER"), sequence=str(seq)))
        assert out == b"* %d FETCH (RFC822.HEADER {%d}\r\n%s)\r\nTAG OK FETCH completed\r\n" % (
            seq,
            len(header),
            header,
        )
        section = ast.Section(text="HEADER.FIELDS", fields=("FROM",))
        out = await client.run(body(ast.FetchBody(section, peek=True), sequence=str(seq)))
        assert out.endswith(
            b"From: a@b.test" + (b"\n" if b"bare" in raw else b"\r\n") + b"\r\n)\r\nTAG OK FETCH completed\r\n"
        )
