"""SORT (RFC 5256, RFC 5957 display keys, RFC 5267 ESORT) and THREAD (RFC 5256) through the session.

Each expectation was worked out by hand from the messages below, following the RFCs' rules.
"""

from __future__ import annotations

from datetime import UTC, datetime

from arobase.imap import threads
from arobase.imap.commands.sort import ordered_set
from arobase.imap.wire.parser import parse
from arobase.store.ordering import ThreadRow

from .conftest import Driver
from .engine_fixtures import deliver, settle


def mail(headers: str, body: str = "hello") -> bytes:
    return (headers.strip().replace("\n", "\r\n") + f"\r\n\r\n{body}\r\n").encode()


SORT_SET = [  # (message, internal date)
    (
        'From: "Zoé Martin" <zoe@a.example>\nTo: bob@b.example\nSubject: Re: Budget\n'
        "Date: Tue, 3 Jan 2023 10:00:00 +0000",
        datetime(2023, 1, 5, tzinfo=UTC),
    ),
    (
        "From: alice@c.example\nTo: =?utf-8?q?=C3=89mile?= <emile@d.example>\nCc: carl@e.example\n"
        "Subject: budget\nDate: Mon, 2 Jan 2023 12:00:00 +0200",
        datetime(2023, 1, 4, tzinfo=UTC),
    ),
    (
        "From: bob <Bob@f.example>\nTo: alice@c.example\nCc: Anne@x.example\nSubject: [list] Agenda",
        datetime(2023, 1, 1, tzinfo=UTC),
    ),
    (
        "From: Ann <zed@g.example>\nTo: zack <aaron@h.example>\nSubject: Fwd: agenda (fwd)\n"
        "Date: Mon, 2 Jan 2023 09:00:00 -0000",
        datetime(2023, 1, 3, tzinfo=UTC),
    ),
    (
        "From: carl@i.example\nTo: bob@b.example\nSubject: Zebra\nDate: Mon, 2 Jan 2023 10:00:00 +0000",
        datetime(2023, 1, 2, tzinfo=UTC),
    ),
]


async def _fill(d: Driver, messages: list[tuple[str, datetime]], big: int = 0) -> None:
    account = d.session.state.account
    assert account is not None
    for n, (headers, when) in enumerate(messages, 1):
        deliver(d.session.app.store, account, mail(headers, "x" * 5000 if n == big else "hello"), date=when)
    await settle(d.session.app.store)
    assert (await d.cmd("s SELECT INBOX"))[-1].startswith(b"s OK")


async def test_sort_keys(logged_in: Driver) -> None:
    await _fill(logged_in, SORT_SET, big=4)
    expected = {
        "(DATE)": "3 4 2 5 1",  # 3 has no Date: its internal date; 2 and 5 tie at 10:00Z: by sequence
        "(ARRIVAL)": "3 5 4 2 1",
        "(REVERSE ARRIVAL)": "1 2 4 5 3",
        "(FROM)": "2 3 5 4 1",  # local parts, case-insensitive: alice bob carl zed zoe
        "(SUBJECT)": "3 4 1 2 5",  # base subjects: agenda agenda budget budget zebra
        "(SUBJECT REVERSE DATE)": "4 3 1 2 5",
        "(TO)": "4 3 1 5 2",
        "(CC)": "1 4 5 3 2",  # no Cc sorts first
        "(REVERSE SIZE)": "4",
        "(DISPLAYFROM)": "2 4 3 5 1",  # alice@c.example, Ann, bob, carl@i.example, Zoé Martin
        "(DISPLAYTO)": "3 1 5 2 4",  # alice@, bob@, bob@, Émile, zack
        "(REVERSE DISPLAYFROM SIZE)": "1 5 3 4 2",
    }
    for criteria, order in expected.items():
        lines = await logged_in.cmd(f"t SORT {criteria} UTF-8 ALL")
        assert lines[-1] == b"t OK SORT completed", criteria
        assert lines[0].startswith(f"* SORT {order}".encode()), (criteria, lines[0])
    assert await logged_in.cmd("u UID SORT (DATE) US-ASCII SUBJECT agenda") == [
        b"* SORT 3 4",
        b"u OK UID SORT completed",
    ]
    assert await logged_in.cmd("u SORT (DATE) UTF-8 SUBJECT nothing") == [b"* SORT", b"u OK SORT completed"]


