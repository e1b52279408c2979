"""SELECT and EXAMINE: open a mailbox and tell the client what it holds (RFC 9051 6.3.2, 6.3.3).

With QRESYNC enabled, `(QRESYNC (uidvalidity modseq [known-uids] [seq-match]))` also tells what
changed since: VANISHED (EARLIER) for the expunged, FETCH FLAGS MODSEQ for the rest (RFC 7162 3.2.5).
"""

from __future__ import annotations

from ...store import InvalidOperation, normalize_mailbox_name, objectid, queries
from ..qresync import changed_lines, vanished_earlier
from ..uidlist import UidList
from ..view import MailboxView
from ..wire import ast
from . import AUTHENTICATED, CommandContext, CommandError, command

FLAGS = b"(\\Answered \\Flagged \\Deleted \\Seen \\Draft)"
PERMANENT = b"(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)"


@command(ast.Select, AUTHENTICATED)
async def select(ctx: CommandContext, cmd: ast.Select) -> None:
    """Also EXAMINE (`cmd.readonly`). A failed SELECT leaves no mailbox selected, as the RFC says."""
    if cmd.qresync is not None and "QRESYNC" not in ctx.session.enabled:
        raise CommandError("QRESYNC must be enabled first", "CLIENTBUG", status="BAD")  # RFC 7162 3.2.5
    previous = ctx.session.selected
    if previous is not None:
        if isinstance(previous, MailboxView):
            previous.close()
        ctx.select(None)
        if ctx.session.rev2 or "CONDSTORE" in ctx.session.enabled:
            ctx.untagged(b"OK [CLOSED] Previous mailbox closed")
    try:
        name = normalize_mailbox_name(cmd.mailbox)
    except InvalidOperation:
        raise CommandError(f"no mailbox {cmd.mailbox}", "NONEXISTENT") from None
    # The snapshot and ctx.select() happen with no await between them: every change committed
    # after the snapshot reaches the new view through the session's feed.
    snapshot = queries.select_snapshot(ctx.app.store, ctx.account.id, name)
    if snapshot is None or not snapshot[0].selectable:
        raise CommandError(f"no mailbox {cmd.mailbox}", "NONEXISTENT")
    box, runs, first_unseen = snapshot
    rev1 = not ctx.session.rev2
    if cmd.condstore:
        ctx.session.enabled.add("CONDSTORE")
    condstore = "CONDSTORE" in ctx.session.enabled
    uids = UidList.from_runs(runs)
    qresync = "QRESYNC" in ctx.session.enabled
    view = MailboxView(ctx.app.store, box, uids, readonly=cmd.readonly, rev1=rev1, condstore=condstore, qresync=qresync)
    ctx.select(view)
    ctx.untagged(b"%d EXISTS" % view.exists)
    if rev1:
        ctx.untagged(b"%d RECENT" % len(view.recent))
    ctx.untagged(b"FLAGS " + FLAGS)
    ctx.untagged(b"OK [PERMANENTFLAGS " + (b"()" if cmd.readonly else PERMANENT) + b"] Flags permitted")
    if rev1 and first_unseen:
        ctx.untagged(b"OK [UNSEEN %d] First unseen" % view.seq(first_unseen))
    ctx.untagged(b"OK [UIDVALIDITY %d] UIDs valid" % box.uidvalidity)
    ctx.untagged(b"OK [UIDNEXT %d] Predicted next UID" % box.uidnext)
    ctx.untagged(b"OK [MAILBOXID (%s)] Ok" % objectid.mailbox_id(box.id).encode())  # RFC 8474
    if condstore:
        ctx.untagged(b"OK [HIGHESTMODSEQ %d] Highest" % box.highestmodseq)
    if not rev1:
        ctx.untagged(b'LIST () "/" ' + ctx.mailbox(box.name))
    resync = cmd.qresync
    if resync is not None and resync.uidvalidity == box.uidvalidity:  # else the client starts afresh
        vanished = vanished_earlier(view, resync.modseq, resync.known_uids, box.uidnext)
        if vanished is not None:
            ctx.untagged(vanished)
        for chunk in changed_lines(view, resync.modseq):
            ctx.raw(chunk)
            await ctx.drain()
    ctx.ok(code="READ-ONLY" if cmd.readonly else "READ-WRITE")
