"""SEARCH and UID SEARCH (RFC 9051 6.4.4), with ESEARCH result options (RFC 4731) and SAVE (RFC 5182)."""

from __future__ import annotations

from ...store import queries
from ..search import CHARSETS, Searcher, esearch
from ..view import selected_view
from ..wire import ast
from . import SELECTED, CommandContext, CommandError, command
from .enable import enable_condstore


@command(ast.Search, SELECTED)
async def search(ctx: CommandContext, cmd: ast.Search) -> None:
    """IMAP4rev2 sessions, and RETURN options, get ESEARCH; rev1 without RETURN gets `* SEARCH`."""
    if cmd.charset is not None and cmd.charset.upper() not in CHARSETS:
        raise CommandError(f"unsupported charset {cmd.charset}", "BADCHARSET (" + " ".join(CHARSETS) + ")")
    view = selected_view(ctx)
    modseq_asked = _mentions_modseq(cmd.key)
    if modseq_asked:
        enable_condstore(ctx)
    returns = cmd.returns
    try:
        uids = Searcher(view).run(cmd.key)  # `$` in the key is still the previous result
    except Exception:
        if returns is not None and "SAVE" in returns:
            view.saved = []  # a failing SEARCH (RETURN (SAVE)) leaves $ empty (RFC 5182 2.1)
        raise
    numbers = uids if cmd.uid else view.uids.seqs(uids)
    # RFC 7162 3.1.5: a SEARCH by MODSEQ also tells the highest modseq of what it found
    highest = _highest_modseq(ctx, view.mailbox_id, uids) if modseq_asked and uids else 0
    if returns is None and not ctx.session.rev2:
        line = b" ".join([b"SEARCH", *(b"%d" % n for n in numbers)])
        ctx.untagged(line + (b" (MODSEQ %d)" % highest if highest else b""))
        return
    options = set(returns or ())
    if "SAVE" in options:
        options.discard("SAVE")
        if options and options <= {"MIN", "MAX"}:
            saved = sorted({uids[0], uids[-1]} if uids else set())
            if options == {"MIN"}:
                saved = uids[:1]
            elif options == {"MAX"}:
                saved = uids[-1:]
        else:
            saved = uids
        view.saved = saved
        if not options:
            return
    ctx.untagged(esearch(ctx.tag, numbers, options, uid=cmd.uid) + (b" MODSEQ %d" % highest if highest else b""))


def _highest_modseq(ctx: CommandContext, mailbox_id: int, uids: list[int]) -> int:
    return max((row[1] for row in queries.fetch_rows(ctx.app.store, mailbox_id, uids, ("modseq",))), default=0)


def _mentions_modseq(key: ast.SearchKey) -> bool:
    """SEARCH MODSEQ is a CONDSTORE-enabling command (RFC 7162 3.1), wherever the key sits."""
    if isinstance(key, ast.SearchModSeq):
        return True
    if isinstance(key, ast.SearchNot):
        return _mentions_modseq(key.key)
    if isinstance(key, ast.SearchOr):
        return _mentions_modseq(key.left) or _mentions_modseq(key.right)
    if isinstance(key, ast.SearchAnd):
        return any(_mentions_modseq(k) for k in key.keys)
    return False