async def test_esort_and_sequence_numbers(logged_in: Driver) -> None:
    await _fill(logged_in, SORT_SET)
    assert await logged_in.cmd("e SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 ALL") == [
        b'* ESEARCH (TAG "e") MIN 3 MAX 1 COUNT 5 ALL 3:4,2,5,1',
        b"e OK SORT completed",
    ]
    assert await logged_in.cmd("f UID SORT RETURN () (REVERSE DATE) UTF-8 ALL") == [  # ties stay in mailbox order
        b'* ESEARCH (TAG "f") UID ALL 1:2,5,4,3',
        b"f OK UID SORT completed",
    ]
    assert await logged_in.cmd("g SORT RETURN (COUNT) (DATE) UTF-8 SUBJECT nothing") == [
        b'* ESEARCH (TAG "g") COUNT 0',
        b"g OK SORT completed",
    ]
    assert (await logged_in.cmd("h SORT RETURN (SAVE) (DATE) UTF-8 FROM bob"))[-1] == b"h OK SORT completed"
    assert (await logged_in.cmd("i UID FETCH $ UID"))[0] == b"* 3 FETCH (UID 3)"
    # after an expunge, SORT answers sequence numbers and UID SORT UIDs
    await logged_in.cmd("j STORE 3 +FLAGS (\\Deleted)")
    await logged_in.cmd("k EXPUNGE")
    assert (await logged_in.cmd("l SORT (DATE) UTF-8 ALL"))[0] == b"* SORT 3 2 4 1"
    assert (await logged_in.cmd("m UID SORT (DATE) UTF-8 ALL"))[0] == b"* SORT 4 2 5 1"


async def test_sort_errors(logged_in: Driver) -> None:
    await _fill(logged_in, SORT_SET[:1])
    assert (await logged_in.cmd("a SORT (DATE) KOI8-R ALL"))[
        -1
    ] == b"a NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset KOI8-R"
    assert (await logged_in.cmd("b SORT (DATE) ALL"))[-1].startswith(b"b NO [BADCHARSET")  # ALL taken as the charset
    assert (await logged_in.cmd("c SORT (REVERSE) UTF-8 ALL"))[-1].startswith(b"c BAD")
    assert (await logged_in.cmd("d SORT (NAME) UTF-8 ALL"))[-1].startswith(b"d BAD")
    assert (await logged_in.cmd("e SORT () UTF-8 ALL"))[-1].startswith(b"e BAD")


def test_sort_and_thread_parse() -> None:
    cmd = parse(b"a UID SORT RETURN (MIN) (REVERSE DATE DISPLAYFROM) utf-8 UNSEEN\r\n")
    assert cmd.name == "UID SORT"
    assert [(c.key, c.reverse) for c in cmd.criteria] == [("DATE", True), ("DISPLAYFROM", False)]  # type: ignore[attr-defined]
    assert cmd.returns == ("MIN",) and cmd.charset == "UTF-8"  # type: ignore[attr-defined]
    cmd = parse(b"b THREAD orderedsubject US-ASCII SUBJECT {3}\r\nabc\r\n")
    assert cmd.name == "THREAD" and cmd.algorithm == "ORDEREDSUBJECT"  # type: ignore[attr-defined]
    assert ordered_set([3, 4, 2, 5, 6, 1]) == b"3:4,2,5:6,1"


