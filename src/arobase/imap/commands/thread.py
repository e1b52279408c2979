"""THREAD and UID THREAD (RFC 5256): REFERENCES and ORDEREDSUBJECT over the searched messages.

The threading columns are read once (`store.ordering.thread_rows`); the algorithms are in
`imap/threads.py`.
"""

from __future__ import annotations

import asyncio

from ...store import Store, ordering
from .. import threads
from ..search import CHARSETS, Searcher
from ..view import selected_view
from ..wire import ast
from . import SELECTED, CommandContext, CommandError, command


@command(ast.Thread, SELECTED)
async def thread(ctx: CommandContext, cmd: ast.Thread) -> None:
    if cmd.charset.upper() not in CHARSETS:
        raise CommandError(f"unsupported charset {cmd.charset}", "BADCHARSET (" + " ".join(CHARSETS) + ")")
    view = selected_view(ctx)
    uids = Searcher(view).run(cmd.key)
    rows, roots = await asyncio.to_thread(_threads, view.store, view.mailbox_id, uids, cmd.algorithm)
    numbers = None if cmd.uid else {row.uid: view.seq(row.uid) for row in rows}
    ctx.untagged(b"THREAD " + threads.render(roots, numbers) if roots else b"THREAD")


def _threads(
    store: Store, mailbox_id: int, uids: list[int], algorithm: str
) -> tuple[list[ordering.ThreadRow], list[threads.Node]]:
    """Run in a worker thread: a whole mailbox's threading takes about a second at 100k messages."""
    rows = ordering.thread_rows(store, mailbox_id, uids)  # type: ignore[arg-type]
    return rows, threads.references(rows) if algorithm == "REFERENCES" else threads.ordered_subject(rows)
