"""The sans-I/O POP3 session, byte for byte: every reply of every state, driven by a scripted I/O layer."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arobase.pop3 import wire
from arobase.pop3.session import (
    Authenticate,
    Entry,
    Fetch,
    LoginResult,
    Maildrop,
    Send,
    Session,
    StartTLS,
    State,
    Update,
)

MESSAGES = {
    10: b"Subject: one\r\n\r\nfirst\r\n",
    11: b"Subject: two\n\n.dot line\nlast line without end",  # bare LF, a leading dot, no final line end
    12: b"Subject: three\r\n\r\na\r\nb\r\nc\r\n",
}
DROP = Maildrop(
    7,
    tuple(
        Entry(uid, wire.wire_size(raw), f"100.{uid}", f"hash{uid}", False, wire.as_is(raw))
        for uid, raw in MESSAGES.items()
    ),
)
TOTAL = sum(entry.size for entry in DROP.entries)


@dataclass
class Script:
    """Plays the I/O layer: answers requests as told and records them."""

    session: Session
    login_result: LoginResult = LoginResult.OK
    gone: set[int] = field(default_factory=set)  # UIDs expunged by someone else
    requests: list[object] = field(default_factory=list)
    closed: bool = False

    def send(self, data: bytes) -> bytes:
        self.session.receive(data)
        out: list[bytes] = []
        while (event := self.session.next_event()) is not None:
            self.requests.append(event)
            if isinstance(event, Send):
                out += event.data
                self.closed = self.closed or event.close
            elif isinstance(event, Authenticate):
                drop = DROP if self.login_result is LoginResult.OK else None
                out += self.session.login_result(self.login_result, drop).data
            elif isinstance(event, StartTLS):
                out.append(event.reply)
                self.session.tls_started()
            elif isinstance(event, Fetch):
                uid = event.entry.uid
                out += self.session.fetched(None if uid in self.gone else MESSAGES[uid]).data
            elif isinstance(event, Update):
                reply = self.session.updated(True)
                out += reply.data
                self.closed = reply.close
        return b"".join(out)

    def authenticated(self) -> list[Authenticate]:
        return [r for r in self.requests if isinstance(r, Authenticate)]


def script(tls: bool = True, plaintext_allowed: bool = False, max_errors: int = 20, **kwargs: object) -> Script:
    return Script(Session(tls=tls, plaintext_allowed=plaintext_allowed, max_errors=max_errors), **kwargs)  # type: ignore[arg-type]


def logged_in() -> Script:
    s = script()
    assert s.send(b"USER arthur\r\nPASS pw\r\n") == (
        b"+OK Send your password\r\n+OK Logged in, 3 messages (%d octets)\r\n" % TOTAL
    )
    assert s.session.state is State.TRANSACTION
    return s


# -- AUTHORIZATION -----------------------------------------------------------------------------


def test_greeting_has_no_apop_timestamp() -> None:
    assert Session(tls=False).greeting() == b"+OK Arobase POP3 server ready\r\n"


def test_capa_before_tls_offers_stls_but_no_login() -> None:
    assert script(tls=False).send(b"CAPA\r\n") == (
        b"+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nSTLS\r\n"
        b"IMPLEMENTATION Arobase\r\n.\r\n"
    )


def test_capa_over_tls_offers_user_and_sasl_plain() -> None:
    assert script(tls=True).send(b"capa\r\n") == (
        b"+OK Capability list follows\r\nTOP\r\nUIDL\r\nUSER\r\nSASL PLAIN\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n"
        b"PIPELINING\r\nIMPLEMENTATION Arobase\r\n.\r\n"
    )


def test_capa_on_allowed_loopback_offers_everything() -> None:
    capa = script(tls=False, plaintext_allowed=True).send(b"CAPA\r\n")
    assert b"\r\nUSER\r\nSASL PLAIN\r\n" in capa and b"\r\nSTLS\r\n" in capa


def test_capa_after_login_lists_what_still_applies() -> None:
    assert logged_in().send(b"CAPA\r\n") == (
        b"+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
        b"IMPLEMENTATION Arobase\r\n.\r\n"
    )


@pytest.mark.parametrize("line", [b"USER arthur", b"PASS secret", b"AUTH PLAIN AGFAYg=="])
def test_no_password_without_tls(line: bytes) -> None:
    s = script(tls=False)
    assert s.send(line + b"\r\n") == (
        b"-ERR [AUTH] Plaintext authentication disallowed without TLS; use STLS or port 995\r\n"
    )
    assert s.authenticated() == []


def test_plaintext_allowed_on_loopback_when_configured() -> None:
    s = script(tls=False, plaintext_allowed=True)
    assert s.send(b"USER arthur\r\nPASS pw\r\n").endswith(b"+OK Logged in, 3 messages (%d octets)\r\n" % TOTAL)


def test_stls_discards_what_was_pipelined_in_plaintext() -> None:
    s = script(tls=False)
    assert s.send(b"STLS\r\nUSER mallory\r\nPASS x\r\n") == b"+OK Begin TLS negotiation\r\n"
    assert s.session.tls and s.authenticated() == []
    assert s.send(b"PASS x\r\n") == b"-ERR Send USER first\r\n"  # the injected USER was forgotten


def test_stls_errors() -> None:
    assert script(tls=True).send(b"STLS\r\n") == b"-ERR Already using TLS\r\n"
    assert script(tls=False).send(b"STLS now\r\n") == b"-ERR STLS takes no argument\r\n"
    assert logged_in().send(b"STLS\r\n") == b"-ERR STLS is only allowed before login\r\n"


def test_user_pass_hands_the_whole_password_over() -> None:
    s = script()
    s.send(b"USER Arthur.Dupont@example.test\r\nPASS  two words \r\n")
    [request] = s.authenticated()
    assert (request.login, request.password, request.mechanism) == ("Arthur.Dupont@example.test", " two words ", "USER")
    assert "two words" not in repr(request)


def test_user_pass_mistakes() -> None:
    s = script()
    assert s.send(b"PASS pw\r\n") == b"-ERR Send USER first\r\n"
    assert s.send(b"USER\r\n") == b"-ERR USER needs exactly one argument: your login\r\n"
    assert s.send(b"USER a b\r\n") == b"-ERR USER needs exactly one argument: your login\r\n"
    assert s.send(b"USER a\r\nPASS\r\n") == b"+OK Send your password\r\n-ERR PASS needs your password\r\n"
    assert s.send(b"PASS pw\r\n") == b"-ERR Send USER first\r\n"  # USER is consumed by a PASS


@pytest.mark.parametrize(
    ("result", "reply"),
    [
        (LoginResult.INVALID, b"-ERR [AUTH] Authentication failed\r\n"),
        (LoginResult.LOCKED, b"-ERR [SYS/TEMP] Too many failed logins, try again later\r\n"),
        (LoginResult.IN_USE, b"-ERR [IN-USE] Mailbox in use by another POP3 session\r\n"),
        (LoginResult.UNAVAILABLE, b"-ERR [SYS/TEMP] Mailbox unavailable, try again later\r\n"),
    ],
)
def test_refused_logins_stay_in_authorization(result: LoginResult, reply: bytes) -> None:
    s = script(login_result=result)
    assert s.send(b"USER a\r\nPASS b\r\n") == b"+OK Send your password\r\n" + reply
    assert s.session.state is State.AUTHORIZATION
    assert s.send(b"STAT\r\n") == b"-ERR STAT is only valid after login (USER/PASS or AUTH)\r\n"


def plain(authzid: str, login: str, password: str) -> bytes:
    return base64.b64encode(f"{authzid}\0{login}\0{password}".encode())


def test_auth_plain_with_initial_response() -> None:
    s = script()
    assert s.send(b"AUTH PLAIN " + plain("", "arthur", "pw") + b"\r\n") == (
        b"+OK Logged in, 3 messages (%d octets)\r\n" % TOTAL
    )
    [request] = s.authenticated()
    assert (request.login, request.password, request.mechanism) == ("arthur", "pw", "PLAIN")


def test_auth_plain_with_a_continuation() -> None:
    s = script()
    assert s.send(b"AUTH plain\r\n") == b"+ \r\n"
    assert s.send(plain("arthur", "arthur", "p w") + b"\r\n").startswith(b"+OK Logged in")
    assert s.authenticated()[0].password == "p w"


def test_auth_plain_cancelled_or_malformed() -> None:
    s = script()
    assert s.send(b"AUTH PLAIN\r\n*\r\n") == b"+ \r\n-ERR Authentication cancelled\r\n"
    assert s.send(b"AUTH PLAIN\r\n!!!\r\n") == b"+ \r\n-ERR Invalid base64 in authentication response\r\n"
    assert s.send(b"AUTH PLAIN \xc3\xa9\r\n") == b"-ERR Invalid base64 in authentication response\r\n"
    assert s.send(b"AUTH PLAIN " + base64.b64encode(b"no-nuls") + b"\r\n") == (
        b"-ERR Malformed PLAIN response: expected authzid NUL login NUL password\r\n"
    )
    assert s.send(b"AUTH PLAIN =\r\n") == (
        b"-ERR Malformed PLAIN response: expected authzid NUL login NUL password\r\n"
    )
    assert s.send(b"AUTH PLAIN\r\n" + b"A" * 9000 + b"\r\n") == b"+ \r\n-ERR Authentication response too long\r\n"
    assert s.authenticated() == []


def test_auth_plain_for_someone_else_is_a_failed_login() -> None:
    s = script(login_result=LoginResult.INVALID)
    assert s.send(b"AUTH PLAIN " + plain("pierre", "arthur", "pw") + b"\r\n") == (
        b"-ERR [AUTH] Authentication failed\r\n"
    )
    assert s.authenticated()[0].login == ""


def test_auth_other_mechanisms_and_listing() -> None:
    s = script()
    assert s.send(b"AUTH\r\n") == b"+OK Supported mechanisms follow\r\nPLAIN\r\n.\r\n"
    assert s.send(b"AUTH LOGIN\r\n") == b"-ERR Unsupported authentication mechanism LOGIN; use PLAIN\r\n"
    assert s.send(b"AUTH PLAIN a b\r\n") == b"-ERR AUTH takes a mechanism and an optional initial response\r\n"
    assert s.send(b"APOP arthur c4c9334bac560ecc979e58001b3e22fb\r\n") == (
        b"-ERR APOP is not offered; use USER/PASS or AUTH PLAIN over TLS\r\n"
    )


def test_quit_in_authorization_deletes_nothing() -> None:
    s = script()
    assert s.send(b"QUIT\r\nNOOP\r\n") == b"+OK Bye\r\n"
    assert s.closed and s.session.closed


# -- TRANSACTION -------------------------------------------------------------------------------


def test_stat_list_uidl() -> None:
    s = logged_in()
    sizes = [entry.size for entry in DROP.entries]
    assert sizes == [23, 50, 27]  # the second message grows by its CRLFs and a final line end
    assert s.send(b"STAT\r\n") == b"+OK 3 100\r\n"
    assert s.send(b"LIST\r\n") == b"+OK 3 messages (100 octets)\r\n1 23\r\n2 50\r\n3 27\r\n.\r\n"
    assert s.send(b"LIST 2\r\n") == b"+OK 2 50\r\n"
    assert s.send(b"UIDL\r\n") == b"+OK Unique-ID listing follows\r\n1 100.10\r\n2 100.11\r\n3 100.12\r\n.\r\n"
    assert s.send(b"uidl 3\r\n") == b"+OK 3 100.12\r\n"


def test_retr_sends_the_crlf_form_dot_stuffed_with_its_exact_size() -> None:
    s = logged_in()
    assert s.send(b"RETR 2\r\n") == (
        b"+OK 50 octets\r\nSubject: two\r\n\r\n..dot line\r\nlast line without end\r\n.\r\n"
    )
    assert s.send(b"RETR 1\r\n") == b"+OK 23 octets\r\nSubject: one\r\n\r\nfirst\r\n.\r\n"
    [fetch, _] = [r for r in s.requests if isinstance(r, Fetch)]
    assert (fetch.number, fetch.entry.uid, fetch.lines) == (2, 11, None)


def test_only_content_measured_as_is_skips_the_crlf_conversion() -> None:
    raw = b"Subject: bare\n\nbody\n"  # unreadable at login: the stored size stood in for the wire size
    session = Session(tls=True)
    session.receive(b"USER a\r\nPASS b\r\nRETR 1\r\n")
    session.next_event()
    session.next_event()
    session.login_result(LoginResult.OK, Maildrop(7, (Entry(1, len(raw), "100.1", "hash1", False, False),)))
    assert isinstance(session.next_event(), Fetch)
    assert b"".join(session.fetched(raw).data) == b"+OK 23 octets\r\nSubject: bare\r\n\r\nbody\r\n.\r\n"


def test_top() -> None:
    s = logged_in()
    assert s.send(b"TOP 3 0\r\n") == b"+OK Top of message follows\r\nSubject: three\r\n\r\n.\r\n"
    assert s.send(b"TOP 3 2\r\n") == b"+OK Top of message follows\r\nSubject: three\r\n\r\na\r\nb\r\n.\r\n"
    assert s.send(b"TOP 2 1\r\n") == b"+OK Top of message follows\r\nSubject: two\r\n\r\n..dot line\r\n.\r\n"
    assert [r.lines for r in s.requests if isinstance(r, Fetch)] == [0, 2, 1]


def test_a_message_removed_by_imap_is_a_clear_error() -> None:
    s = logged_in()
    s.gone.add(11)
    assert s.send(b"RETR 2\r\nTOP 2 1\r\n") == (
        b"-ERR Message 2 was removed by another session\r\n-ERR Message 2 was removed by another session\r\n"
    )
    assert s.send(b"RETR 1\r\n").startswith(b"+OK 23 octets\r\n")


def test_dele_hides_the_message_until_rset() -> None:
    s = logged_in()
    assert s.send(b"DELE 2\r\n") == b"+OK Message 2 deleted\r\n"
    assert s.send(b"STAT\r\n") == b"+OK 2 50\r\n"
    assert s.send(b"LIST\r\n") == b"+OK 2 messages (50 octets)\r\n1 23\r\n3 27\r\n.\r\n"
    assert s.send(b"UIDL\r\n") == b"+OK Unique-ID listing follows\r\n1 100.10\r\n3 100.12\r\n.\r\n"
    for command in (b"DELE 2", b"RETR 2", b"TOP 2 0", b"LIST 2", b"UIDL 2"):
        assert s.send(command + b"\r\n") == b"-ERR Message 2 already deleted\r\n"
    assert s.send(b"RSET\r\n") == b"+OK Maildrop has 3 messages (100 octets)\r\n"
    assert s.send(b"LIST 2\r\n") == b"+OK 2 50\r\n"


def test_quit_enters_update_with_the_deleted_uids() -> None:
    s = logged_in()
    s.send(b"DELE 3\r\nDELE 1\r\n")
    assert s.send(b"QUIT\r\n") == b"+OK Bye, 2 messages deleted\r\n"
    assert [r for r in s.requests if isinstance(r, Update)] == [Update((10, 12))]
    assert s.closed and s.session.state is State.CLOSED


def test_quit_without_deletions_still_releases_the_maildrop_before_answering() -> None:
    s = logged_in()
    assert s.send(b"RETR 1\r\n").startswith(b"+OK")
    assert s.send(b"QUIT\r\n") == b"+OK Bye\r\n"
    assert [r for r in s.requests if isinstance(r, Update)] == [Update(())]


def test_failed_update_is_reported() -> None:
    session = logged_in().session
    session.receive(b"DELE 1\r\nQUIT\r\n")
    assert session.next_event() == Send([b"+OK Message 1 deleted\r\n"])
    assert session.next_event() == Update((10,))
    assert session.updated(False) == Send(
        [b"-ERR [SYS/TEMP] Some deleted messages could not be removed, try again\r\n"], close=True
    )


def test_noop_and_pipelining() -> None:
    s = logged_in()
    assert s.send(b"NOOP\r\nSTAT\r\nLIST 1\r\n") == b"+OK\r\n+OK 3 100\r\n+OK 1 23\r\n"


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        (b"LIST 0", b"-ERR No message 0 (the maildrop has 3)"),
        (b"LIST 4", b"-ERR No message 4 (the maildrop has 3)"),
        (b"RETR 99999999999", b"-ERR Invalid message number '99999999999'"),
        (b"LIST one", b"-ERR Invalid message number 'one'"),
        (b"RETR -1", b"-ERR Invalid message number '-1'"),
        (b"LIST 1 2", b"-ERR LIST takes at most one message number"),
        (b"UIDL 1 2", b"-ERR UIDL takes at most one message number"),
        (b"RETR", b"-ERR RETR needs exactly one message number"),
        (b"RETR 1 2", b"-ERR RETR needs exactly one message number"),
        (b"DELE", b"-ERR DELE needs exactly one message number"),
        (b"TOP 1", b"-ERR TOP needs a message number and a number of lines"),
        (b"TOP 1 x", b"-ERR Invalid number of lines 'x'"),
        (b"TOP 1 -1", b"-ERR Invalid number of lines '-1'"),
        (b"STAT 1", b"-ERR STAT takes no argument"),
        (b"NOOP x", b"-ERR NOOP takes no argument"),
        (b"RSET x", b"-ERR RSET takes no argument"),
        (b"CAPA x", b"-ERR CAPA takes no argument"),
        (b"QUIT now", b"-ERR QUIT takes no argument"),
        (b"USER x", b"-ERR Already logged in"),
        (b"PASS x", b"-ERR Already logged in"),
        (b"AUTH PLAIN", b"-ERR Already logged in"),
        (b"XTND XMIT", b"-ERR Unknown command XTND"),
        (b"LAST", b"-ERR Unknown command LAST"),
    ],
)
def test_transaction_errors_are_precise_and_the_session_goes_on(command: bytes, reply: bytes) -> None:
    s = logged_in()
    assert s.send(command + b"\r\n") == reply + b"\r\n"
    assert s.send(b"STAT\r\n") == b"+OK 3 100\r\n"
    assert s.session.errors == 1


@pytest.mark.parametrize(
    ("data", "reply"),
    [
        (b"\r\n", b"-ERR Empty command line"),
        (b"\x16\x03\x01\x00\xa5\x01\x00\r\n", b"-ERR Invalid characters in command line"),
        (b"HELLO there\r\n", b"-ERR Commands are 3 or 4 letters"),
        (b"NOOP " + b"x" * 600 + b"\r\n", b"-ERR Command line too long"),
        (b"NOOP " + b"x" * 20000 + b"\r\n", b"-ERR Command line too long"),
        (b"USER \xe9\r\n", b"-ERR Arguments must be UTF-8"),
        (b"STAT\r\n", b"-ERR STAT is only valid after login (USER/PASS or AUTH)"),
        (b"FOO\r\n", b"-ERR Unknown command FOO"),
    ],
)
def test_bad_input_in_authorization(data: bytes, reply: bytes) -> None:
    s = script()
    assert s.send(data) == reply + b"\r\n"
    assert s.send(b"NOOP\r\n") == b"-ERR NOOP is only valid after login (USER/PASS or AUTH)\r\n"
    assert not s.closed


def test_error_limit_closes_the_session() -> None:
    s = script(max_errors=3)
    assert s.send(b"FOO\r\nBAR\r\n") == b"-ERR Unknown command FOO\r\n-ERR Unknown command BAR\r\n"
    assert s.send(b"BAZ\r\nCAPA\r\n") == b"-ERR Unknown command BAZ\r\n-ERR Too many errors, closing connection\r\n"
    assert s.closed and s.session.closed
    assert s.send(b"CAPA\r\n") == b""


def test_failed_logins_count_as_errors() -> None:
    s = script(max_errors=2, login_result=LoginResult.INVALID)
    s.send(b"USER a\r\nPASS b\r\n")
    assert s.send(b"USER a\r\nPASS b\r\n").endswith(b"-ERR Too many errors, closing connection\r\n")


def test_requests_must_be_answered_in_order() -> None:
    session = Session(tls=True)
    session.receive(b"USER a\r\nPASS b\r\nNOOP\r\n")
    assert session.next_event() == Send([b"+OK Send your password\r\n"])
    assert isinstance(session.next_event(), Authenticate)
    with pytest.raises(RuntimeError):
        session.next_event()
    with pytest.raises(RuntimeError):
        session.fetched(b"")


MULTILINE = re.compile(
    rb"\+OK (Capability list follows|\d+ messages? \(\d+ octets\)|Unique-ID listing follows|\d+ octets"
    rb"|Top of message follows|Supported mechanisms follow)\r\n"
)
VERBS = [b"USER", b"PASS", b"AUTH", b"STLS", b"CAPA", b"STAT", b"LIST", b"UIDL", b"RETR", b"TOP", b"DELE"]
VERBS += [b"RSET", b"NOOP", b"QUIT", b"APOP", b"list", b"XYZZY", b"*", b"AGFhAGI="]
ARGS = [b"PLAIN", b"0", b"1", b"2", b"3", b"4", b"-1", b"x", b"", b"AGFhAGI=", b"\xff", b"\0"]
command_lines = st.tuples(st.sampled_from(VERBS), st.lists(st.sampled_from(ARGS), max_size=3), st.booleans()).map(
    lambda t: b" ".join([t[0], *t[1]]) + (b"\r\n" if t[2] else b"\n")
)
noise = st.tuples(st.booleans(), st.lists(st.one_of(command_lines, st.binary(max_size=12)), max_size=25)).map(
    lambda t: (b"USER a\r\nPASS b\r\n" if t[0] else b"") + b"".join(t[1])
)


@settings(max_examples=300, deadline=None)
@given(noise, st.sampled_from(list(LoginResult)), st.booleans())
def test_random_input_never_breaks_the_session(data: bytes, result: LoginResult, tls: bool) -> None:
    """Whatever arrives, in whatever chunks, every reply is a well-formed status line, continuation or list."""
    s = script(tls=tls, plaintext_allowed=not tls, login_result=result, gone={11})
    out = b"".join(s.send(data[i : i + 7]) for i in range(0, len(data), 7))
    if data.startswith(b"USER a\r\nPASS b\r\n") and result is LoginResult.OK:
        assert b"+OK Logged in" in out
    position = 0
    while position < len(out):
        end = out.index(b"\r\n", position) + 2
        line = out[position:end]
        assert line.startswith((b"+OK", b"-ERR ", b"+ \r\n")), out
        if MULTILINE.fullmatch(line):
            end = out.index(b"\r\n.\r\n", end - 2) + 5
        position = end
    assert s.session.errors <= s.session.max_errors
