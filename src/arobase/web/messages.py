"""Reading messages (conversation, body frame, attachments, original) and acting on selections."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..store import InvalidOperation, Mailbox, webmail
from . import mailview, protection
from .core import Ctx, folder_url, parse_ref, protect, require
from .sanitize import clean_html, frame_csp, frame_document

FORBIDDEN_TYPES = {"text/html", "image/svg+xml", "application/xhtml+xml", "text/xml", "application/xml"}
# Shown inline from the attachment list: raster images (never SVG, which is a document) and PDF.
PREVIEW_IMAGES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
PREVIEW_TYPES = PREVIEW_IMAGES | {"application/pdf"}
# A preview is a document of its own that may run nothing and fetch nothing, framed only by our
# pages; `sandbox` makes it an opaque origin wherever the browser applies it. The PDF frame itself
# carries no sandbox attribute: Chromium refuses to show any PDF in a sandboxed frame. Its viewer
# runs the PDF (and any PDF JavaScript) out of process, in the viewer's own extension origin, never
# with this origin's DOM or cookies.
PREVIEW_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox"


def _message(ctx: Ctx, request: Request) -> tuple[Mailbox, webmail.MessageSummary]:
    box = ctx.mailbox(int(request.path_params["box"]))
    found = webmail.summaries(ctx.store, box.id, [int(request.path_params["uid"])])
    if not found:
        raise HTTPException(404)
    return box, found[0]


async def read(request: Request) -> Response:
    """The conversation around one message; the chosen one is opened and marked read."""
    ctx = require(request)
    box, summary = _message(ctx, request)
    if "\\Seen" not in summary.flags:
        await ctx.store.store_flags(box.id, [summary.uid], ["\\Seen"], "add")
    raw = await asyncio.to_thread(ctx.store.read_blob, summary.blob)
    parsed = await asyncio.to_thread(ctx.store.parsed, summary.blob)
    body = mailview.choose_body(raw, parsed)
    from_domain = summary.sender.rpartition("@")[2]
    check = mailview.sender_check(raw, ctx.web.app.config.server.hostname, from_domain)
    thread = webmail.conversation(ctx.store, ctx.account.id, summary)
    guard = protection.inspect(
        ctx, box, summary.blob, raw, summary.sender, parsed.subject, body.text, body.kind == "html"
    )
    trusted = not guard.warning and _trusts_images(ctx, summary.sender, check)
    names = {b.id: ctx.folder_name(b) for b in ctx.mailboxes()}
    boxes = [b for b in ctx.mailboxes() if b.selectable]
    return ctx.render(
        "message.html",
        title=summary.subject or ctx._("(no subject)"),
        box=box,
        m=summary,
        parsed=parsed,
        body=body,
        blocks=mailview.text_blocks(body.text, defanged=bool(guard.warning)) if body.kind == "text" else [],
        guard=guard,
        attachments=mailview.attachments(parsed),
        check=check,
        thread=thread if len(thread) > 1 else [],
        folder_names=names,
        move_targets=boxes,
        list_url=folder_url(box.name),
        images=trusted or request.query_params.get("images") == "1",
        trusted=trusted,
        previewable=PREVIEW_TYPES,
    )


def _trusts_images(ctx: Ctx, sender: str, check: mailview.SenderCheck) -> bool:
    """Remote images shown without asking: the reader chose so for this sender, and the sender's
    domain did not fail its checks (a forged From must not turn tracking images on). Callers also
    leave messages flagged as phishing out."""
    return bool(sender) and check.status != "failed" and webmail.shows_images_from(ctx.store, ctx.account.id, sender)


async def frame(request: Request) -> Response:
    """The sanitized HTML body, for the sandboxed iframe; carries its own, stricter CSP."""
    ctx = require(request)
    box, summary = _message(ctx, request)
    raw = await asyncio.to_thread(ctx.store.read_blob, summary.blob)
    parsed = await asyncio.to_thread(ctx.store.parsed, summary.blob)
    body = mailview.choose_body(raw, parsed)
    check = mailview.sender_check(raw, ctx.web.app.config.server.hostname, summary.sender.rpartition("@")[2])
    guard = protection.inspect(ctx, box, summary.blob, raw, summary.sender, parsed.subject, "", True)
    trusted = not guard.warning and _trusts_images(ctx, summary.sender, check)
    remote = request.query_params.get("images") == "1" or trusted

    def inline_image(cid: str) -> tuple[str, bytes] | None:
        part = mailview.find_cid(parsed, cid)
        return (part.content_type, mailview.part_bytes(raw, part)) if part else None

    if body.kind == "html":
        cleaned = await asyncio.to_thread(
            clean_html, body.text, inline_image, remote_images=remote, links=not guard.warning
        )
        html = cleaned.html
    else:
        html = ""
    return Response(
        frame_document(html),
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": frame_csp(remote), "X-Frame-Options": "SAMEORIGIN"},
    )


async def part(request: Request) -> Response:
    """Download one part; never rendered by the browser as a page of ours."""
    ctx = require(request)
    _, summary = _message(ctx, request)
    parsed = await asyncio.to_thread(ctx.store.parsed, summary.blob)
    found = parsed.part(request.path_params["number"])
    if found is None or found.is_multipart:
        raise HTTPException(404)
    raw = await asyncio.to_thread(ctx.store.read_blob, summary.blob)
    data = mailview.part_bytes(raw, found)
    media = found.content_type if found.content_type not in FORBIDDEN_TYPES else "application/octet-stream"
    filename = found.filename or f"part-{found.number or '1'}"
    return Response(
        data,
        media_type=media,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename, safe='')}",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


async def view(request: Request) -> Response:
    """One image or PDF attachment shown inline (in an <img>, or a frame under PREVIEW_CSP for a PDF)."""
    ctx = require(request)
    _, summary = _message(ctx, request)
    parsed = await asyncio.to_thread(ctx.store.parsed, summary.blob)
    found = parsed.part(request.path_params["number"])
    if found is None or found.is_multipart or found.content_type not in PREVIEW_TYPES:
        raise HTTPException(404)
    raw = await asyncio.to_thread(ctx.store.read_blob, summary.blob)
    filename = found.filename or f"part-{found.number or '1'}"
    return Response(
        mailview.part_bytes(raw, found),
        media_type=found.content_type,
        headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(filename, safe='')}",
            "Content-Security-Policy": PREVIEW_CSP,
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "SAMEORIGIN",
        },
    )


@protect
async def allow_images(request: Request) -> Response:
    """Remote images always shown for this message's sender (the reader's choice, undone in Settings)."""
    ctx = require(request)
    form = await request.form()
    ref = parse_ref(str(form.get("m") or ""))
    if ref is None:
        raise HTTPException(400)
    found = webmail.summaries(ctx.store, ctx.mailbox(ref[0]).id, [ref[1]])
    if not found or not found[0].sender:
        raise HTTPException(404)
    await webmail.allow_images_from(ctx.store, ctx.account.id, found[0].sender)
    ctx.flash(ctx._("Images from %s will always be shown.", found[0].sender.lower()))
    return RedirectResponse(f"/msg/{ref[0]}/{ref[1]}", 303)


async def original(request: Request) -> Response:
    """The message exactly as stored, as plain text."""
    ctx = require(request)
    _, summary = _message(ctx, request)
    raw = await asyncio.to_thread(ctx.store.read_blob, summary.blob)
    return Response(
        raw,
        media_type="text/plain; charset=utf-8",
        headers={"Content-Security-Policy": "default-src 'none'; sandbox"},
    )


def _special(ctx: Ctx, use: str) -> Mailbox | None:
    return next((b for b in ctx.mailboxes() if b.special_use == use), None)


@protect
async def act(request: Request) -> Response:
    """One action on the selected messages: read/unread, flag/unflag, move, archive, delete."""
    ctx = require(request)
    form = await request.form()
    action = str(form.get("action") or "")
    back = str(form.get("back") or "/")
    if not back.startswith("/") or back.startswith("//"):
        back = "/"
    chosen: dict[int, list[int]] = {}
    for value in form.getlist("m"):
        ref = parse_ref(str(value))
        if ref is not None:
            chosen.setdefault(ref[0], []).append(ref[1])
    boxes = {box_id: ctx.mailbox(box_id) for box_id in chosen}
    flags = {
        "read": (["\\Seen"], "add"),
        "unread": (["\\Seen"], "remove"),
        "flag": (["\\Flagged"], "add"),
        "unflag": (["\\Flagged"], "remove"),
    }
    if action in flags:
        names, mode = flags[action]
        for box_id, uids in chosen.items():
            await ctx.store.store_flags(box_id, uids, names, mode)
        ctx.flash(ctx._("Done."))
    elif action == "move":
        target = ctx.mailbox(int(str(form.get("target") or "0")) if str(form.get("target") or "").isdigit() else 0)
        try:
            for box_id, uids in chosen.items():
                if box_id != target.id:
                    await ctx.store.copy(box_id, uids, target.id, move=True)
        except InvalidOperation:
            raise HTTPException(400) from None
        ctx.flash(ctx._("Moved to %s.", ctx.folder_name(target)))
        if form.get("single"):
            back = folder_url(next(iter(boxes.values())).name) if boxes else "/"
    elif action == "archive":
        archive = _special(ctx, "\\Archive")
        if archive is None:
            raise HTTPException(400)
        for box_id, uids in chosen.items():
            if box_id != archive.id:
                await ctx.store.copy(box_id, uids, archive.id, move=True)
        ctx.flash(ctx._("Archived."))
        if form.get("single"):
            back = folder_url(next(iter(boxes.values())).name) if boxes else "/"
    elif action == "delete":
        trash = _special(ctx, "\\Trash")
        for box_id, uids in chosen.items():
            if trash is None or boxes[box_id].special_use in ("\\Trash", "\\Junk") or box_id == trash.id:
                await ctx.store.expunge(box_id, uids)
            else:
                await ctx.store.copy(box_id, uids, trash.id, move=True)
        ctx.flash(ctx._("Deleted."))
        if form.get("single"):
            back = folder_url(next(iter(boxes.values())).name) if boxes else "/"
    else:
        raise HTTPException(400)
    if request.headers.get("x-requested-with") == "fetch":
        return Response(status_code=204)
    return RedirectResponse(back, 303)
