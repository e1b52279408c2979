"""SEARCH and UID SEARCH (RFC 9051 6.4.4), with ESEARCH result options (RFC 4731) and SAVE (RFC 5182)."""

from __future__ import annotations

from ..search import CHARSETS, Searcher, esearch
from ..view import selected_view
from ..wire import ast
from . import SELECTED, CommandContext, CommandError, command


@command(ast.Search, SELECTED)
async def search(ctx: CommandContext, cmd: ast.Search) -> None:
    """IMAP4rev2 sessions, and RETURN options, get ESEARCH; rev1 without RETURN gets `* SEARCH`."""
    if cmd.charset is not None and cmd.charset.upper() not in CHARSETS:
        raise CommandError(f"unsupported charset {cmd.charset}", "BADCHARSET (" + " ".join(CHARSETS) + ")")
    view = selected_view(ctx)
    returns = cmd.returns
    try:
        uids = Searcher(view).run(cmd.key)  # `$` in the key is still the previous result
    except Exception:
        if returns is not None and "SAVE" in returns:
            view.saved = []  # a failing SEARCH (RETURN (SAVE)) leaves $ empty (RFC 5182 2.1)
        raise
    numbers = uids if cmd.uid else [view.seq(uid) for uid in uids]
    if returns is None and not ctx.session.rev2:
        ctx.untagged(b" ".join([b"SEARCH", *(b"%d" % n for n in numbers)]))
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
    ctx.untagged(esearch(ctx.tag, numbers, options, uid=cmd.uid))
