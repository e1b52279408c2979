"""The receiver: whole commands out of a byte stream, literals of every kind, and the size limits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from arobase.imap.wire.receiver import (
    CommandBytes,
    ContinuationNeeded,
    Event,
    Line,
    LineTooLong,
    Receiver,
    TooBig,
)


def events(receiver: Receiver, data: bytes) -> list[Event]:
    receiver.feed(data)
    out = []
    while (event := receiver.next_event()) is not None:
        out.append(event)
    return out


def test_one_line_and_pipelining() -> None:
    r = Receiver()
    assert events(r, b"a NOOP\r\nb CAPA") == [CommandBytes(b"a NOOP\r\n")]
    assert events(r, b"BILITY\r\n") == [CommandBytes(b"b CAPABILITY\r\n")]


def test_bare_lf_is_a_line_end() -> None:
    assert events(Receiver(), b"a NOOP\n") == [CommandBytes(b"a NOOP\r\n")]


def test_synchronizing_literal_asks_for_continuation() -> None:
    r = Receiver()
    assert events(r, b"a LOGIN {5}\r\n") == [ContinuationNeeded()]
    assert events(r, b"ar") == []
    assert events(r, b"thu {3}\r\n") == [ContinuationNeeded()]
    assert events(r, b"pw!\r\n") == [CommandBytes(b"a LOGIN {5}\r\narthu {3}\r\npw!\r\n")]


def test_non_synchronizing_and_binary_literals() -> None:
    r = Receiver()
    data = b"a APPEND INBOX {3+}\r\nx\r\n ~{4+}\r\n\x00\x01\r\n\r\n"
    assert events(r, data) == [CommandBytes(data)]
    assert events(r, b"b LOGIN {0+}\r\n {0}\r\n") == [ContinuationNeeded()]
    assert events(r, b"\r\n") == [CommandBytes(b"b LOGIN {0+}\r\n {0}\r\n\r\n")]


def test_literal_may_contain_what_looks_like_a_literal() -> None:
    r = Receiver()
    data = b"a APPEND INBOX {8+}\r\nxx {2}\r\n\r\n"
    assert events(r, data) == [CommandBytes(data)]


def test_too_big_synchronizing_literal_is_refused_before_sending() -> None:
    r = Receiver(max_literal=10, max_append=100)
    assert events(r, b"a LOGIN {11}\r\n") == [TooBig(b"a", 11, fatal=False, append=False)]
    assert events(r, b"b APPEND INBOX {101}\r\n") == [TooBig(b"b", 101, fatal=False, append=True)]
    assert events(r, b"c APPEND INBOX {100}\r\n") == [ContinuationNeeded()]


def test_too_big_non_synchronizing_literal_is_fatal() -> None:
    r = Receiver(max_literal=10)
    assert events(r, b"a LOGIN {99999999999+}\r\n") == [TooBig(b"a", 99999999999, fatal=True, append=False)]


def test_long_line_is_discarded_to_its_end() -> None:
    r = Receiver(max_line=20)
    assert events(r, b"tag1 " + b"x" * 30) == [LineTooLong(b"tag1")]
    assert events(r, b"y" * 1000) == []
    assert r.buffered < 100
    assert events(r, b"yy\r\nb NOOP\r\n") == [CommandBytes(b"b NOOP\r\n")]
    assert events(r, b"c " + b"z" * 30 + b"\r\n") == [LineTooLong(b"c")]


def test_line_mode_hands_out_raw_lines() -> None:
    r = Receiver()
    r.line_mode = True
    assert events(r, b"{5}\r\nDONE\r\n") == [Line(b"{5}"), Line(b"DONE")]


@given(st.binary(max_size=300), st.lists(st.integers(1, 50), max_size=10))
def test_chunking_never_changes_the_result(data: bytes, cuts: list[int]) -> None:
    whole = Receiver(max_line=100, max_literal=50)
    expected = events(whole, data)
    pieces = Receiver(max_line=100, max_literal=50)
    got: list[Event] = []
    rest = data
    for cut in cuts:
        got += events(pieces, rest[:cut])
        rest = rest[cut:]
    got += events(pieces, rest)
    if not any(isinstance(e, LineTooLong) for e in expected + got):  # where a long line is noticed may vary
        assert got == expected
