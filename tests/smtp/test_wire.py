"""The sans-I/O SMTP wire format: command lines, MAIL/RCPT arguments and the DATA stream, byte for byte."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arobase.smtp import replies
from arobase.smtp.replies import Reply
from arobase.smtp.wire import (
    Command,
    DataProblem,
    DataReader,
    PathArgument,
    parse_command,
    parse_path_argument,
)

# -- command lines -----------------------------------------------------------------------------


def test_command_is_split_and_upper_cased() -> None:
    assert parse_command(b"mail FROM:<a@b.example>  SIZE=10\r\n") == Command("MAIL", "FROM:<a@b.example>  SIZE=10")
    assert parse_command(b"QUIT\r\n") == Command("QUIT", "")
    assert parse_command(b"EHLO  client.example \r\n") == Command("EHLO", "client.example")


def test_command_of_512_octets_is_accepted_513_refused() -> None:
    prefix = b"NOOP "
    exact = prefix + b"x" * (512 - len(prefix) - 2) + b"\r\n"
    assert len(exact) == 512
    assert isinstance(parse_command(exact), Command)
    assert parse_command(exact[:-2] + b"y\r\n") == replies.LINE_TOO_LONG


def test_mail_and_auth_have_extended_limits() -> None:
    mail = b"MAIL FROM:<a@b.example> AUTH=" + b"x" * 700 + b"\r\n"
    assert isinstance(parse_command(mail), Command)
    assert parse_command(b"RCPT TO:<" + b"x" * 600 + b"@b.example>\r\n") == replies.LINE_TOO_LONG
    assert isinstance(parse_command(b"AUTH PLAIN " + b"A" * 4000 + b"\r\n"), Command)


@pytest.mark.parametrize(
    "line",
    [b"NOOP\n", b"NOOP\rx\r\n", b"NO\rOP\r\n", b"NOOP\r\r\n"],
    ids=["bare-lf", "cr-inside", "cr-in-verb", "double-cr"],
)
def test_command_needs_crlf_and_no_bare_cr(line: bytes) -> None:
    assert parse_command(line) == replies.BARE_NEWLINE


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"\r\n", replies.BAD_SYNTAX),
        (b"NO\0OP\r\n", replies.NUL_BYTE),
        (b"N0OP\r\n", replies.BAD_SYNTAX),
        (b"\xc3\xa9HLO x\r\n", replies.BAD_SYNTAX),
        (b"EHLO \xff\r\n", replies.NOT_UTF8),
    ],
)
def test_bad_command_lines(line: bytes, reply: Reply) -> None:
    assert parse_command(line) == reply


def test_utf8_arguments_are_decoded() -> None:
    assert parse_command("RCPT TO:<jérôme@exemple.test>\r\n".encode()) == Command("RCPT", "TO:<jérôme@exemple.test>")


# -- MAIL/RCPT arguments ---------------------------------------------------------------------------


def test_path_and_parameters() -> None:
    assert parse_path_argument("FROM:<a@b.example> SIZE=100 BODY=8BITMIME SMTPUTF8", "FROM:") == PathArgument(
        "<a@b.example>", {"SIZE": "100", "BODY": "8BITMIME", "SMTPUTF8": None}
    )
    assert parse_path_argument("from: <>", "FROM:") == PathArgument("<>", {})
    assert parse_path_argument("To:<@relay.example:u@d.example>", "TO:") == PathArgument("<@relay.example:u@d.example>")


def test_quoted_local_part_may_hold_angle_brackets_and_spaces() -> None:
    assert parse_path_argument('TO:<"a> b"@d.example> X=1', "TO:") == PathArgument('<"a> b"@d.example>', {"X": "1"})
    assert parse_path_argument('TO:<"a\\"> b"@d.example>', "TO:") == PathArgument('<"a\\"> b"@d.example>')


@pytest.mark.parametrize(
    ("arg", "reply"),
    [
        ("FROM:a@b.example", replies.ARGUMENT_SYNTAX),  # no angle brackets
        ("TO:<a@b.example>", replies.ARGUMENT_SYNTAX),  # wrong keyword
        ("FROM:<a@b.example", replies.BAD_ADDRESS),  # unterminated
        ("FROM:<a<b@c.example>", replies.BAD_ADDRESS),
        ("FROM:<a@b.example>SIZE=1", replies.ARGUMENT_SYNTAX),
        ("FROM:<a@b.example> SIZE=", replies.ARGUMENT_SYNTAX),
        ("FROM:<a@b.example> =1", replies.ARGUMENT_SYNTAX),
        ("FROM:<a@b.example> SIZE=1 SIZE=2", replies.ARGUMENT_SYNTAX),
        ("FROM:<a@b.example> X=a=b", replies.ARGUMENT_SYNTAX),
    ],
)
def test_bad_path_arguments(arg: str, reply: Reply) -> None:
    assert parse_path_argument(arg, "FROM:") == reply


# -- the DATA stream -------------------------------------------------------------------------------


def read_all(*chunks: bytes, max_size: int = 10_000, eight_bit: bool = True) -> tuple[DataReader, bytes]:
    reader = DataReader(max_size, eight_bit=eight_bit)
    leftover = b""
    for chunk in chunks:
        leftover += reader.feed(chunk)
    return reader, leftover


def test_end_of_data_and_dot_unstuffing() -> None:
    reader, leftover = read_all(b"Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n")
    assert reader.done and reader.problem is None
    assert reader.content() == b"Subject: x\r\n\r\n.leading dot\r\n"
    assert leftover == b"QUIT\r\n"


def test_empty_message() -> None:
    reader, leftover = read_all(b".\r\n")
    assert reader.done and reader.content() == b"" and leftover == b""


def test_any_split_gives_the_same_result() -> None:
    stream = b"A: 1\r\n\r\nline\r\n..dot\r\nx.\r\n.\r\nNOOP\r\n"
    expected = b"A: 1\r\n\r\nline\r\n.dot\r\nx.\r\n"
    for size in range(1, 8):
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        reader, leftover = read_all(*chunks)
        assert reader.done and reader.content() == expected
        assert leftover == b"NOOP\r\n"


def test_dot_alone_inside_a_line_does_not_end() -> None:
    reader, _ = read_all(b"a.\r\n. \r\n.x\r\n")
    assert not reader.done


# The published SMTP smuggling end-of-data variants (SEC Consult, 2023): none may end the data.
SMUGGLING = [
    b"\n.\n",
    b"\r.\r",
    b"\n.\r\n",
    b"\r.\n",
    b"\r\n.\n",
    b"\r\n.\r",
    b"\n.\r",
    b"\r.\r\n",
    b"\r\n\x00.\r\n",
    b"\r\n.\x00\r\n",
]


@pytest.mark.parametrize("sequence", SMUGGLING, ids=repr)
def test_smuggled_end_of_data_is_content_and_refused(sequence: bytes) -> None:
    smuggled = b"MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\nspoofed\r\n"
    reader, leftover = read_all(b"Subject: real\r\n\r\nbody" + sequence + smuggled)
    assert not reader.done, "a smuggled sequence must never end the data"
    reader2, leftover = read_all(b"Subject: real\r\n\r\nbody" + sequence + smuggled + b".\r\nQUIT\r\n")
    assert reader2.done and leftover == b"QUIT\r\n"
    assert reader2.problem in (DataProblem.BARE_NEWLINE, DataProblem.NUL)
    assert reader2.problem is not None and reader2.problem.reply.code == 500
    with pytest.raises(ValueError):
        reader2.content()


def test_bare_lf_line_cannot_precede_the_end() -> None:
    """`<LF>.<CRLF>`: the line before ends with a bare LF, so the dot line is not an end of data."""
    reader, _ = read_all(b"text\n.\r\n")
    assert not reader.done
    reader, leftover = read_all(b"text\n.\r\nmore\r\n.\r\n")
    assert reader.done and reader.problem is DataProblem.BARE_NEWLINE and leftover == b""


def test_cr_split_across_packets_is_not_bare() -> None:
    reader, _ = read_all(b"a\r", b"\n.\r", b"\n")
    assert reader.done and reader.content() == b"a\r\n"


def test_size_limit_stops_buffering_but_reads_to_the_end() -> None:
    reader = DataReader(100)
    for _ in range(50):
        reader.feed(b"x" * 50 + b"\r\n")
        assert len(reader._body) <= 100
    assert not reader.done
    assert reader.feed(b".\r\nRSET\r\n") == b"RSET\r\n"
    assert reader.done and reader.problem is DataProblem.TOO_BIG
    assert reader.size == 50 * 52


def test_exact_size_limit_is_accepted() -> None:
    reader, _ = read_all(b"x" * 98 + b"\r\n.\r\n", max_size=100)
    assert reader.problem is None and len(reader.content()) == 100
    reader, _ = read_all(b"x" * 99 + b"\r\n.\r\n", max_size=100)
    assert reader.problem is DataProblem.TOO_BIG


def test_text_line_limit_counts_the_crlf_but_not_a_stuffed_dot() -> None:
    reader, _ = read_all(b"x" * 998 + b"\r\n.\r\n")
    assert reader.problem is None
    reader, _ = read_all(b"." + b"." * 998 + b"\r\n.\r\n")
    assert reader.problem is None and reader.content() == b"." * 998 + b"\r\n"
    reader, _ = read_all(b"x" * 999 + b"\r\n.\r\n")
    assert reader.problem is DataProblem.LINE_TOO_LONG


def test_endless_line_is_not_buffered() -> None:
    reader = DataReader(10_000_000)
    for _ in range(100):
        reader.feed(b"y" * 4096)
        assert len(reader._partial) <= 1002 and not reader._body
    assert reader.feed(b"\r\n.\r\n") == b""
    assert reader.done and reader.problem is DataProblem.LINE_TOO_LONG


def test_overlong_line_ending_in_dot_crlf_is_not_the_end() -> None:
    reader, _ = read_all(b"z" * 2000, b".\r\n")
    assert not reader.done
    reader.feed(b".\r\n")
    assert reader.done


def test_eight_bit_needs_8bitmime() -> None:
    message = "Subject: café\r\n\r\nété\r\n.\r\n".encode()
    reader, _ = read_all(message, eight_bit=False)
    assert reader.problem is DataProblem.EIGHT_BIT and reader.problem.reply.code == 554
    reader, _ = read_all(message, eight_bit=True)
    assert reader.problem is None


def test_framing_problem_wins_over_size() -> None:
    reader, _ = read_all(b"x" * 200 + b"\n\r\n.\r\n", max_size=100)
    assert reader.problems == {DataProblem.TOO_BIG, DataProblem.BARE_NEWLINE}
    assert reader.problem is DataProblem.BARE_NEWLINE


def test_feeding_after_the_end_returns_everything() -> None:
    reader, _ = read_all(b".\r\n")
    assert reader.feed(b"NOOP\r\n") == b"NOOP\r\n"


# -- replies ---------------------------------------------------------------------------------------


def test_reply_rendering() -> None:
    assert replies.NO_SUCH_USER.render() == b"550 5.1.1 No such user here\r\n"
    assert Reply(250, "", "host\nPIPELINING\nSIZE 10").render() == b"250-host\r\n250-PIPELINING\r\n250 SIZE 10\r\n"
    assert Reply(334, "", "").render() == b"334 \r\n"
    assert replies.TOO_MANY_RECIPIENTS.is_error and not replies.OK.is_error


# -- against a plain reference implementation ------------------------------------------------------


def reference(stream: bytes, max_size: int, eight_bit: bool) -> tuple[bool, DataProblem | None, bytes, bytes]:
    """The DATA rules applied to a whole stream at once, line by line: (done, problem, content, leftover)."""
    after_crlf, body, problems, size, pos = True, b"", set(), 0, 0
    while (nl := stream.find(b"\n", pos)) != -1:
        line, pos = stream[pos : nl + 1], nl + 1
        if after_crlf and line == b".\r\n":
            return True, min(problems, default=None), body, stream[pos:]
        after_crlf = line.endswith(b"\r\n")
        if not after_crlf or b"\r" in line[:-2]:
            problems.add(DataProblem.BARE_NEWLINE)
        if b"\0" in line:
            problems.add(DataProblem.NUL)
        line = line[1:] if line.startswith(b".") else line
        if len(line) > 1000:
            problems.add(DataProblem.LINE_TOO_LONG)
        if not eight_bit and not line.isascii():
            problems.add(DataProblem.EIGHT_BIT)
        size += len(line)
        if size > max_size:
            problems.add(DataProblem.TOO_BIG)
        body += line
    return False, min(problems, default=None), b"", b""


PIECES = [b"a", b"text ", b".", b"..", b"\r\n", b"\r\n", b"\r\n.\r\n", b"\r", b"\n", b"\0", "é".encode(), b"x" * 500]


@given(
    pieces=st.lists(st.sampled_from(PIECES), max_size=60),
    cuts=st.lists(st.integers(min_value=1, max_value=700), max_size=20),
    max_size=st.integers(min_value=1, max_value=3000),
    eight_bit=st.booleans(),
)
@settings(max_examples=500, deadline=None)
def test_matches_the_reference_for_any_stream_and_split(
    pieces: list[bytes], cuts: list[int], max_size: int, eight_bit: bool
) -> None:
    stream = b"".join(pieces)
    reader = DataReader(max_size, eight_bit=eight_bit)
    leftover, pos = b"", 0
    for cut in [*cuts, len(stream)]:
        leftover += reader.feed(stream[pos : pos + cut])
        pos += cut
    leftover += reader.feed(stream[pos:])
    done, problem, content, rest = reference(stream, max_size, eight_bit)
    assert reader.done == done
    if done:  # before the end, an unfinished long line may already have been counted: that is fine
        assert (reader.problem, leftover) == (problem, rest)
        if problem is None:
            assert reader.content() == content
