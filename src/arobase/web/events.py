"""Live updates over Server-Sent Events, fed by the store's change feed.

Each open page holds one stream; a change of the account sends the new unread counts, so the
page can update the folder tree and the title. A folder's first page also names its folder and
the highest UID it shows (`?box=&after=`): new messages there are sent as rendered list rows,
which the page inserts at the top. A keep-alive comment every 25 s lets proxies and the server
notice dead connections.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..store import Change, webmail
from .core import require

KEEPALIVE = 25.0


async def stream(request: Request) -> Response:
    ctx = require(request)
    web, account_id, store = ctx.web, ctx.account.id, ctx.store
    changed = asyncio.Event()
    box = None
    after = 0
    q = request.query_params
    if q.get("box", "").isdigit() and q.get("after", "").isdigit():
        box = ctx.mailbox(int(q["box"]))
        after = int(q["after"])
    row_template = web.templates.get_template("_row.html")

    def on_change(change: Change) -> None:
        changed.set()

    def counts() -> str:
        boxes = store.list_mailboxes(account_id)
        data = {
            "unread": {str(b.id): b.unseen for b in boxes},
            "inbox": sum(b.unseen for b in boxes if b.name == "INBOX"),
        }
        return f"event: counts\ndata: {json.dumps(data)}\n\n"

    def rows() -> str:
        """New messages of the open folder as list rows, or "" when there are none."""
        nonlocal after
        if box is None:
            return ""
        arrived = webmail.arrived_after(store, box.id, after)
        if not arrived:
            return ""
        after = max(after, *(m.uid for m in arrived))
        recipients = box.special_use in ("\\Sent", "\\Drafts")
        html = "".join(
            row_template.render(m=m, _=ctx._, show_folder=False, show_recipients=recipients) for m in arrived
        )
        return f"event: rows\ndata: {json.dumps({'html': html, 'after': after, 'count': len(arrived)})}\n\n"

    async def events() -> AsyncIterator[str]:
        unsubscribe = store.feed.subscribe(account_id, on_change)
        try:
            yield "retry: 5000\n\n" + counts() + rows()
            while not web.closing.is_set() and ctx.session.id in web.sessions:
                waiter = asyncio.ensure_future(changed.wait())
                closer = asyncio.ensure_future(web.closing.wait())
                try:
                    done, _ = await asyncio.wait({waiter, closer}, timeout=KEEPALIVE, return_when="FIRST_COMPLETED")
                finally:  # also when the browser goes away mid-wait: no task is left pending
                    waiter.cancel()
                    closer.cancel()
                if closer in done:
                    break
                if changed.is_set():
                    changed.clear()
                    await asyncio.sleep(0.2)  # one update for a burst of changes
                    changed.clear()
                    yield counts() + rows()
                else:
                    yield ": keep-alive\n\n"
        finally:
            unsubscribe()

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
