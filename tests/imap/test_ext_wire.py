"""The issue 9 grammar, byte for byte: what parses, into what, and what is refused with BAD or NO."""

from __future__ import annotations

from datetime import date

import pytest

from arobase.imap.wire import ast
from arobase.imap.wire.parser import ParseError, parse


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"a COMPRESS deflate", ast.Compress("DEFLATE", tag="a")),
        (b'a GETQUOTA ""', ast.GetQuota("", tag="a")),
        (b"a GETQUOTA {0}\r\n\r\n", ast.GetQuota("", tag="a")),
        (b"a GETQUOTAROOT Drafts", ast.GetQuotaRoot("Drafts", tag="a")),
        (b"a SETQUOTA root (storage 1)", ast.SetQuota("root", (("STORAGE", 1),), tag="a")),
        (
            b"a SORT (ARRIVAL REVERSE SIZE) US-ASCII ALL",
            ast.Sort(
                (ast.SortCriterion("ARRIVAL"), ast.SortCriterion("SIZE", True)), ast.SearchAll(), "US-ASCII", tag="a"
            ),
        ),
        (
            b"a UID SORT RETURN () (CC) UTF-8 1:5",
            ast.Sort(
                (ast.SortCriterion("CC"),),
                ast.SearchSequence(ast.SequenceSet(((1, 5),))),
                "UTF-8",
                uid=True,
                returns=(),
                tag="a",
            ),
        ),
        (b"a UID THREAD REFERENCES UTF-8 ALL", ast.Thread("REFERENCES", ast.SearchAll(), "UTF-8", uid=True, tag="a")),
        (b"a SEARCH YOUNGER 3600", ast.Search(ast.SearchWithin(False, 3600), tag="a")),
        (b"a SEARCH SAVEDSINCE 2-Jan-2023", ast.Search(ast.SearchSaveDate("SAVEDSINCE", date(2023, 1, 2)), tag="a")),
    ],
)
def test_parses(line: bytes, expected: ast.Command) -> None:
    assert parse(line + (b"" if line.endswith(b"\r\n") else b"\r\n")) == expected


@pytest.mark.parametrize(
    "line",
    [
        b"a COMPRESS",
        b"a GETQUOTAROOT",
        b"a SETQUOTA root (STORAGE)",
        b"a SETQUOTA root (STORAGE x)",
        b"a SORT DATE UTF-8 ALL",  # criteria need parentheses
        b"a SORT (DATE DATE REVERSE) UTF-8 ALL",  # REVERSE must precede a key
        b"a SORT (REVERSE REVERSE DATE) UTF-8 ALL",
        b"a SORT RETURN (PARTIAL 1:5) (DATE) UTF-8 ALL",  # CONTEXT=SORT is not offered
        b"a THREAD REFERENCES",
        b"a THREAD REFS UTF-8 ALL",
        b"a SEARCH OLDER 0",
        b"a SEARCH SAVEDON 2023-01-02",
        b"a UID COMPRESS DEFLATE",
        b"a REPLACE 1 INBOX",
    ],
)
def test_refused(line: bytes) -> None:
    with pytest.raises(ParseError) as caught:
        parse(line + b"\r\n")
    assert caught.value.status == "BAD" and caught.value.tag == "a"


def test_unknown_charset_is_no_badcharset() -> None:
    with pytest.raises(ParseError) as caught:
        parse(b"a THREAD ORDEREDSUBJECT X-UNKNOWN ALL\r\n")
    assert (caught.value.status, caught.value.code) == ("NO", "BADCHARSET (UTF-8 US-ASCII)")
