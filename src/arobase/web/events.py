"""Live updates over Server-Sent Events, fed by the store's change feed.

Each open page holds one stream; a change of the account sends the new unread counts, so the
page can update the folder tree and the title (and offer to reload the list). A keep-alive
comment every 25 s lets proxies and the server notice dead connections.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..store import Change
from .core import require

KEEPALIVE = 25.0


async def stream(request: Request) -> Response:
    ctx = require(request)
    web, account_id, store = ctx.web, ctx.account.id, ctx.store
    changed = asyncio.Event()

    def on_change(change: Change) -> None:
        changed.set()

    def counts() -> str:
        boxes = store.list_mailboxes(account_id)
        data = {
            "unread": {str(b.id): b.unseen for b in boxes},
            "inbox": sum(b.unseen for b in boxes if b.name == "INBOX"),
        }
        return f"event: counts\ndata: {json.dumps(data)}\n\n"

    async def events() -> AsyncIterator[str]:
        unsubscribe = store.feed.subscribe(account_id, on_change)
        try:
            yield "retry: 5000\n\n" + counts()
            while not web.closing.is_set() and ctx.session.id in web.sessions:
                waiter = asyncio.ensure_future(changed.wait())
                closer = asyncio.ensure_future(web.closing.wait())
                done, pending = await asyncio.wait({waiter, closer}, timeout=KEEPALIVE, return_when="FIRST_COMPLETED")
                for task in pending:
                    task.cancel()
                if closer in done:
                    break
                if changed.is_set():
                    changed.clear()
                    await asyncio.sleep(0.2)  # one update for a burst of changes
                    changed.clear()
                    yield counts()
                else:
                    yield ": keep-alive\n\n"
        finally:
            unsubscribe()

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
