"""Writing: new messages, replies, forwards and drafts, sent through the submission service.

Sending follows SMTP submission's rules exactly (services/delivery.py and the shared throttle):
the From must be the account's own, Message-ID and Date are completed by `complete_submission`,
the hourly and daily limits apply, the protection pipeline's submission checks run, and local and
remote recipients are placed in one atomic delivery. The copy filed in Sent keeps the Bcc line
that the delivered copy does not carry. A message that cannot be sent is saved in Drafts and the
form comes back with the reason.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..addressing import AddressError, parse_address
from ..services.delivery import Origin
from ..store import Account, QuotaExceeded, webmail
from . import mailview, richtext
from .core import Ctx, folder_url, message_ref, parse_ref, protect, require

log = logging.getLogger("arobase.web")


class SendError(Exception):
    """Why a message was not sent, worded for the writer (already translated)."""


@dataclass(slots=True)
class Draft:
    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""
    body: str = ""
    html: str = ""  # the rich-text editor's HTML (sent as the text/html alternative); "" for plain text
    in_reply_to: str = ""
    references: str = ""
    replied: str = ""  # "box:uid" of the message answered, flagged \Answered once sent
    forward: str = ""  # "box:uid" of the message forwarded as an attachment (the whole .eml)
    carried: str = ""  # "box:uid" of the message forwarded inline, whose `kept` attachments come along
    draft: str = ""  # "box:uid" of the draft being edited, replaced on save and removed on send
    kept: list[tuple[str, str]] = field(default_factory=list)  # (part number, file name) of the draft's files


def _addresses(items: list[str]) -> str:
    return ", ".join(i for i in items if i)


def _format(name: str | None, address: str | None) -> str:
    return email.utils.formataddr((name or "", address or "")) if name else address or ""


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.split("\n"))


def _signed(ctx: Ctx, text: str) -> str:
    """`text` with the account's signature after the usual "-- " separator line, when it has one."""
    signature = webmail.signature(ctx.store, ctx.account.id).strip("\n")
    return f"\n\n-- \n{signature}{text}" if signature else text


async def form(request: Request) -> Response:
    """The compose form, filled for a reply, a forward or an existing draft."""
    ctx = require(request)
    draft = Draft(to=request.query_params.get("to", ""), body=_signed(ctx, ""))
    mode = request.query_params.get("mode", "")
    ref = parse_ref(request.query_params.get("ref", ""))
    if ref is not None:
        box = ctx.mailbox(ref[0])
        found = webmail.summaries(ctx.store, box.id, [ref[1]])
        if found:
            draft = await _prefill(ctx, found[0], mode)
    return _form(ctx, draft)


def _form(ctx: Ctx, draft: Draft, error: str = "", status: int = 200) -> Response:
    return ctx.render(
        "compose.html",
        status,
        title=ctx._("Compose"),
        d=draft,
        error=error,
        max_upload=ctx.web.max_upload,
        max_upload_text=_size(ctx.web.max_upload),
    )


def _size(n: int) -> str:
    return f"{n / 1_048_576:.0f} MB" if n >= 1_048_576 else f"{max(1, n // 1024)} KB"


