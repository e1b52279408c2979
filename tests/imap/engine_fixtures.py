"""Run the selected-state handlers the way the session does, on typed commands, to check bytes.

`Client` calls a handler, then sends the view's updates (no EXPUNGE after FETCH, STORE or
SEARCH by sequence number), then the tagged line: exactly what `session.py` does, without the
parser, so these tests pin the engines' output byte for byte.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from types import SimpleNamespace

from arobase.imap import commands
from arobase.imap.commands import CommandContext, CommandError, Completion, SessionState, State
from arobase.imap.view import MailboxView
from arobase.imap.wire import ast, responses
from arobase.store import Account, Change, Store

_SEQUENCE_COMMANDS = (ast.Fetch, ast.Store, ast.Search)


def message(
    n: int, *, subject: str | None = None, body: str | None = None, sender: str = "sender@remote.example"
) -> bytes:
    return (
        f"From: Sender {n} <{sender}>\r\nTo: alice@example.test\r\nSubject: {subject or f'message {n}'}\r\n"
        f"Date: Mon, 2 Jan 2023 10:00:00 +0000\r\nMessage-ID: <{n}@remote.example>\r\n\r\n"
        f"{body or f'hello {n}'}\r\n"
    ).encode()


def deliver(
    store: Store,
    account: Account,
    raw: bytes,
    *,
    mailbox: str = "INBOX",
    flags: Iterable[str] = (),
    date: datetime | None = None,
) -> int:
    """Deliver one message and return its UID."""
    placed = store.deliver(
        store.put_message(raw), [(account.id, mailbox)], date or datetime(2023, 1, 2, tzinfo=UTC), flags
    )
    return placed.wait()[0][2]


class Client:
    """One session driving the selected-state handlers; create it inside the event loop."""

    def __init__(self, store: Store, account: Account, *, rev2: bool = False) -> None:
        self.app = SimpleNamespace(store=store)
        self.state = SessionState(state=State.AUTHENTICATED, account=account)
        if rev2:
            self.state.enabled.add("IMAP4REV2")
        self.handlers = commands.load()
        self._unsubscribe = store.feed.subscribe(account.id, self._on_change)

    @property
    def view(self) -> MailboxView:
        view = self.state.selected
        assert isinstance(view, MailboxView)
        return view

    def _on_change(self, change: Change) -> None:
        view = self.state.selected
        if view is not None and change.mailbox_id == view.mailbox_id:
            view.changed(change)

    def _select(self, view: object) -> None:
        self.state.selected = view  # type: ignore[assignment]
        self.state.state = State.AUTHENTICATED if view is None else State.SELECTED

    async def run(self, command: ast.Command) -> bytes:
        """The whole answer to a command: untagged lines, then the tagged line (tag `TAG`)."""
        await settle(self.app.store)
        tag = "TAG"
        command = type(command)(**{**_fields(command), "tag": tag})
        ctx = CommandContext(self.app, self.state, command, select=self._select)  # type: ignore[arg-type]
        registration = self.handlers[type(command)]
        assert self.state.state in registration.states, f"{command.name} not allowed in {self.state.state}"
        try:
            await registration.handler(ctx, command)
        except CommandError as e:
            ctx.completion = Completion(e.status, e.text, e.code)
        completion = ctx.completion or Completion("OK", f"{command.name} completed")
        if self.state.selected is not None:
            sequence = isinstance(command, _SEQUENCE_COMMANDS) and not command.uid  # type: ignore[attr-defined]
            for data in self.state.selected.updates(expunges=not sequence):
                ctx.untagged(data)
        return b"".join(ctx.output) + responses.tagged(tag, completion.status, completion.text, completion.code)

    async def noop(self) -> bytes:
        """What NOOP would send: the pending updates."""
        await settle(self.app.store)
        assert self.state.selected is not None
        return b"".join(responses.untagged(d) for d in self.state.selected.updates(expunges=True))

    def close(self) -> None:
        self._unsubscribe()


def _fields(command: ast.Command) -> dict[str, object]:
    return {name: getattr(command, name) for name in command.__dataclass_fields__}


async def settle(store: Store) -> None:
    """Let every change committed so far reach the sessions.

    The writer publishes a batch's changes before it takes the next batch, so once an empty
    write has gone through, every earlier callback is queued on the loop.
    """
    await store._write(lambda tx: None)
    for _ in range(3):
        await asyncio.sleep(0)


def seqset(text: str) -> ast.SequenceSet:
    """`1:3,5,*` as a SequenceSet; `$` for the saved result."""
    if text == "$":
        return ast.SequenceSet(saved=True)
    ranges = []
    for item in text.split(","):
        a, _, b = item.partition(":")
        first = ast.STAR if a == "*" else int(a)
        last = first if not b else (ast.STAR if b == "*" else int(b))
        ranges.append((first, last))
    return ast.SequenceSet(tuple(ranges))
