"""The address book: list, add, edit, delete, vCard import and export, autocomplete for compose."""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..addressing import AddressError, parse_address
from ..store import webmail
from .core import protect, require

MAX_VCARD = 5_000_000


async def index(request: Request) -> Response:
    ctx = require(request)
    q = request.query_params.get("q", "")
    contacts = webmail.list_contacts(ctx.store, ctx.account.id, q)
    edit_id = request.query_params.get("edit", "")
    editing = webmail.get_contact(ctx.store, ctx.account.id, int(edit_id)) if edit_id.isdigit() else None
    return ctx.render("contacts.html", title=ctx._("Contacts"), contacts=contacts, q=q, editing=editing)


def _valid(address: str) -> str | None:
    try:
        return str(parse_address(address.strip()))
    except AddressError:
        return None


@protect
async def save(request: Request) -> Response:
    ctx = require(request)
    form = await request.form()
    email = _valid(str(form.get("email") or ""))
    if email is None:
        ctx.flash(ctx._("invalid address %s", str(form.get("email") or "")))
        return RedirectResponse("/contacts", 303)
    raw_id = str(form.get("id") or "")
    contact_id = int(raw_id) if raw_id.isdigit() else None
    name, phone, notes = (str(form.get(key) or "").strip() for key in ("name", "phone", "notes"))
    entry = (contact_id, name, email, phone, notes)
    try:
        await webmail.save_contacts(ctx.store, ctx.account.id, [entry])
    except Exception:
        raise HTTPException(404) from None
    ctx.flash(ctx._("Done."))
    return RedirectResponse("/contacts", 303)


@protect
async def delete(request: Request) -> Response:
    ctx = require(request)
    form = await request.form()
    ids = [int(str(v)) for v in form.getlist("id") if str(v).isdigit()]
    await webmail.delete_contacts(ctx.store, ctx.account.id, ids)
    ctx.flash(ctx._("Deleted."))
    return RedirectResponse("/contacts", 303)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\n", "\\n")


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def to_vcard(contacts: list[webmail.Contact]) -> str:
    cards = []
    for c in contacts:
        lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{_escape(c.name or c.email)}", f"EMAIL;TYPE=INTERNET:{c.email}"]
        if c.phone:
            lines.append(f"TEL:{_escape(c.phone)}")
        if c.notes:
            lines.append(f"NOTE:{_escape(c.notes)}")
        lines.append("END:VCARD")
        cards.append("\r\n".join(lines))
    return "\r\n".join(cards) + "\r\n"


def parse_vcards(text: str) -> list[tuple[str, str, str, str]]:
    """(name, email, phone, notes) of each card with an address; folded lines are unfolded."""
    text = re.sub(r"\r?\n[ \t]", "", text)
    found = []
    for block in re.findall(r"BEGIN:VCARD(.*?)END:VCARD", text, re.S | re.I):
        card: dict[str, str] = {}
        for line in block.splitlines():
            name, colon, value = line.partition(":")
            if not colon:
                continue
            key = name.split(";")[0].split(".")[-1].upper()
            card.setdefault(key, _unescape(value.strip()))
        email = _valid(card.get("EMAIL", ""))
        if email:
            found.append((card.get("FN", ""), email, card.get("TEL", ""), card.get("NOTE", "")))
    return found


async def export(request: Request) -> Response:
    ctx = require(request)
    contacts = webmail.list_contacts(ctx.store, ctx.account.id, limit=1_000_000)
    return Response(
        to_vcard(contacts),
        media_type="text/vcard; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="contacts.vcf"'},
    )


@protect
async def import_(request: Request) -> Response:
    ctx = require(request)
    form = await request.form()
    upload = form.get("file")
    data = await upload.read(MAX_VCARD) if upload is not None and not isinstance(upload, str) else b""
    cards = parse_vcards(data.decode("utf-8", "replace"))
    known = {c.email.lower() for c in webmail.list_contacts(ctx.store, ctx.account.id, limit=1_000_000)}
    entries = [(None, n, e, p, notes) for n, e, p, notes in cards if e.lower() not in known]
    if entries:
        await webmail.save_contacts(ctx.store, ctx.account.id, entries)
    ctx.flash(ctx._("%d contacts imported.", len(entries)))
    return RedirectResponse("/contacts", 303)


async def complete(request: Request) -> Response:
    """Autocomplete for the recipient fields: contacts first, then people written to, then recent senders."""
    ctx = require(request)
    q = request.query_params.get("q", "").strip()
    if len(q) < 1:
        return JSONResponse([])
    limit = 10
    found: dict[str, str] = {}
    for c in webmail.list_contacts(ctx.store, ctx.account.id, q, limit):
        found.setdefault(c.email.lower(), f'"{c.name}" <{c.email}>' if c.name else c.email)
    for address in webmail.correspondents(ctx.store, ctx.account.id, q, limit):
        found.setdefault(address.lower(), address)
    inbox = ctx.store.get_mailbox(ctx.account.id, "INBOX")
    if inbox is not None and len(found) < limit:
        for entry in webmail.recent_senders(ctx.store, inbox.id, q, limit):
            address = entry.rpartition("<")[2].rstrip(">").lower()
            found.setdefault(address, entry)
    return JSONResponse(list(found.values())[:limit])
