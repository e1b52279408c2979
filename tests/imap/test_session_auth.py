"""The session's states, byte for byte: greeting, CAPABILITY, LOGIN/AUTHENTICATE, STARTTLS, LOGOUT, limits."""

from __future__ import annotations

import base64

from tests.imap.conftest import ARTHUR, DISABLED, PASSWORDS, Driver, make_session

from arobase.app import App
from arobase.imap.session import Limits, Request


def plain(login: str, password: str) -> str:
    return base64.b64encode(f"\0{login}\0{password}".encode()).decode()


async def test_greeting_and_capabilities_before_tls(imap_app: App) -> None:
    d = Driver(make_session(imap_app, secure=False))
    assert d.greeting == (
        b"* OK [CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ ENABLE ID SASL-IR STARTTLS LOGINDISABLED]"
        b" Arobase IMAP ready\r\n"
    )
    assert await d.send(b"a capability\r\n") == (
        b"* CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ ENABLE ID SASL-IR STARTTLS LOGINDISABLED\r\n"
        b"a OK CAPABILITY completed\r\n"
    )
    assert await d.cmd(f'b LOGIN {ARTHUR} "{PASSWORDS[ARTHUR]}"') == [b"b NO [PRIVACYREQUIRED] Log in after STARTTLS"]
    assert await d.cmd("c AUTHENTICATE PLAIN") == [b"c NO [PRIVACYREQUIRED] Authenticate after STARTTLS"]


async def test_starttls_drops_pipelined_commands(imap_app: App) -> None:
    session = make_session(imap_app, secure=False)
    d = Driver(session)
    assert await d.send(b"a STARTTLS\r\nb LOGIN x y\r\n") == b"a OK Begin TLS negotiation now\r\n"
    assert session.take_requests() == [Request.START_TLS]
    session.tls_started()
    assert await d.send(b"c CAPABILITY\r\n") == (
        b"* CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ ENABLE ID SASL-IR AUTH=PLAIN\r\nc OK CAPABILITY completed\r\n"
    )
    assert await d.cmd("d STARTTLS") == [b"d BAD TLS is already active"]


async def test_plaintext_allowed_on_loopback_setting(imap_app: App) -> None:
    d = Driver(make_session(imap_app, secure=False, plaintext_allowed=True))
    assert b"AUTH=PLAIN" in d.greeting and b"LOGINDISABLED" not in d.greeting
    await d.login()


async def test_login_ok_then_state_rules(driver: Driver) -> None:
    lines = await driver.cmd(f"a LOGIN {ARTHUR.upper()} {{{len(PASSWORDS[ARTHUR])}+}}\r\n{PASSWORDS[ARTHUR]}")
    assert lines[0].startswith(b"a OK [CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ ENABLE ID SASL-IR IDLE NAMESPACE")
    assert b"APPENDLIMIT=100000" in lines[0] and lines[0].endswith(b"] Logged in")
    assert await driver.cmd(f'b LOGIN {ARTHUR} "x"') == [b"b BAD LOGIN is not allowed in the authenticated state"]
    assert await driver.cmd("c FETCH 1 FLAGS") == [b"c BAD FETCH is not allowed in the authenticated state"]


async def test_commands_need_authentication(imap_app: App) -> None:
    driver = Driver(make_session(imap_app, limits=Limits(errors=20)))
    for command in ('LIST "" *', "SELECT INBOX", "CREATE x", "STATUS INBOX (MESSAGES)", "IDLE", "ENABLE UTF8=ACCEPT"):
        (line,) = await driver.cmd("t " + command)
        assert line.startswith(b"t BAD ") and line.endswith(b"is not allowed in the not authenticated state")


async def test_failed_logins_are_throttled_then_locked(driver: Driver) -> None:
    for i in range(6):
        assert await driver.cmd(f"a{i} LOGIN {ARTHUR} wrong") == [
            f"a{i} NO [AUTHENTICATIONFAILED] Invalid credentials".encode()
        ]
    assert await driver.cmd(f'b LOGIN {ARTHUR} "{PASSWORDS[ARTHUR]}"') == [
        b"b NO [UNAVAILABLE] Too many failed logins, try again later"
    ]
    assert await driver.cmd(f'c LOGIN {DISABLED} "{PASSWORDS[DISABLED]}"') == [
        b"c NO [UNAVAILABLE] Too many failed logins, try again later"  # the IP itself is locked now
    ]


async def test_disabled_account_and_unknown_user(imap_app: App) -> None:
    d = Driver(make_session(imap_app, peer_ip="192.0.2.77"))
    assert await d.cmd(f'a LOGIN {DISABLED} "{PASSWORDS[DISABLED]}"') == [
        b"a NO [AUTHENTICATIONFAILED] Invalid credentials"
    ]
    assert await d.cmd("b LOGIN nobody@example.test pw") == [b"b NO [AUTHENTICATIONFAILED] Invalid credentials"]