async def _prefill(ctx: Ctx, m: webmail.MessageSummary, mode: str) -> Draft:
    raw = await asyncio.to_thread(ctx.store.read_blob, m.blob)
    parsed = await asyncio.to_thread(ctx.store.parsed, m.blob)
    body = mailview.choose_body(raw, parsed)
    text = body.text if body.kind == "text" else _html_text(body.text)
    ref = message_ref(m.mailbox_id, m.uid)
    if mode == "draft":
        rich = richtext.clean(body.text) if body.kind == "html" else ""
        kept = [(p.number, p.filename or p.content_type) for p in mailview.attachments(parsed)]
        return Draft(
            to=_addresses([_format(a.name, a.email) for a in parsed.to if a.email]),
            cc=_addresses([_format(a.name, a.email) for a in parsed.cc if a.email]),
            bcc=_addresses([_format(a.name, a.email) for a in parsed.bcc if a.email]),
            subject=parsed.subject,
            body=richtext.to_plain(rich) if rich else text,
            html=rich,
            in_reply_to=parsed.in_reply_to or "",
            references=" ".join(parsed.references),
            draft=ref,
            kept=kept,
        )
    author = parsed.reply_to or parsed.from_
    when = email.utils.format_datetime(parsed.date) if parsed.date else ""
    sender = _format(parsed.from_[0].name, parsed.from_[0].email) if parsed.from_ else ""
    if mode in ("forward", "inline"):
        forwarded = parsed.subject.lower().startswith(("fwd:", "fw:", "tr:"))
        subject = parsed.subject if forwarded else "Fwd: " + parsed.subject
        if mode == "forward":  # as an attachment: the original travels whole, the body is the writer's
            return Draft(subject=subject, body=_signed(ctx, ""), forward=ref)
        intro = f"\n\n-------- Forwarded message --------\nFrom: {sender}\nDate: {when}\nSubject: {parsed.subject}\n\n"
        kept = [(p.number, p.filename or p.content_type) for p in mailview.attachments(parsed)]
        return Draft(subject=subject, body=_signed(ctx, intro + text), carried=ref, kept=kept)
    me = ctx.account.address.lower()
    to = [_format(a.name, a.email) for a in author if a.email]
    cc: list[str] = []
    if mode == "all":
        seen = {a.email.lower() for a in author if a.email} | {me}
        for a in [*parsed.to, *parsed.cc]:
            if a.email and a.email.lower() not in seen:
                seen.add(a.email.lower())
                cc.append(_format(a.name, a.email))
    subject = parsed.subject if parsed.subject.lower().startswith(("re:", "aw:", "sv:")) else "Re: " + parsed.subject
    refs = [*parsed.references, *([parsed.message_id] if parsed.message_id else [])]
    return Draft(
        to=_addresses(to),
        cc=_addresses(cc),
        subject=subject,
        body=_signed(ctx, f"\n\n{sender} ({when}):\n{_quote(text)}\n"),
        in_reply_to=parsed.message_id or "",
        references=" ".join(f"<{r.strip('<>')}>" for r in refs[-20:]),
        replied=ref,
    )


def _html_text(html: str) -> str:
    from ..mime.text import html_to_text

    return html_to_text(html)


def _split_recipients(text: str) -> list[tuple[str, str]]:
    return [(name, addr) for name, addr in email.utils.getaddresses([text]) if addr or name]


