"""The folder tree's own pages: a folder's message list, and creating, renaming, deleting folders."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..store import AlreadyExists, InvalidOperation, NotFound, webmail
from .core import folder_url, protect, require

PROTECTED = {"INBOX", "Drafts", "Sent", "Junk", "Trash", "Archive"}


async def home(request: Request) -> Response:
    require(request)
    return RedirectResponse("/mail/INBOX", 303)


async def folder(request: Request) -> Response:
    ctx = require(request)
    box = ctx.mailbox_named(request.path_params["name"])
    if not box.selectable:
        raise HTTPException(404)
    try:
        page = max(0, int(request.query_params.get("page", "0")))
    except ValueError:
        page = 0
    size = ctx.web.page_size
    messages = webmail.message_page(ctx.store, box.id, page * size, size)
    return ctx.render(
        "folder.html",
        box=box,
        title=ctx.folder_name(box),
        messages=messages,
        page=page,
        first=page * size + 1 if messages else 0,
        last=page * size + len(messages),
        total=box.messages,
        has_more=(page + 1) * size < box.messages,
        show_recipients=box.special_use in ("\\Sent", "\\Drafts"),
        list_url=folder_url(box.name),
        confirm_empty=request.query_params.get("empty") == "1",
    )


def _clean_name(text: str) -> str:
    return "/".join(part.strip() for part in text.replace("\\", "/").split("/") if part.strip())


@protect
async def create(request: Request) -> Response:
    ctx = require(request)
    form = await request.form()
    name = _clean_name(str(form.get("name") or ""))
    parent = str(form.get("parent") or "")
    if parent:
        ctx.mailbox_named(parent)
        name = f"{parent}/{name}" if name else ""
    try:
        if not name:
            raise InvalidOperation("empty")
        await ctx.store.create_mailbox(ctx.account.id, name)
    except AlreadyExists:
        ctx.flash(ctx._("A folder with that name exists already."))
        return RedirectResponse("/folders", 303)
    except InvalidOperation:
        ctx.flash(ctx._("That folder name cannot be used."))
        return RedirectResponse("/folders", 303)
    ctx.flash(ctx._("Folder created."))
    return RedirectResponse(folder_url(name), 303)


async def manage(request: Request) -> Response:
    """The folders page: create, and per folder rename or delete (deletion asks first)."""
    ctx = require(request)
    confirm = request.query_params.get("delete", "")
    target = ctx.mailbox_named(confirm) if confirm else None
    return ctx.render("folders.html", title=ctx._("Folders"), confirm=target, protected=PROTECTED)


@protect
async def rename(request: Request) -> Response:
    ctx = require(request)
    form = await request.form()
    old = ctx.mailbox_named(str(form.get("name") or ""))
    new = _clean_name(str(form.get("new") or ""))
    if old.name.split("/")[0] in PROTECTED and "/" not in old.name:
        ctx.flash(ctx._("This folder cannot be changed."))
        return RedirectResponse("/folders", 303)
    parent = old.name.rpartition("/")[0]
    target = f"{parent}/{new}" if parent and "/" not in new else new
    try:
        if not new:
            raise InvalidOperation("empty")
        await ctx.store.rename_mailbox(ctx.account.id, old.name, target)
    except AlreadyExists:
        ctx.flash(ctx._("A folder with that name exists already."))
        return RedirectResponse("/folders", 303)
    except InvalidOperation:
        ctx.flash(ctx._("That folder name cannot be used."))
        return RedirectResponse("/folders", 303)
    ctx.flash(ctx._("Folder renamed."))
    return RedirectResponse("/folders", 303)


@protect
async def delete(request: Request) -> Response:
    ctx = require(request)
    form = await request.form()
    box = ctx.mailbox_named(str(form.get("name") or ""))
    if box.name in PROTECTED:
        ctx.flash(ctx._("This folder cannot be changed."))
        return RedirectResponse("/folders", 303)
    try:
        await ctx.store.delete_mailbox(ctx.account.id, box.name)
    except (InvalidOperation, NotFound):
        ctx.flash(ctx._("The folder contains subfolders; delete them first."))
        return RedirectResponse("/folders", 303)
    ctx.flash(ctx._("Folder deleted."))
    return RedirectResponse("/folders", 303)


@protect
async def empty(request: Request) -> Response:
    """Empty Trash or Junk: their messages are deleted for good (the page asked first)."""
    ctx = require(request)
    form = await request.form()
    box = ctx.mailbox_named(str(form.get("name") or ""))
    if box.special_use not in ("\\Trash", "\\Junk"):
        raise HTTPException(400)
    await ctx.store.expunge(box.id, ctx.store.uids(box.id))
    ctx.flash(ctx._("Emptied."))
    return RedirectResponse(folder_url(box.name), 303)
