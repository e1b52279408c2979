"""SORT and UID SORT (RFC 5256), DISPLAYFROM/DISPLAYTO (RFC 5957), ESORT's RETURN options (RFC 5267).

The search runs as for SEARCH; the ordering is one store query (`store.ordering.sorted_uids`),
done by SQLite for every key but the display-name ones.
"""

from __future__ import annotations

import asyncio

from ...store import ordering
from ..search import CHARSETS, Searcher
from ..view import selected_view
from ..wire import ast
from . import SELECTED, CommandContext, CommandError, command


@command(ast.Sort, SELECTED)
async def sort(ctx: CommandContext, cmd: ast.Sort) -> None:
    if cmd.charset.upper() not in CHARSETS:
        raise CommandError(f"unsupported charset {cmd.charset}", "BADCHARSET (" + " ".join(CHARSETS) + ")")
    view = selected_view(ctx)
    uids = Searcher(view).run(cmd.key)
    criteria = [(c.key, c.reverse) for c in cmd.criteria]
    # off the event loop: ordering 100k messages takes a few hundred ms, other sessions go on meanwhile
    ordered = await asyncio.to_thread(ordering.sorted_uids, view.store, view.mailbox_id, uids, criteria)  # type: ignore[arg-type]
    numbers = ordered if cmd.uid else [view.seq(uid) for uid in ordered]
    if cmd.returns is None:
        ctx.untagged(b" ".join([b"SORT", *(b"%d" % n for n in numbers)]))
        return
    options = set(cmd.returns) or {"ALL"}
    if "SAVE" in options:
        options.discard("SAVE")
        view.saved = uids  # $ is a set of messages: the sort order does not matter (RFC 5182)
        if not options:
            return
    ctx.untagged(esort(ctx.tag, numbers, options, uid=cmd.uid))


def esort(tag: str, results: list[int], options: set[str], *, uid: bool) -> bytes:
    """`ESEARCH (TAG "a") UID MIN 4 MAX 2 COUNT 3 ALL 4,1:2`: MIN and MAX are the first and last in
    sort order, ALL keeps that order (only ascending runs are written as ranges) (RFC 5267 3.2)."""
    out = [b'ESEARCH (TAG "' + tag.encode("ascii", "replace") + b'")']
    if uid:
        out.append(b"UID")
    if results and "MIN" in options:
        out.append(b"MIN %d" % results[0])
    if results and "MAX" in options:
        out.append(b"MAX %d" % results[-1])
    if "COUNT" in options:
        out.append(b"COUNT %d" % len(results))
    if results and "ALL" in options:
        out.append(b"ALL " + ordered_set(results))
    return b" ".join(out)


def ordered_set(numbers: list[int]) -> bytes:
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return b",".join(b"%d" % a if a == b else b"%d:%d" % (a, b) for a, b in runs)
