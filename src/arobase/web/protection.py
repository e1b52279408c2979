"""What the protection pipeline decided, shown on a message, and the reader's say in it.

The pipeline keeps one verdict per account and stored content (action, score, reasons in plain
words) and writes X-Arobase-* header fields (SMTP ingest strips any it did not write).
Here they become banners: why a message is in Junk, a phishing warning whose links are shown
de-fanged and not clickable, and the attachments held in quarantine with a release button.
"Spam" and "Not spam" teach the account's classifier (`arobase.filters.learn`) and move the
message to Junk or back to the inbox.

A quarantine entry is keyed by the digest of the original, not of the stored copy, so the entry
is found as the account's held original with the same sender and subject recorded around the
time of the verdict.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..filters import learn
from ..store import FilterVerdict, Mailbox, QuarantineEntry, webmail
from .core import Ctx, folder_url, parse_ref, protect, require
from .mailview import URL_PATTERN
from .sanitize import defang

QUARANTINE_MATCH_SECONDS = 600
MAX_LINKS = 20
_HREF = re.compile(r"""href\s*=\s*["']?\s*((?:https?|ftp)://[^"'\s>]+)""", re.I)


@dataclass(slots=True)
class Protection:
    verdict: FilterVerdict | None
    in_junk: bool
    warning: str = ""  # phishing warning in plain words, "" when none
    links: list[str] = field(default_factory=list)  # the message's link targets, de-fanged
    held: QuarantineEntry | None = None


def header_field(raw: bytes, name: str) -> str:
    """One field of the top header block, unfolded ("" when absent)."""
    end = raw.find(b"\r\n\r\n")
    head = raw[: end if end != -1 else len(raw)].decode("utf-8", "replace")
    found = re.search(rf"^{re.escape(name)}:(.*(?:\r?\n[ \t].*)*)", head, re.I | re.M)
    return " ".join(found.group(1).split()) if found else ""


def links_in(text: str, html: bool) -> list[str]:
    """The distinct http(s) targets of a body, in order, de-fanged for showing."""
    found = _HREF.findall(text) if html else URL_PATTERN.findall(text)
    return [defang(url) for url in dict.fromkeys(found)][:MAX_LINKS]


def inspect(
    ctx: Ctx, box: Mailbox, blob: str, raw: bytes, sender: str, subject: str, body_text: str, html: bool
) -> Protection:
    """The banners one message needs. The warning comes from the pipeline's X-Arobase-Warning field
    (SMTP ingest strips any a sender wrote, and a forged one could only add a warning) or, failing
    that, from a stored "warn" verdict."""
    verdict = ctx.store.get_verdict(ctx.account.id, blob)
    view = Protection(verdict, box.special_use == "\\Junk")
    warning = header_field(raw, "X-Arobase-Warning")
    if warning or (verdict is not None and verdict.action == "warn"):
        view.warning = warning or ctx._("This message looks like an attempt to steal your password or money.")
        view.links = links_in(body_text, html)
    if verdict is not None and verdict.action == "quarantine":
        view.held = held_original(ctx, verdict, sender, subject)
    return view


def held_original(ctx: Ctx, verdict: FilterVerdict, sender: str, subject: str) -> QuarantineEntry | None:
    near = [
        entry
        for entry in ctx.store.quarantine_list(ctx.account.id)
        if entry.sender.lower() == sender.lower()
        and entry.subject == subject
        and abs((entry.created - verdict.created).total_seconds()) <= QUARANTINE_MATCH_SECONDS
    ]
    return min(near, key=lambda e: abs((e.created - verdict.created).total_seconds()), default=None)


def _special(ctx: Ctx, use: str) -> Mailbox | None:
    return next((b for b in ctx.mailboxes() if b.special_use == use), None)


@protect
async def judge(request: Request) -> Response:
    """Spam / Not spam: teach the classifier, then move the messages to Junk or to the inbox."""
    ctx = require(request)
    form = await request.form()
    verdict = str(form.get("as") or "")
    chosen: dict[int, list[int]] = {}
    for value in form.getlist("m"):  # one message from its page, or the selection of a list
        ref = parse_ref(str(value))
        if ref is not None:
            chosen.setdefault(ref[0], []).append(ref[1])
    if not chosen or verdict not in ("spam", "ham"):
        raise HTTPException(400)
    boxes = {box_id: ctx.mailbox(box_id) for box_id in chosen}
    is_spam = verdict == "spam"
    target = _special(ctx, "\\Junk") if is_spam else ctx.store.get_mailbox(ctx.account.id, "INBOX")
    if is_spam and target is None:
        await ctx.store.create_mailbox(ctx.account.id, "Junk", "\\Junk")
        target = _special(ctx, "\\Junk")
    for box_id, uids in chosen.items():
        found = webmail.summaries(ctx.store, box_id, uids)
        if not found:
            raise HTTPException(404)
        for summary in found:
            await asyncio.to_thread(learn, ctx.store, ctx.account.id, summary.blob, is_spam)
        if target is not None and target.id != box_id:
            await ctx.store.copy(box_id, [s.uid for s in found], target.id, move=True)
    ctx.flash(
        ctx._("Marked as spam and moved to Junk.") if is_spam else ctx._("Marked as not spam and moved to Inbox.")
    )
    back = str(form.get("back") or "")
    if not back.startswith("/") or back.startswith(("//", "/msg/")):
        back = folder_url(next(iter(boxes.values())).name)  # from a message's page: its folder, as it has moved
    return RedirectResponse(back, 303)


@protect
async def release(request: Request) -> Response:
    """Deliver the held original (with its attachments) to the inbox, once."""
    ctx = require(request)
    form = await request.form()
    text = str(form.get("id") or "")
    held = ctx.store.quarantine_get(int(text)) if text.isdigit() else None
    if held is None or held[0].account_id != ctx.account.id:
        raise HTTPException(404)
    entry, data = held
    if entry.released is None:
        blob = await asyncio.to_thread(ctx.store.put_message, data)
        await ctx.store.deliver(blob, [(ctx.account.id, "INBOX")], enforce_quota=False)
        await ctx.store.quarantine_released(entry.id)
        ctx.flash(ctx._("The original message, with its attachments, is in your Inbox."))
    else:
        ctx.flash(ctx._("This message was already released."))
    return RedirectResponse(folder_url("INBOX"), 303)
