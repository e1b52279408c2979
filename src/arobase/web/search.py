"""The search box: text in one field or all, in one folder or everywhere, with filters."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response

from ..store import webmail
from .core import require


def _day(text: str) -> int | None:
    try:
        return int(datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())
    except ValueError:
        return None


async def search(request: Request) -> Response:
    ctx = require(request)
    q = request.query_params
    field = q.get("in", "all")
    if field not in webmail.SEARCH_FIELDS:
        field = "all"
    folder = q.get("folder", "")
    box = ctx.mailbox_named(folder) if folder else None
    since = _day(q.get("since", ""))
    until = _day(q.get("until", ""))
    if until is not None:
        until += int(timedelta(days=1).total_seconds())
    text = q.get("q", "")
    filters = {"unread": q.get("unread") == "1", "flagged": q.get("flagged") == "1", "attachments": q.get("att") == "1"}
    searched = bool(text.strip()) or any(filters.values()) or since is not None or until is not None
    results = (
        await asyncio.to_thread(
            webmail.search,
            ctx.store,
            ctx.account.id,
            text,
            field=field,
            mailbox_id=box.id if box else None,
            since=since,
            until=until,
            **filters,
        )
        if searched
        else []
    )
    names = {b.id: ctx.folder_name(b) for b in ctx.mailboxes()}
    return ctx.render(
        "search.html",
        title=ctx._("Search"),
        q=text,
        field=field,
        folder=folder,
        since=q.get("since", ""),
        until=q.get("until", ""),
        filters=filters,
        results=results,
        searched=searched,
        folder_names=names,
        fields=webmail.SEARCH_FIELDS,
    )