async def test_authenticate_plain_with_initial_response(driver: Driver) -> None:
    lines = await driver.cmd(f"a AUTHENTICATE PLAIN {plain(ARTHUR, PASSWORDS[ARTHUR])}")
    assert lines[-1].startswith(b"a OK [CAPABILITY ") and lines[-1].endswith(b"Logged in")


async def test_authenticate_plain_with_challenge(driver: Driver) -> None:
    assert await driver.send(b"a AUTHENTICATE PLAIN\r\n") == b"+ \r\n"
    lines = await driver.cmd(plain(ARTHUR, PASSWORDS[ARTHUR]))
    assert lines[-1].startswith(b"a OK [CAPABILITY ")


async def test_authenticate_cancel_bad_base64_and_mechanism(driver: Driver) -> None:
    assert await driver.send(b"a AUTHENTICATE PLAIN\r\n") == b"+ \r\n"
    assert await driver.cmd("*") == [b"a BAD Authentication cancelled"]
    assert await driver.send(b"b AUTHENTICATE PLAIN\r\n{5}\r\n") == b"+ \r\nb BAD Invalid base64\r\n"
    assert await driver.cmd("c AUTHENTICATE CRAM-MD5") == [b"c NO [CANNOT] Unsupported mechanism CRAM-MD5"]
    bad = base64.b64encode(b"other\0" + ARTHUR.encode() + b"\0pw").decode()
    assert await driver.cmd(f"d AUTHENTICATE PLAIN {bad}") == [b"d NO [AUTHENTICATIONFAILED] Invalid PLAIN response"]
    assert await driver.cmd("e NOOP") == [b"e OK NOOP completed"]


async def test_logout(logged_in: Driver) -> None:
    assert await logged_in.send(b"z LOGOUT\r\nafter NOOP\r\n") == (
        b"* BYE Arobase logging out\r\nz OK LOGOUT completed\r\n"
    )
    assert logged_in.session.closed and logged_in.session.take_requests() == [Request.CLOSE]


async def test_garbage_is_bad_then_bye(driver: Driver) -> None:
    out = await driver.send(b"\x00\xff\r\n" + b"x y z\r\n" * 10)
    lines = out.split(b"\r\n")
    assert lines[0] == b"* BAD missing or invalid tag"
    assert lines[1] == b"x BAD unknown command Y"
    assert lines[5] == b"* BYE Too many errors" and len(lines) == 7
    assert driver.session.closed


async def test_line_and_literal_limits(imap_app: App) -> None:
    d = Driver(make_session(imap_app, limits=Limits(line=100, literal=10, append=50, errors=50)))
    assert await d.cmd(b"a NOOP " + b"x" * 200) == [b"a BAD command line too long"]
    assert await d.cmd(b"b LOGIN {11}") == [b"b BAD literal too large"]
    await d.login()
    assert await d.cmd(b"c APPEND INBOX {51}") == [b"c NO [TOOBIG] message too large"]
    assert await d.cmd(b"d NOOP") == [b"d OK NOOP completed"]
    out = await d.send(b"e APPEND INBOX {51+}\r\n")
    assert out == b"e NO [TOOBIG] message too large\r\n* BYE Literal too large to skip\r\n"
    assert d.session.closed


async def test_enable_id_namespace(logged_in: Driver) -> None:
    assert await logged_in.cmd("a ENABLE FOO utf8=accept IMAP4rev2") == [
        b"* ENABLED UTF8=ACCEPT IMAP4rev2",
        b"a OK ENABLE completed",
    ]
    assert await logged_in.cmd("b ENABLE IMAP4rev2") == [b"* ENABLED", b"b OK ENABLE completed"]
    assert logged_in.session.state.rev2 and logged_in.session.state.utf8
    assert await logged_in.cmd('c ID ("name" "test")') == [
        b'* ID ("name" "Arobase" "vendor" "Arobase")',
        b"c OK ID completed",
    ]
    assert await logged_in.cmd("d NAMESPACE") == [b'* NAMESPACE (("" "/")) NIL NIL', b"d OK NAMESPACE completed"]


async def test_too_many_connections_for_account(imap_app: App) -> None:
    d = Driver(make_session(imap_app, login_hook=lambda account: "Too many connections for this account"))
    assert await d.cmd(f'a LOGIN {ARTHUR} "{PASSWORDS[ARTHUR]}"') == [
        b"a NO [LIMIT] Too many connections for this account"
    ]
    assert d.session.state.account is None