THREAD_SET = [
    ("Message-ID: <a>\nSubject: Plans\nDate: Sun, 1 Jan 2023 10:00:00 +0000", 1),
    ("Message-ID: <b>\nIn-Reply-To: <a>\nReferences: <a>\nSubject: Re: Plans\nDate: Sun, 1 Jan 2023 11:00:00 +0000", 2),
    ("Message-ID: <c>\nReferences: <a> <b>\nSubject: Re: Plans\nDate: Sun, 1 Jan 2023 12:00:00 +0000", 3),
    # the parent of 4 and 5 is missing: a dummy holds them together
    (
        "Message-ID: <d>\nIn-Reply-To: <missing>\nReferences: <missing>\nSubject: Lost\n"
        "Date: Sun, 1 Jan 2023 09:00:00 +0000",
        4,
    ),
    ("Message-ID: <e>\nReferences: <missing>\nSubject: Re: Lost\nDate: Sun, 1 Jan 2023 13:00:00 +0000", 5),
    # no References: In-Reply-To is used
    ("Message-ID: <f>\nIn-Reply-To: <b>\nSubject: Re: Plans\nDate: Sun, 1 Jan 2023 14:00:00 +0000", 6),
    # truncated References whose first entry is unknown: <c> keeps its parent <b>
    ("Message-ID: <g>\nReferences: <zz> <c>\nSubject: Re: Plans\nDate: Sun, 1 Jan 2023 15:00:00 +0000", 7),
    # no Message-ID, same subject, no reply: merged with thread <a> under a dummy
    ("Subject: Plans\nDate: Sun, 1 Jan 2023 08:00:00 +0000", 8),
    # a duplicate Message-ID is treated as unique
    ("Message-ID: <a>\nSubject: Other\nDate: Sun, 1 Jan 2023 16:00:00 +0000", 9),
    # referencing itself: no loop
    ("Message-ID: <h>\nReferences: <i> <h>\nSubject: Loop\nDate: Sun, 1 Jan 2023 07:00:00 +0000", 10),
]


async def _fill_threads(d: Driver) -> None:
    messages = [(f"From: x@y.example\n{headers}", datetime(2023, 2, n, tzinfo=UTC)) for headers, n in THREAD_SET]
    await _fill(d, messages)


async def test_thread_references(logged_in: Driver) -> None:
    await _fill_threads(logged_in)
    assert await logged_in.cmd("t THREAD REFERENCES UTF-8 ALL") == [
        b"* THREAD (10)((8)(1 2 (3 7)(6)))((4)(5))(9)",
        b"t OK THREAD completed",
    ]
    assert (await logged_in.cmd("u THREAD REFERENCES UTF-8 SUBJECT lost"))[0] == b"* THREAD ((4)(5))"
    assert (await logged_in.cmd("v THREAD REFERENCES UTF-8 SUBJECT nothing"))[0] == b"* THREAD"
    # sequence numbers after an expunge; UID THREAD keeps UIDs
    await logged_in.cmd("w STORE 9 +FLAGS (\\Deleted)")
    await logged_in.cmd("x EXPUNGE")
    assert (await logged_in.cmd("y THREAD REFERENCES UTF-8 ALL"))[0] == b"* THREAD (9)((8)(1 2 (3 7)(6)))((4)(5))"
    assert (await logged_in.cmd("z UID THREAD REFERENCES UTF-8 ALL"))[0] == b"* THREAD (10)((8)(1 2 (3 7)(6)))((4)(5))"


async def test_thread_orderedsubject(logged_in: Driver) -> None:
    await _fill_threads(logged_in)
    assert await logged_in.cmd("t THREAD ORDEREDSUBJECT UTF-8 ALL") == [
        b"* THREAD (10)(8 (1)(2)(3)(6)(7))(4 5)(9)",
        b"t OK THREAD completed",
    ]
    assert (await logged_in.cmd("u THREAD FOO UTF-8 ALL"))[0].startswith(b"u BAD")
    caps = (await logged_in.cmd("c CAPABILITY"))[0]
    for cap in (b"SORT", b"SORT=DISPLAY", b"ESORT", b"THREAD=REFERENCES", b"THREAD=ORDEREDSUBJECT"):
        assert b" " + cap + b" " in caps + b" "


def test_deep_threads_need_no_recursion() -> None:
    """A 5,000-message reply chain with a branch at every 1,000th message, threaded and rendered."""
    depth = 5000
    rows = [ThreadRow(1, "<m1>", None, (), "Chain", "chain", 1_000)]
    for n in range(2, depth + 1):
        parent = n - 1 if n % 1000 else n - 2
        rows.append(ThreadRow(n, f"<m{n}>", f"<m{parent}>", (), "Re: Chain", "chain", 1_000 + n))
    roots = threads.references(rows)
    assert len(roots) == 1
    text = threads.render(roots)
    assert text.startswith(b"(1 2 3 ") and text.count(b"(") == text.count(b")") == 1 + 2 * 5
    assert b"998 (999)(1000 1001" in text
    ordered = threads.render(threads.ordered_subject(rows))
    assert ordered.startswith(b"(1 (2)(3)") and ordered.endswith(b"(5000))")
