"""The reader's own settings: the signature added to new messages, replies and forwards, and the
senders whose remote images are always shown (chosen on their messages, undone here)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..store import webmail
from .core import protect, require

MAX_SIGNATURE = 2000


async def index(request: Request) -> Response:
    ctx = require(request)
    return ctx.render(
        "settings.html",
        title=ctx._("Settings"),
        signature=webmail.signature(ctx.store, ctx.account.id),
        image_senders=webmail.image_senders(ctx.store, ctx.account.id),
    )


@protect
async def save(request: Request) -> Response:
    ctx = require(request)
    form = await request.form()
    text = str(form.get("signature") or "").replace("\r\n", "\n").strip("\n")[:MAX_SIGNATURE]
    await webmail.save_signature(ctx.store, ctx.account.id, text)
    ctx.flash(ctx._("Settings saved."))
    return RedirectResponse("/settings", 303)


@protect
async def forget_images(request: Request) -> Response:
    """Stop showing remote images automatically for the chosen senders."""
    ctx = require(request)
    form = await request.form()
    senders = [str(s) for s in form.getlist("sender") if str(s)]
    await webmail.forget_image_senders(ctx.store, ctx.account.id, senders)
    ctx.flash(ctx._("Settings saved."))
    return RedirectResponse("/settings", 303)
