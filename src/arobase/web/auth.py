"""Signing in and out, and the language switch.

The login form is protected against login CSRF by a double-submit token (a random cookie that
the form must echo), and it shares the failed-login throttle with SMTP, IMAP and POP3.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .core import LoginRequired, language, protect, read_form, require, same_origin, web_of
from .i18n import LANGUAGES, translator


def _safe_next(target: str) -> str:
    """Only local paths: never redirect to another site after login."""
    parts = urlsplit(target)
    if not target.startswith("/") or target.startswith("//") or parts.scheme or parts.netloc or "\\" in target:
        return "/"
    return target


def _login_page(request: Request, error: str = "", status: int = 200, address: str = "") -> Response:
    web = web_of(request)
    lang = language(web, request)
    token = request.cookies.get(web.pre_cookie) or secrets.token_urlsafe(24)
    response = web.templates.TemplateResponse(
        request,
        "login.html",
        {
            "_": translator(lang),
            "lang": lang,
            "languages": LANGUAGES,
            "error": error,
            "token": token,
            "address": address,
            "next": _safe_next(request.query_params.get("next", "/")),
        },
        status_code=status,
    )
    web.set_cookie(response, web.pre_cookie, token, max_age=3600)
    return response


async def login_form(request: Request) -> Response:
    web = web_of(request)
    if web.session_of(request) is not None:
        return RedirectResponse("/", 303)
    error = (
        translator(language(web, request))("Your session has expired; sign in again.")
        if "expired" in (request.query_params)
        else ""
    )
    return _login_page(request, error)


async def login(request: Request) -> Response:
    web = web_of(request)
    _ = translator(language(web, request))
    form = await read_form(request)
    expected = request.cookies.get(web.pre_cookie, "")
    token = str(form.get("token") or "")
    if not expected or not same_origin(request) or not hmac.compare_digest(token.encode(), expected.encode()):
        return _login_page(request, _("Request refused (security check). Reload the page and try again."), 403)
    address = str(form.get("address") or "").strip()
    password = str(form.get("password") or "")
    ip = request.client.host if request.client else "unknown"
    throttle = web.app.throttle
    if throttle.locked_for(ip, address or None) > 0:
        return _login_page(request, _("Too many failed attempts; try again later."), 429, address)
    account = await asyncio.to_thread(web.app.accounts.authenticate, address, password) if address else None
    if account is None:
        delay = throttle.login_failed(ip, address or None, service="web")
        if delay:
            await asyncio.sleep(delay)
        return _login_page(request, _("Wrong address or password."), 401, address)
    throttle.login_succeeded(ip, address)
    old = web.session_of(request)
    if old is not None:
        web.end_session(old.id)
    session = web.start_session(account)
    response = RedirectResponse(_safe_next(str(form.get("next") or "/")), 303)
    web.set_cookie(response, web.cookie, session.id)
    response.delete_cookie(web.pre_cookie, path="/", secure=web.secure, httponly=True, samesite="lax")
    return response


@protect
async def logout(request: Request) -> Response:
    web = web_of(request)
    session = web.session_of(request)
    if session is not None:
        web.end_session(session.id)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(web.cookie, path="/", secure=web.secure, httponly=True, samesite="lax")
    return response


async def set_language(request: Request) -> Response:
    """Switch language; accepted with the session's CSRF token, or the login form's token."""
    web = web_of(request)
    form = await read_form(request)
    token = str(form.get("csrf") or "")
    try:
        expected = require(request).session.csrf
    except LoginRequired:
        expected = request.cookies.get(web.pre_cookie, "")
    if not expected or not same_origin(request) or not hmac.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(403)
    lang = str(form.get("lang") or "")
    response = RedirectResponse(_safe_next(str(form.get("next") or "/")), 303)
    if lang in LANGUAGES:
        web.set_cookie(response, "lang", lang, max_age=365 * 86400)
    return response
