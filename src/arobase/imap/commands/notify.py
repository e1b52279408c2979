"""NOTIFY (RFC 5465): which mailboxes and events a session hears about without asking.

The session keeps one `Notifier` while NOTIFY SET is in force. It turns the store's changes of
mailboxes other than the selected one into STATUS and LIST responses; the selected mailbox keeps
going through its view, so EXPUNGE is only ever sent when sequence numbers may shift (SELECTED
pushes updates while no command runs, SELECTED-DELAYED holds expunges until a command allows them).
"""

from __future__ import annotations

from ...store import DELIMITER, Change, ChangeKind, Mailbox
from ..fetch import FetchError, fetch_responses, plan_fetch
from ..view import MailboxView
from ..wire import ast
from . import AUTHENTICATED, CommandContext, CommandError, command
from .status import status_data

_STATUS_ITEMS = ("MESSAGES", "UIDNEXT", "UNSEEN")
_MESSAGE_EVENTS = {
    ChangeKind.ADDED: "MessageNew",
    ChangeKind.EXPUNGED: "MessageExpunge",
    ChangeKind.FLAGS: "FlagChange",
}


def _inside(name: str, top: str) -> bool:
    """`name` is `top` or one of its descendants (SUBTREE)."""
    return name == top or name.startswith(top + DELIMITER)


class Notifier:
    """The NOTIFY SET in force for one session; names are cached to report renames' old names."""

    def __init__(self, ctx: CommandContext, cmd: ast.Notify) -> None:
        self.ctx = ctx
        self.groups = [g for g in cmd.groups if not g.specifier.startswith("SELECTED")]
        selected = next((g for g in cmd.groups if g.specifier.startswith("SELECTED")), None)
        self.selected_mode = selected.specifier if selected is not None and selected.events else None
        self.fetch_attributes = selected.fetch_attributes if selected is not None else ()
        self.names = {box.id: box.name for box in ctx.app.store.list_mailboxes(ctx.account.id)}

    def _group(self, box_name: str, subscribed: bool) -> ast.NotifyGroup | None:
        """The first group watching a mailbox, as RFC 5465 6 lets the first match win."""
        for group in self.groups:
            spec = group.specifier
            if (
                spec == "PERSONAL"
                or (spec == "INBOXES" and box_name.upper() == "INBOX")
                or (spec == "SUBSCRIBED" and subscribed)
                or (spec == "MAILBOXES" and box_name in group.mailboxes)
                or (
                    spec == "SUBTREE"
                    and any(box_name == m or box_name.startswith(m + DELIMITER) for m in group.mailboxes)
                )
            ):
                return group
        return None

    def status_lines(self, selected_id: int | None) -> list[bytes]:
        """The STATUS of every watched mailbox with message events (NOTIFY SET STATUS)."""
        out = []
        for box in self.ctx.app.store.list_mailboxes(self.ctx.account.id):
            group = self._group(box.name, box.subscribed)
            if box.id != selected_id and box.selectable and group is not None and "MessageNew" in group.events:
                out.append(self._status(box))
        return out

    def _status(self, box: Mailbox) -> bytes:
        """RFC 5465 5.2: with CONDSTORE on, the client also learns the mailbox's HIGHESTMODSEQ."""
        condstore = "CONDSTORE" in self.ctx.session.enabled
        return b"STATUS " + status_data(
            self.ctx, box, (*_STATUS_ITEMS, "HIGHESTMODSEQ") if condstore else _STATUS_ITEMS
        )

    def _list(self, attributes: bytes, name: str, old: str | None = None) -> bytes:
        line = b"LIST (" + attributes + b') "' + DELIMITER.encode("ascii") + b'" ' + self.ctx.mailbox(name)
        if old is not None:
            line += b' ("OLDNAME" (' + self.ctx.mailbox(old) + b"))"
        return line

    def lines(self, change: Change, selected_id: int | None) -> list[bytes]:
        """Untagged responses (without `* `) that `change` owes this session."""
        old = self.names.get(change.mailbox_id)
        if change.kind in (ChangeKind.MAILBOX_CREATED, ChangeKind.MAILBOX_RENAMED) and change.name:
            self.names[change.mailbox_id] = change.name
        elif change.kind is ChangeKind.MAILBOX_DELETED:
            self.names.pop(change.mailbox_id, None)
        if change.mailbox_id == selected_id and change.kind in _MESSAGE_EVENTS:
            return []  # the view reports it
        box = self.ctx.app.store.mailbox_by_id(change.mailbox_id)
        name = box.name if box is not None else (change.name or old)
        if name is None:
            return []
        group = self._group(name, box.subscribed if box is not None else False)
        if group is None and change.kind is ChangeKind.MAILBOX_RENAMED and old is not None:
            group = self._group(old, False)
        if group is None:
            return []
        event = _MESSAGE_EVENTS.get(change.kind)
        if event is not None:
            return [self._status(box)] if box is not None and event in group.events else []
        if change.kind is ChangeKind.MAILBOX_SUBSCRIBED:
            if "SubscriptionChange" not in group.events or box is None:
                return []
            return [self._list(b"\\Subscribed" if box.subscribed else b"", name)]
        if "MailboxName" not in group.events:
            return []
        if change.kind is ChangeKind.MAILBOX_DELETED:
            return [self._list(b"\\NonExistent", name)]
        attributes = b"\\Noselect" if box is not None and not box.selectable else b""  # None: deleted since
        if change.kind is ChangeKind.MAILBOX_CREATED:
            return [self._list(attributes, name)]
        return [self._list(attributes, name, old if old != name else None)]


@command(ast.Notify, AUTHENTICATED)
async def notify(ctx: CommandContext, cmd: ast.Notify) -> None:
    """Replaces what is in force; STATUS answers the watched mailboxes' state at once."""
    session = ctx.extra["session"]
    if not cmd.groups:
        session.notifier = None
        return
    for group in cmd.groups:
        try:
            plan = plan_fetch(group.fetch_attributes, uid=False)
        except FetchError as e:
            raise CommandError(e.text, status="BAD") from None
        if group.fetch_attributes and plan.sets_seen:
            raise CommandError("MessageNew fetches only with .PEEK", status="BAD")
    notifier = Notifier(ctx, cmd)
    session.notifier = notifier
    if cmd.status:
        view = ctx.session.selected
        for line in notifier.status_lines(view.mailbox_id if view is not None else None):
            ctx.untagged(line)


def new_message_fetches(view: MailboxView, attributes: tuple[ast.FetchAttribute, ...], last_uid: int) -> list[bytes]:
    """Framed FETCH responses of MessageNew's fetch-att for the messages above `last_uid` (RFC 5465 5.2)."""
    start = view.uids.rank(last_uid + 1)
    targets = [(seq + 1, view.uids[seq]) for seq in range(start, len(view.uids))]
    return list(fetch_responses(view, plan_fetch(attributes, uid=False), targets)) if targets else []
