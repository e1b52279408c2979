"""The sans-I/O POP3 wire format, byte for byte: line framing, command parsing, message form."""

from __future__ import annotations

import io
import poplib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arobase.pop3 import wire
from arobase.pop3.wire import BadLine, Command, Framing, LineReader

# -- the line reader ---------------------------------------------------------------------------


def test_reader_splits_lines_across_chunks() -> None:
    reader = LineReader(limit=100)
    assert reader.feed(b"NO") == []
    assert reader.feed(b"OP\r\nSTAT\r\nLI") == [b"NOOP\r\n", b"STAT\r\n"]
    assert reader.pending == 2
    assert reader.feed(b"ST\n") == [b"LIST\n"]


def test_reader_reports_an_overlong_line_once_and_skips_it() -> None:
    reader = LineReader(limit=10)
    assert reader.feed(b"X" * 11) == [Framing.TOO_LONG]
    assert reader.pending == 0  # nothing of it is kept
    assert reader.feed(b"Y" * 5000) == []
    assert reader.feed(b"ZZ\r\nNOOP\r\n") == [b"NOOP\r\n"]


def test_reader_limit_counts_the_line_end() -> None:
    reader = LineReader(limit=6)
    assert reader.feed(b"NOOP\r\n") == [b"NOOP\r\n"]
    assert reader.feed(b"NOOPS\r\nSTAT\r\n") == [Framing.TOO_LONG, b"STAT\r\n"]


def test_reader_clear_forgets_a_partial_line() -> None:
    reader = LineReader(limit=10)
    reader.feed(b"USER inj")
    reader.clear()
    assert reader.feed(b"NOOP\r\n") == [b"NOOP\r\n"]


# -- command lines -----------------------------------------------------------------------------


def test_command_verb_is_case_insensitive_and_arguments_split() -> None:
    assert wire.parse_command(b"list 1\r\n") == Command("LIST", ["1"], "1")
    assert wire.parse_command(b"TOP 1  10\r\n") == Command("TOP", ["1", "10"], "1  10")
    assert wire.parse_command(b"QUIT\n") == Command("QUIT", [], "")


def test_pass_keeps_spaces_of_the_password() -> None:
    assert wire.parse_command(b"PASS  my secret \r\n") == Command("PASS", ["my", "secret"], " my secret ")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"\r\n", BadLine.EMPTY),
        (b"   \r\n", BadLine.EMPTY),
        (b"NO\0OP\r\n", BadLine.BAD_CHARACTERS),
        (b"LIST \x1b[1\r\n", BadLine.BAD_CHARACTERS),
        (b"NOOP\rSTAT\r\n", BadLine.BAD_CHARACTERS),
        (b"XY\r\n", BadLine.BAD_VERB),
        (b"RETRS 1\r\n", BadLine.BAD_VERB),
        (b"R3TR 1\r\n", BadLine.BAD_VERB),
        (b"\xc3\xa9t\xc3\xa9\r\n", BadLine.BAD_VERB),
        (b"USER \xff\xfe\r\n", BadLine.NOT_UTF8),
        (b"PASS " + b"x" * 600 + b"\r\n", BadLine.TOO_LONG),
    ],
)
def test_bad_command_lines(line: bytes, problem: BadLine) -> None:
    assert wire.parse_command(line) is problem


def test_auth_lines_may_be_long() -> None:
    line = b"AUTH PLAIN " + b"A" * 4000 + b"\r\n"
    assert wire.parse_command(line) == Command("AUTH", ["PLAIN", "A" * 4000], "PLAIN " + "A" * 4000)


@pytest.mark.parametrize(("text", "value"), [("1", 1), ("007", 7), ("4294967295", 4294967295)])
def test_numbers(text: str, value: int) -> None:
    assert wire.parse_number(text) == value


@pytest.mark.parametrize("text", ["", "-1", "+1", "1.0", "0x10", "１", "12345678901", "1e3"])
def test_not_numbers(text: str) -> None:
    assert wire.parse_number(text) is None


# -- replies -----------------------------------------------------------------------------------