async def _build(ctx: Ctx, draft: Draft, uploads: list[UploadFile], *, with_bcc: bool) -> bytes:
    account: Account = ctx.account
    msg = EmailMessage(policy=SMTP)
    msg["From"] = _format(account.display_name, account.address)
    for header, value in (("To", draft.to), ("Cc", draft.cc), ("Bcc", draft.bcc if with_bcc else "")):
        if value.strip():
            msg[header] = ", ".join(_format(n, a) for n, a in _split_recipients(value))
    msg["Subject"] = draft.subject
    if draft.in_reply_to:
        msg["In-Reply-To"] = f"<{draft.in_reply_to.strip('<>')}>"
    if draft.references:
        msg["References"] = draft.references
    msg["User-Agent"] = "Arobase webmail"
    rich = richtext.clean(draft.html) if draft.html.strip() else ""
    if rich:
        msg.set_content(richtext.to_plain(rich) + "\n")
        msg.add_alternative(
            f'<!doctype html><html><head><meta charset="utf-8"></head><body>{rich}</body></html>\n', subtype="html"
        )
    else:
        msg.set_content(draft.body.replace("\r\n", "\n"))
    total = 0
    for upload in uploads:
        data = await upload.read()
        total += len(data)
        if total > ctx.web.max_upload:
            raise SendError(ctx._("attachments are too large"))
        maintype, _, subtype = (upload.content_type or "application/octet-stream").partition("/")
        if not subtype or not re.fullmatch(r"[\w.+-]+", maintype + subtype):
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=upload.filename or "attachment")
    # Kept attachments come from the draft being edited, else from the message forwarded inline.
    for source, numbers in ((draft.draft or draft.carried, [n for n, _ in draft.kept]),):
        ref = parse_ref(source)
        if ref is None or not numbers:
            continue
        m = webmail.summaries(ctx.store, ctx.mailbox(ref[0]).id, [ref[1]])
        if not m:
            continue
        raw = await asyncio.to_thread(ctx.store.read_blob, m[0].blob)
        parsed = await asyncio.to_thread(ctx.store.parsed, m[0].blob)
        for number in numbers:
            part = parsed.part(number)
            if part is None or part.is_multipart:
                continue
            maintype, _, subtype = part.content_type.partition("/")
            data = mailview.part_bytes(raw, part)
            if maintype == "message":
                msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=part.filename)
            else:
                msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=part.filename or "attachment")
    forwarded = parse_ref(draft.forward)
    if forwarded is not None:
        m = webmail.summaries(ctx.store, ctx.mailbox(forwarded[0]).id, [forwarded[1]])
        if m:
            raw = await asyncio.to_thread(ctx.store.read_blob, m[0].blob)
            name = (m[0].subject or "message")[:60].replace("/", "_") + ".eml"
            msg.add_attachment(raw, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes(policy=SMTP)


def _strip_bcc(message: bytes) -> bytes:
    """The delivered copy: the same bytes without the Bcc field (and its continuation lines)."""
    end = message.find(b"\r\n\r\n")
    head, rest = message[: end + 2], message[end + 2 :]
    out, skipping = [], False
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and skipping:
            continue
        skipping = line.lower().startswith(b"bcc:")
        if not skipping:
            out.append(line)
    return b"\r\n".join(out) + rest


async def _send(ctx: Ctx, draft: Draft, uploads: list[UploadFile], client_ip: str) -> str:
    """Deliver through the submission rules; returns a warning, or ""."""
    app = ctx.web.app
    account = ctx.account
    recipients: list[str] = []
    for text in (draft.to, draft.cc, draft.bcc):
        for _, address in _split_recipients(text):
            try:
                recipients.append(str(parse_address(address)))
            except AddressError:
                raise SendError(ctx._("invalid address %s", address or "?")) from None
    if not recipients:
        raise SendError(ctx._("no recipient"))
    if not app.throttle.message_allowed(account.id) or not app.throttle.recipients_allowed(account.id, len(recipients)):
        raise SendError(ctx._("you have sent too many messages; try again later"))
    accounts: dict[int, Account] = {}
    remote: list[str] = []
    for address in recipients:
        route = app.delivery.route(parse_address(address))
        if route.local_domain and not route.exists:
            raise SendError(ctx._("no such local user %s", address))
        for found in route.accounts:
            accounts[found.id] = found
        remote += [r for r in route.remote if r not in remote]
    full = app.delivery.complete_submission(await _build(ctx, draft, uploads, with_bcc=True))
    content = _strip_bcc(full)
    if app.delivery.unowned_authors(account, content):
        raise SendError(ctx._("you may not send as this address"))
    origin = Origin(
        client_ip=client_ip,
        helo="webmail",
        protocol="HTTPS" if ctx.web.secure else "HTTP",
        login=account.address,
    )
    # The protection hook SMTP submission runs: dangerous attachments (refused when the policy
    # says so), correspondents noted for autocomplete and the "known sender" signal.
    places = list(accounts.values())
    try:
        filtered = await app.filters.screen(
            content, account, places, account.address, client_ip, "webmail", None, recipients
        )
    except Exception:
        log.exception("webmail: filtering failed for %s", account.address)
        raise SendError(ctx._("the message could not be checked; try again later")) from None
    if filtered.reject:
        raise SendError(filtered.reject)
    app.filters.expect(filtered)
    try:
        delivered = await app.delivery.deliver(
            filtered.content,
            sender=account.address,
            accounts=places,
            remote=remote,
            origin=origin,
            recipients=recipients,
            sender_account=account.id,
            prepend=filtered.prepend,
            mailboxes=filtered.mailboxes,
            parsed=filtered.parsed,
        )
    except QuotaExceeded:
        app.filters.unexpect(filtered)
        raise SendError(ctx._("a recipient's mailbox is full")) from None
    except BaseException:
        app.filters.unexpect(filtered)
        raise
    await app.filters.record(filtered, delivered.blob, places)
    app.throttle.record_message(account.id, len(recipients))
    if not app.filters.enabled:  # the hook above notes correspondents only when protection is on
        await ctx.store.add_correspondents(account.id, [r.lower() for r in recipients])
    try:
        blob = await asyncio.to_thread(ctx.store.put_message, full)
        await ctx.store.append(account.id, _special_name(ctx, "\\Sent"), blob, ["\\Seen"])
    except QuotaExceeded:
        return ctx._("Sent, but the copy in Sent could not be saved (quota).")
    return ""


def _special_name(ctx: Ctx, use: str) -> str:
    return next((b.name for b in ctx.mailboxes() if b.special_use == use), use.strip("\\"))


async def _save_draft(ctx: Ctx, draft: Draft, uploads: list[UploadFile]) -> str:
    """Store the draft in Drafts (replacing the previous version); returns its new "box:uid"."""
    for upload in uploads:
        await upload.seek(0)
    message = ctx.web.app.delivery.complete_submission(await _build(ctx, draft, uploads, with_bcc=True))
    blob = await asyncio.to_thread(ctx.store.put_message, message)
    name = _special_name(ctx, "\\Drafts")
    if ctx.store.get_mailbox(ctx.account.id, name) is None:
        await ctx.store.create_mailbox(ctx.account.id, name, "\\Drafts")
    box, uid = await ctx.store.append(ctx.account.id, name, blob, ["\\Seen", "\\Draft"])
    await _drop_old_draft(ctx, draft)
    return message_ref(box.id, uid)


async def _drop_old_draft(ctx: Ctx, draft: Draft) -> None:
    old = parse_ref(draft.draft)
    if old is not None:
        box = ctx.mailbox(old[0])
        if box.special_use == "\\Drafts":
            await ctx.store.expunge(box.id, [old[1]])


@protect
async def submit(request: Request) -> Response:
    ctx = require(request)
    data = await request.form()
    fields = {name: str(data.get(name) or "") for name in Draft.__dataclass_fields__ if name != "kept"}
    draft = Draft(**fields)
    draft.html = richtext.clean(draft.html) if draft.html.strip() else ""  # shown again if the form comes back
    draft.kept = [(str(n), "") for n in data.getlist("keep")]
    uploads = [u for u in data.getlist("files") if isinstance(u, UploadFile) and (u.filename or u.size)]
    fetched = request.headers.get("x-requested-with") == "fetch"
    if data.get("action") == "draft":
        try:
            draft.draft = await _save_draft(ctx, draft, uploads)
        except (SendError, QuotaExceeded) as e:
            if fetched:
                return JSONResponse({"error": str(e) or ctx._("the draft could not be saved")}, 400)
            return _form(ctx, draft, str(e), 400)
        if fetched:  # saved automatically while writing: the page stays, with the new draft's reference
            saved = await _prefill(ctx, _summary(ctx, draft.draft), "draft")
            return JSONResponse({"draft": draft.draft, "kept": saved.kept})
        ctx.flash(ctx._("Draft saved."))
        return RedirectResponse(f"/compose?mode=draft&ref={draft.draft}", 303)
    try:
        warning = await _send(ctx, draft, uploads, request.client.host if request.client else "unknown")
    except SendError as e:
        error = ctx._("The message was not sent: %s. It was kept in Drafts.", str(e))
        try:
            kept = await _save_draft(ctx, draft, uploads)
        except (SendError, QuotaExceeded):
            kept = draft.draft
        refilled = await _prefill(ctx, _summary(ctx, kept), "draft") if parse_ref(kept) else draft
        refilled.replied = draft.replied
        if kept == draft.draft:  # not saved anew: what is forwarded is not in the draft yet
            refilled.forward, refilled.carried = draft.forward, draft.carried
        if fetched:
            ctx.flash(error)
            return JSONResponse({"error": error, "location": f"/compose?mode=draft&ref={kept}"}, 400)
        return _form(ctx, refilled, error, 400)
    await _drop_old_draft(ctx, draft)
    replied = parse_ref(draft.replied)
    if replied is not None:
        await ctx.store.store_flags(ctx.mailbox(replied[0]).id, [replied[1]], ["\\Answered"], "add")
    ctx.flash(warning or ctx._("Message sent."))
    if fetched:  # sent by the page's script (to show upload progress): it goes where it is told
        return JSONResponse({"location": folder_url("INBOX")})
    return RedirectResponse(folder_url("INBOX"), 303)


def _summary(ctx: Ctx, ref_text: str) -> webmail.MessageSummary:
    ref = parse_ref(ref_text)
    assert ref is not None
    return webmail.summaries(ctx.store, ctx.mailbox(ref[0]).id, [ref[1]])[0]
