"""ENABLE (RFC 5161): IMAP4rev2, UTF8=ACCEPT, CONDSTORE and QRESYNC; unknown extensions are ignored."""

from __future__ import annotations

from ..view import MailboxView
from ..wire import ast
from . import CommandContext, State, command

SUPPORTED = {
    "IMAP4REV2": "IMAP4rev2",
    "UTF8=ACCEPT": "UTF8=ACCEPT",
    "CONDSTORE": "CONDSTORE",
    "QRESYNC": "QRESYNC",
}


def enable_condstore(ctx: CommandContext) -> None:
    """A CONDSTORE-enabling command (RFC 7162 3.1): MODSEQ in every later FETCH carrying flags.

    Issued in the selected state for the first time, it also owes the client the mailbox's
    HIGHESTMODSEQ, which it could not have had from SELECT.
    """
    if "CONDSTORE" in ctx.session.enabled:
        return
    ctx.session.enabled.add("CONDSTORE")
    view = ctx.session.selected
    if isinstance(view, MailboxView):
        view.condstore = True
        box = ctx.app.store.mailbox_by_id(view.mailbox_id)
        if box is not None:
            ctx.untagged(b"OK [HIGHESTMODSEQ %d] Highest" % box.highestmodseq)


@command(ast.Enable, frozenset({State.AUTHENTICATED}))
async def enable(ctx: CommandContext, cmd: ast.Enable) -> None:
    newly = []
    for name in cmd.capabilities:
        if name in SUPPORTED and name not in ctx.session.enabled:
            ctx.session.enabled.add(name)
            newly.append(SUPPORTED[name])
            if name == "QRESYNC":  # it implies CONDSTORE (RFC 7162 3.2.3)
                ctx.session.enabled.add("CONDSTORE")
    ctx.untagged(b"ENABLED" + b"".join(b" " + name.encode("ascii") for name in newly))
