"""SEARCH: every key of RFC 9051 against the store, result forms (SEARCH, ESEARCH), SAVE and `$`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from arobase.imap.search import header_contains
from arobase.imap.wire import ast
from arobase.services.accounts import Accounts
from arobase.store import Account, Store

from .engine_fixtures import Client, deliver, seqset


def mail(
    sender: str, subject: str, body: str, *, date_header: str = "Mon, 2 Jan 2023 10:00:00 +0000", extra: str = ""
) -> bytes:
    return (
        f"From: {sender}\r\nTo: alice@example.test\r\nSubject: {subject}\r\nDate: {date_header}\r\n"
        f"{extra}\r\n{body}\r\n"
    ).encode()


@pytest.fixture
def alice(accounts: Accounts) -> Account:
    return accounts.add_user("alice@example.test", "correct horse")


@pytest.fixture
async def client(store: Store, alice: Account) -> AsyncIterator[Client]:
    """Five messages, selected:

    1 Zoé <zoe@example.org>, "Réunion lundi", seen, internal 2023-01-01 23:30 -0500 (04:30 UTC next day)
    2 bob@example.net, "Invoice 42", flagged $Work, 2023-01-03
    3 carol@example.org, "hello", deleted, Date: header 2022-12-31 23:00 -0200, X-Spam: yes
    4 bob@example.net, "re: invoice", answered draft, big body with zorglub
    5 dave@example.com, "ab", no flags
    """
    est = timezone(timedelta(hours=-5))
    deliver(
        store,
        alice,
        mail("=?utf-8?q?Zo=C3=A9?= <zoe@example.org>", "=?utf-8?q?R=C3=A9union?= lundi", "see you"),
        flags=["\\Seen"],
        date=datetime(2023, 1, 1, 23, 30, tzinfo=est),
    )
    deliver(
        store,
        alice,
        mail("bob@example.net", "Invoice 42", "pay me"),
        flags=["\\Flagged", "$Work"],
        date=datetime(2023, 1, 3, tzinfo=UTC),
    )
    deliver(
        store,
        alice,
        mail(
            "carol@example.org", "hello", "hi", date_header="Sat, 31 Dec 2022 23:00:00 -0200", extra="X-Spam: yes\r\n"
        ),
        flags=["\\Deleted"],
        date=datetime(2023, 1, 4, tzinfo=UTC),
    )
    deliver(
        store,
        alice,
        mail("bob@example.net", "re: invoice", "x" * 5000 + " zorglub"),
        flags=["\\Answered", "\\Draft"],
        date=datetime(2023, 1, 5, tzinfo=UTC),
    )
    deliver(store, alice, mail("dave@example.com", "ab", "short"), date=datetime(2023, 1, 6, tzinfo=UTC))
    c = Client(store, alice)
    await c.run(ast.Select("INBOX"))
    yield c
    c.close()


async def found(client: Client, *keys: ast.SearchKey, uid: bool = False) -> list[int]:
    key = keys[0] if len(keys) == 1 else ast.SearchAnd(keys)
    out = await client.run(ast.Search(key, uid=uid))
    first, _, rest = out.partition(b"\r\n")
    assert first.startswith(b"* SEARCH"), out
    assert rest == b"TAG OK " + (b"UID " if uid else b"") + b"SEARCH completed\r\n"
    return [int(n) for n in first.split()[2:]]


async def test_flag_keys(client: Client) -> None:
    assert await found(client, ast.SearchFlag("\\Seen")) == [1]
    assert await found(client, ast.SearchFlag("\\Seen", present=False)) == [2, 3, 4, 5]
    assert await found(client, ast.SearchFlag("\\Flagged")) == [2]
    assert await found(client, ast.SearchFlag("\\Deleted")) == [3]
    assert await found(client, ast.SearchFlag("\\Answered")) == [4]
    assert await found(client, ast.SearchFlag("\\Draft")) == [4]
    assert await found(client, ast.SearchFlag("$work")) == [2]
    assert await found(client, ast.SearchFlag("$Work", present=False)) == [1, 3, 4, 5]
    assert await found(client, ast.SearchFlag("\\Recent")) == []  # all were there before the first SELECT
    assert await found(client, ast.SearchFlag("\\Recent", present=False)) == [1, 2, 3, 4, 5]


async def test_text_keys_are_case_insensitive_substrings(client: Client) -> None:
    assert await found(client, ast.SearchText("FROM", "BOB@EXAMPLE")) == [2, 4]
    assert await found(client, ast.SearchText("FROM", "zoé")) == [1]  # decoded encoded-word
    assert await found(client, ast.SearchText("SUBJECT", "invoice")) == [2, 4]
    assert await found(client, ast.SearchText("SUBJECT", "RÉUNION")) == [1]
    assert await found(client, ast.SearchText("TO", "alice")) == [1, 2, 3, 4, 5]
    assert await found(client, ast.SearchText("CC", "alice")) == []
    assert await found(client, ast.SearchText("BODY", "ZORGLUB")) == [4]
    assert await found(client, ast.SearchText("BODY", "invoice")) == []  # only in headers
    assert await found(client, ast.SearchText("TEXT", "invoice")) == [2, 4]
    assert await found(client, ast.SearchText("TEXT", "zorglub")) == [4]
    assert await found(client, ast.SearchText("SUBJECT", "ab")) == [5]  # too short for the index: scanned
    assert await found(client, ast.SearchText("BODY", "hi")) == [3]


async def test_header_key(client: Client) -> None:
    assert await found(client, ast.SearchHeader("x-spam", "YES")) == [3]
    assert await found(client, ast.SearchHeader("X-Spam", "")) == [3]
    assert await found(client, ast.SearchHeader("Subject", "")) == [1, 2, 3, 4, 5]
    assert await found(client, ast.SearchHeader("From", "example.org")) == [1, 3]


def test_header_contains_checks_the_named_field_only() -> None:
    headers = "From: a@x.test\nSubject: about b@x.test\nX-Long: one\n  two"
    assert header_contains(headers, "subject", "b@x")
    assert not header_contains(headers, "from", "b@x")
    assert header_contains(headers, "x-long", "two")


async def test_date_keys(client: Client) -> None:
    # internal dates compare by their own calendar day: message 1 is 1 January at -0500
    assert await found(client, ast.SearchDate("ON", date(2023, 1, 1))) == [1]
    assert await found(client, ast.SearchDate("BEFORE", date(2023, 1, 4))) == [1, 2]
    assert await found(client, ast.SearchDate("SINCE", date(2023, 1, 4))) == [3, 4, 5]
    # the Date: header compares by the day written in it
    assert await found(client, ast.SearchDate("SENTON", date(2022, 12, 31))) == [3]
    assert await found(client, ast.SearchDate("SENTBEFORE", date(2023, 1, 2))) == [3]
    assert await found(client, ast.SearchDate("SENTSINCE", date(2023, 1, 2))) == [1, 2, 4, 5]


async def test_size_keys(client: Client) -> None:
    assert await found(client, ast.SearchSize(True, 5000)) == [4]
    assert await found(client, ast.SearchSize(False, 5000)) == [1, 2, 3, 5]


async def test_sets_or_not_and_nesting(client: Client) -> None:
    assert await found(client, ast.SearchSequence(seqset("2:3,5"))) == [2, 3, 5]
    assert await found(client, ast.SearchSequence(seqset("4:*"), uid=True)) == [4, 5]
    assert await found(client, ast.SearchSequence(seqset("9"))) == []  # no BAD in SEARCH
    key = ast.SearchOr(
        ast.SearchFlag("\\Seen"),
        ast.SearchAnd((ast.SearchText("FROM", "bob"), ast.SearchNot(ast.SearchFlag("\\Flagged")))),
    )
    assert await found(client, key) == [1, 4]
    assert await found(client, ast.SearchNot(ast.SearchOr(ast.SearchFlag("\\Seen"), ast.SearchFlag("\\Deleted")))) == [
        2,
        4,
        5,
    ]
    assert await found(client, ast.SearchAll(), uid=True) == [1, 2, 3, 4, 5]


async def test_uid_search_answers_uids(client: Client, store: Store, alice: Account) -> None:
    await client.run(ast.Store(seqset("1"), ast.StoreAction("add", ("\\Deleted",))))
    await client.run(ast.Expunge())
    assert await found(client, ast.SearchText("FROM", "bob")) == [1, 2]  # 1 and 3 (deleted) are gone
    assert await found(client, ast.SearchText("FROM", "bob"), uid=True) == [2, 4]


async def test_badcharset(client: Client) -> None:
    out = await client.run(ast.Search(ast.SearchAll(), charset="KOI8-R"))
    assert out == b"TAG NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset KOI8-R\r\n"
    assert (await client.run(ast.Search(ast.SearchAll(), charset="utf-8"))).startswith(b"* SEARCH 1 2 3 4 5\r\n")


async def test_esearch_result_options(client: Client) -> None:
    key = ast.SearchText("FROM", "example")
    out = await client.run(ast.Search(key, returns=("MIN", "MAX", "COUNT")))
    assert out == b'* ESEARCH (TAG "TAG") MIN 1 MAX 5 COUNT 5\r\nTAG OK SEARCH completed\r\n'
    out = await client.run(ast.Search(ast.SearchText("FROM", "bob"), uid=True, returns=()))
    assert out == b'* ESEARCH (TAG "TAG") UID ALL 2,4\r\nTAG OK UID SEARCH completed\r\n'
    out = await client.run(ast.Search(ast.SearchSequence(seqset("1:3")), returns=("ALL",)))
    assert out == b'* ESEARCH (TAG "TAG") ALL 1:3\r\nTAG OK SEARCH completed\r\n'
    out = await client.run(ast.Search(ast.SearchText("FROM", "nobody"), returns=("MIN", "MAX", "ALL", "COUNT")))
    assert out == b'* ESEARCH (TAG "TAG") COUNT 0\r\nTAG OK SEARCH completed\r\n'


async def test_rev2_search_answers_esearch(store: Store, alice: Account) -> None:
    deliver(store, alice, mail("a@b.test", "s", "b"))
    client = Client(store, alice, rev2=True)
    try:
        await client.run(ast.Select("INBOX"))
        out = await client.run(ast.Search(ast.SearchAll()))
        assert out == b'* ESEARCH (TAG "TAG") ALL 1\r\nTAG OK SEARCH completed\r\n'
    finally:
        client.close()


async def test_save_and_dollar(client: Client) -> None:
    out = await client.run(ast.Search(ast.SearchText("FROM", "bob"), returns=("SAVE",)))
    assert out == b"TAG OK SEARCH completed\r\n"
    out = await client.run(ast.Fetch(seqset("$"), (ast.FetchSimple("UID"),)))
    assert out == b"* 2 FETCH (UID 2)\r\n* 4 FETCH (UID 4)\r\nTAG OK FETCH completed\r\n"
    # $ inside a search, combined with other keys
    assert await found(client, ast.SearchSequence(seqset("$")), ast.SearchFlag("\\Flagged")) == [2]
    out = await client.run(ast.Search(ast.SearchAll(), returns=("SAVE", "MIN")))
    assert out == b'* ESEARCH (TAG "TAG") MIN 1\r\nTAG OK SEARCH completed\r\n'
    assert client.view.saved == [1]
    out = await client.run(ast.Search(ast.SearchAll(), returns=("SAVE", "COUNT")))
    assert client.view.saved == [1, 2, 3, 4, 5]


async def test_modseq_key(client: Client, store: Store) -> None:
    box = store.mailbox_by_id(client.view.mailbox_id)
    assert box is not None
    await client.run(ast.Store(seqset("5"), ast.StoreAction("add", ("\\Seen",))))
    changed = box.highestmodseq + 1
    # the first MODSEQ search enables CONDSTORE (HIGHESTMODSEQ owed) and reports the highest modseq found
    out = await client.run(ast.Search(ast.SearchModSeq(changed)))
    assert out == b"* OK [HIGHESTMODSEQ %d] Highest\r\n* SEARCH 5 (MODSEQ %d)\r\nTAG OK SEARCH completed\r\n" % (
        changed,
        changed,
    )
    out = await client.run(ast.Search(ast.SearchModSeq(changed + 1), returns=("COUNT",)))
    assert out == b'* ESEARCH (TAG "TAG") COUNT 0\r\nTAG OK SEARCH completed\r\n'


async def test_dollar_in_a_saving_search_is_the_previous_result(client: Client) -> None:
    await client.run(ast.Search(ast.SearchText("FROM", "bob"), returns=("SAVE",)))
    key = ast.SearchAnd((ast.SearchSequence(seqset("$")), ast.SearchFlag("\\Flagged", present=False)))
    await client.run(ast.Search(key, returns=("SAVE",)))
    assert client.view.saved == [4]


async def test_older_younger_and_save_dates(client: Client, store: Store, alice: Account) -> None:
    deliver(store, alice, mail("new@example.test", "fresh", "now"), date=datetime.now(UTC) - timedelta(seconds=30))
    await client.noop()
    assert await found(client, ast.SearchWithin(older=False, seconds=3600)) == [6]
    assert await found(client, ast.SearchWithin(older=True, seconds=3600)) == [1, 2, 3, 4, 5]
    today = datetime.now(UTC).date()
    assert await found(client, ast.SearchSaveDate("SAVEDON", today)) == [1, 2, 3, 4, 5, 6]
    assert await found(client, ast.SearchSaveDate("SAVEDBEFORE", today)) == []
    assert await found(client, ast.SearchSaveDate("SAVEDSINCE", today + timedelta(days=1))) == []
