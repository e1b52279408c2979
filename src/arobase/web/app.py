"""The webmail as one Starlette application: routes, security headers, error pages."""

from __future__ import annotations

from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..app import App
from . import auth, compose, contacts, events, folders, messages, protection, search, settings
from .core import HERE, LoginRequired, Web

APP_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self';"
    " frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


class SecurityHeaders:
    """Headers every response gets unless the route set its own (the message frame does)."""

    def __init__(self, app: ASGIApp, *, secure: bool) -> None:
        self.app = app
        self.defaults = [
            (b"content-security-policy", APP_CSP.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),  # no-referrer would make Chromium send "Origin: null"
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"cross-origin-resource-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
        ]
        if secure:
            self.defaults.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in self.defaults if n not in present]
                if not static and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _login_required(request: Request, exc: Exception) -> Response:
    if request.method != "GET" or request.headers.get("x-requested-with") == "fetch":
        return JSONResponse({"error": "login required"}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")

    return RedirectResponse(f"/login?next={quote(target, safe='')}", 303)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return PlainTextResponse(exc.detail or "Error", status_code=exc.status_code)


def routes() -> list[Route | Mount]:
    return [
        Route("/", folders.home),
        Route("/login", auth.login_form, methods=["GET"]),
        Route("/login", auth.login, methods=["POST"]),
        Route("/logout", auth.logout, methods=["POST"]),
        Route("/lang", auth.set_language, methods=["POST"]),
        Route("/mail/{name:path}", folders.folder),
        Route("/folders", folders.manage),
        Route("/folders/create", folders.create, methods=["POST"]),
        Route("/folders/rename", folders.rename, methods=["POST"]),
        Route("/folders/delete", folders.delete, methods=["POST"]),
        Route("/folders/empty", folders.empty, methods=["POST"]),
        Route("/msg/{box:int}/{uid:int}", messages.read),
        Route("/msg/{box:int}/{uid:int}/frame", messages.frame),
        Route("/msg/{box:int}/{uid:int}/part/{number}", messages.part),
        Route("/msg/{box:int}/{uid:int}/part/{number}/view", messages.view),
        Route("/msg/{box:int}/{uid:int}/original", messages.original),
        Route("/images/allow", messages.allow_images, methods=["POST"]),
        Route("/actions", messages.act, methods=["POST"]),
        Route("/protection/judge", protection.judge, methods=["POST"]),
        Route("/protection/release", protection.release, methods=["POST"]),
        Route("/compose", compose.form, methods=["GET"]),
        Route("/compose", compose.submit, methods=["POST"]),
        Route("/search", search.search),
        Route("/contacts", contacts.index),
        Route("/contacts/save", contacts.save, methods=["POST"]),
        Route("/contacts/delete", contacts.delete, methods=["POST"]),
        Route("/contacts/import", contacts.import_, methods=["POST"]),
        Route("/contacts/export.vcf", contacts.export),
        Route("/contacts/complete", contacts.complete),
        Route("/settings", settings.index, methods=["GET"]),
        Route("/settings", settings.save, methods=["POST"]),
        Route("/settings/images/forget", settings.forget_images, methods=["POST"]),
        Route("/events", events.stream),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]


def create_app(app: App, *, secure: bool = False) -> tuple[Starlette, Web]:
    """The ASGI application for one `serve` process, and its state (sessions)."""
    web = Web(app, secure=secure)
    starlette = Starlette(
        routes=routes(),
        exception_handlers={LoginRequired: _login_required, HTTPException: _http_error},
        middleware=[],
    )
    starlette.state.web = web
    starlette.add_middleware(SecurityHeaders, secure=secure)
    return starlette, web
