"""The handler contract as the session applies it: updates before the tagged line, when EXPUNGE may
be sent, IDLE pushing changes at once, errors mapped to response codes; and random input."""

from __future__ import annotations

import random

from tests.imap.conftest import Driver, make_session

from arobase.app import App
from arobase.imap import commands
from arobase.imap.commands import AUTHENTICATED, CommandContext, CommandError
from arobase.imap.session import Limits
from arobase.imap.wire import ast
from arobase.store import Change, ChangeKind, NotFound


class FakeView:
    """A SelectedView that reports every change as one untagged line, and records the rule used."""

    def __init__(self, mailbox_id: int) -> None:
        self.mailbox_id = mailbox_id
        self.readonly = False
        self.pending: list[bytes] = []
        self.asked: list[bool] = []

    def changed(self, change: Change) -> None:
        self.pending.append(b"%d EXISTS" % len(change.uids))

    def updates(self, *, expunges: bool) -> list[bytes]:
        self.asked.append(expunges)
        out, self.pending = self.pending, []
        return out


def change(mailbox_id: int) -> Change:
    return Change(ChangeKind.ADDED, 1, mailbox_id, 5, (7,))


async def test_updates_precede_the_tagged_line_and_expunge_rule(logged_in: Driver) -> None:
    view = FakeView(42)
    logged_in.session._select(view)
    logged_in.session.on_change(change(42))
    logged_in.session.on_change(change(99))  # another mailbox: not this view's business
    assert await logged_in.cmd("a NOOP") == [b"* 1 EXISTS", b"a OK NOOP completed"]
    assert view.asked == [True]


async def test_idle_pushes_changes_at_once(logged_in: Driver) -> None:
    view = FakeView(42)
    notified: list[bool] = []
    logged_in.session._select(view)
    logged_in.session.notify = lambda: notified.append(True)
    assert await logged_in.send(b"a IDLE\r\n") == b"+ idling\r\n"
    logged_in.session.on_change(change(42))
    assert logged_in.session.data_to_send() == b"* 1 EXISTS\r\n" and notified == [True]
    assert await logged_in.send(b"DONE\r\n") == b"a OK IDLE terminated\r\n"
    logged_in.session.on_change(change(42))
    assert logged_in.session.data_to_send() == b""  # not idling: kept for the next command


async def test_handler_errors_become_response_codes(imap_app: App, logged_in: Driver) -> None:
    saved = dict(commands.HANDLERS)

    async def failing(ctx: CommandContext, cmd: ast.Namespace) -> None:
        raise {"a": NotFound("gone"), "b": CommandError("nope", "CANNOT"), "c": RuntimeError("boom")}[cmd.tag]

    try:
        commands.HANDLERS[ast.Namespace] = commands.Registration(failing, AUTHENTICATED)
        assert await logged_in.cmd("a NAMESPACE") == [b"a NO [NONEXISTENT] gone"]
        assert await logged_in.cmd("b NAMESPACE") == [b"b NO [CANNOT] nope"]
        assert await logged_in.cmd("c NAMESPACE") == [b"c NO [SERVERBUG] internal error"]
    finally:
        commands.HANDLERS.clear()
        commands.HANDLERS.update(saved)


async def test_random_input_never_breaks_the_session(imap_app: App) -> None:
    rng = random.Random(4)
    words = [b"a", b"LOGIN", b"LIST", b"{3}", b"{2+}", b"~{1}", b"(", b")", b'"', b"*", b"%", b"\r\n", b" ", b"\xff"]
    for _ in range(30):
        d = Driver(make_session(imap_app, limits=Limits(line=500, literal=100, append=1000, errors=1000)))
        await d.login()
        for _ in range(40):
            chunk = b"".join(rng.choice(words) for _ in range(rng.randint(1, 12)))
            if rng.random() < 0.5:
                chunk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 20)))
            out = await d.send(chunk)
            assert b"SERVERBUG" not in out
            if d.session.closed:
                break
        d.session.close()