def test_status_lines() -> None:
    assert wire.ok() == b"+OK\r\n"
    assert wire.ok("2 320") == b"+OK 2 320\r\n"
    assert wire.err("Mailbox busy", "IN-USE") == b"-ERR [IN-USE] Mailbox busy\r\n"


def test_multiline_is_dot_stuffed_and_terminated() -> None:
    assert wire.multiline("list", ["TOP", ".hidden"]) == b"+OK list\r\nTOP\r\n..hidden\r\n.\r\n"
    assert wire.multiline("empty", []) == b"+OK empty\r\n.\r\n"


# -- messages ----------------------------------------------------------------------------------


def test_wire_form_turns_bare_lf_into_crlf_and_ends_with_crlf() -> None:
    assert wire.to_wire(b"A: b\r\n\r\nbody\r\n") == b"A: b\r\n\r\nbody\r\n"
    assert wire.to_wire(b"A: b\n\nbody\n") == b"A: b\r\n\r\nbody\r\n"
    assert wire.to_wire(b"A: b\r\n\nmixed") == b"A: b\r\n\r\nmixed\r\n"
    assert wire.to_wire(b"bare\rcr\r\n") == b"bare\rcr\r\n"
    assert wire.to_wire(b"") == b""


def test_dot_stuffing() -> None:
    assert wire.dot_stuff(b".starts\r\n..two\r\nmid.dle\r\n.\r\n") == b"..starts\r\n...two\r\nmid.dle\r\n..\r\n"


def test_message_response_chunks() -> None:
    assert b"".join(wire.message_response(b"S: x\r\n\r\n.\r\n", "11 octets")) == (
        b"+OK 11 octets\r\nS: x\r\n\r\n..\r\n.\r\n"
    )


def test_top_sends_header_blank_line_and_n_body_lines() -> None:
    message = b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n"
    assert wire.top(message, 0) == b"A: 1\r\nB: 2\r\n\r\n"
    assert wire.top(message, 2) == b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n"
    assert wire.top(message, 99) == message
    assert wire.top(b"A: 1\r\nB: 2\r\n", 1) == b"A: 1\r\nB: 2\r\n"  # no body at all
    assert wire.top(b"\r\nbody\r\nmore\r\n", 1) == b"\r\nbody\r\n"  # no header at all


messages = st.lists(
    st.sampled_from([b"a", b".", b"..", b"\r\n", b"\n", b"\r", b" ", b"From x", b"\xff"]), max_size=40
).map(b"".join)


@given(messages)
def test_wire_size_is_the_length_of_the_wire_form(raw: bytes) -> None:
    assert wire.wire_size(raw) == len(wire.to_wire(raw))


@given(messages)
def test_content_sent_as_is_is_exactly_its_stuffed_wire_form(raw: bytes) -> None:
    stuffed = wire.dot_stuff(wire.to_wire(raw))
    assert wire.as_is(raw) == (stuffed == raw)


def test_as_is() -> None:
    assert wire.as_is(b"A: b\r\n\r\nbody.\r\n")
    assert not wire.as_is(b"A: b\r\n\r\n.body\r\n")
    assert not wire.as_is(b".A: b\r\n")
    assert not wire.as_is(b"A: b\n")
    assert not wire.as_is(b"A: b\r\n\r\nno final line end")


@given(messages)
def test_poplib_unstuffing_gives_back_the_wire_form(raw: bytes) -> None:
    """What the standard library's client reassembles is exactly the CRLF form whose size we announce."""
    message = wire.to_wire(raw)
    response = b"".join(wire.message_response(message, f"{len(message)} octets"))

    class Replay(poplib.POP3):
        def __init__(self, data: bytes) -> None:
            self.file = io.BufferedReader(io.BytesIO(data))  # type: ignore[assignment]
            self._debugging = 0

    status, lines, _ = Replay(response)._getlongresp()  # type: ignore[attr-defined]
    assert status == f"+OK {len(message)} octets".encode()
    assert b"".join(line + b"\r\n" for line in lines) == message
