"""What every webmail route shares: sessions, the signed-in account, CSRF checks, page rendering.

Sessions live in memory in the one `serve` process (a restart signs everyone out, like the other
protocols' connections); the cookie only carries a random id. Every state-changing request must
carry the session's CSRF token (form field `csrf` or header X-CSRF-Token) and, when the browser
sends one, an Origin of this server.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from ..app import App
from ..config import parse_duration
from ..store import SPECIAL_MAILBOXES, Account, Mailbox
from .i18n import LANGUAGES, negotiate, translator

HERE = Path(__file__).parent
MAX_SESSIONS = 100_000
SPECIAL_ORDER = {"INBOX": 0, "Drafts": 1, "Sent": 2, "Archive": 3, "Junk": 4, "Trash": 5}
ICONS = {"INBOX": "✉", "\\Drafts": "✎", "\\Sent": "➤", "\\Archive": "▦", "\\Junk": "⚠", "\\Trash": "✖"}
SPECIAL_NAMES = {"INBOX": "Inbox", **{use: name for name, use in SPECIAL_MAILBOXES.items()}}


class LoginRequired(Exception):
    """No valid session: pages redirect to the login form, scripts get 401."""


@dataclass(slots=True)
class WebSession:
    id: str
    csrf: str
    account_id: int
    created: float
    seen: float
    flash: list[str] = field(default_factory=list)


class Web:
    """The webmail's state inside one `serve` process."""

    def __init__(self, app: App, *, secure: bool, clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.secure = secure
        self.clock = clock
        web = app.config.web
        self.idle = parse_duration(web.session_idle)
        self.max_age = parse_duration(web.session_max)
        self.page_size = web.page_size
        self.max_upload = web.max_upload
        self.sessions: dict[str, WebSession] = {}
        self.cookie = "__Host-arobase" if secure else "arobase"
        self.pre_cookie = "__Host-arobase-login" if secure else "arobase-login"
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals["icon"] = folder_icon
        self.closing = asyncio.Event()

    # -- sessions ------------------------------------------------------------------------------

    def start_session(self, account: Account) -> WebSession:
        now = self.clock()
        if len(self.sessions) >= MAX_SESSIONS:
            self.prune()
        session = WebSession(secrets.token_urlsafe(32), secrets.token_urlsafe(32), account.id, now, now)
        self.sessions[session.id] = session
        return session

    def end_session(self, session_id: str) -> None:
        self.sessions.pop(session_id, None)

    def prune(self) -> None:
        now = self.clock()
        for key in [k for k, s in self.sessions.items() if self._expired(s, now)]:
            del self.sessions[key]

    def _expired(self, session: WebSession, now: float) -> bool:
        return now - session.seen > self.idle or now - session.created > self.max_age

    def session_of(self, request: Request) -> WebSession | None:
        session = self.sessions.get(request.cookies.get(self.cookie, ""))
        if session is None:
            return None
        now = self.clock()
        if self._expired(session, now):
            self.end_session(session.id)
            return None
        session.seen = now
        return session

    def set_cookie(self, response: Response, name: str, value: str, max_age: int | None = None) -> None:
        response.set_cookie(name, value, max_age=max_age, path="/", secure=self.secure, httponly=True, samesite="lax")


@dataclass(slots=True)
class Ctx:
    """One signed-in request."""

    web: Web
    request: Request
    session: WebSession
    account: Account
    lang: str
    _: Callable[..., str]

    @property
    def store(self) -> Any:
        return self.web.app.store

    def mailboxes(self) -> list[Mailbox]:
        return self.store.list_mailboxes(self.account.id)

    def mailbox(self, mailbox_id: int) -> Mailbox:
        """A mailbox of this account; anyone else's is "not found", never "forbidden"."""
        box = self.store.mailbox_by_id(mailbox_id)
        if box is None or box.account_id != self.account.id:
            raise HTTPException(404)
        return box

    def mailbox_named(self, name: str) -> Mailbox:
        try:
            box = self.store.get_mailbox(self.account.id, name)
        except Exception:
            box = None
        if box is None:
            raise HTTPException(404)
        return box

    def folder_name(self, box: Mailbox) -> str:
        key = "INBOX" if box.name == "INBOX" else box.special_use or ""
        if key in SPECIAL_NAMES and box.name.count("/") == 0:
            return self._(SPECIAL_NAMES[key])
        return box.name.rpartition("/")[2]

    def flash(self, text: str) -> None:
        self.session.flash.append(text)

    def render(self, template: str, status_code: int = 200, **context: Any) -> Response:
        boxes = self.mailboxes()
        flashes, self.session.flash = self.session.flash, []
        total_unread = sum(b.unseen for b in boxes if b.name == "INBOX")
        return self.web.templates.TemplateResponse(
            self.request,
            template,
            {
                "_": self._,
                "lang": self.lang,
                "languages": LANGUAGES,
                "account": self.account,
                "csrf": self.session.csrf,
                "folders": folder_tree(self, boxes),
                "flashes": flashes,
                "inbox_unread": total_unread,
                **context,
            },
            status_code=status_code,
        )


def folder_icon(box: Mailbox) -> str:
    key = "INBOX" if box.name == "INBOX" else box.special_use or ""
    return ICONS.get(key, "▸")


@dataclass(slots=True)
class FolderEntry:
    box: Mailbox
    label: str
    depth: int
    icon: str


def folder_tree(ctx: Ctx, boxes: list[Mailbox]) -> list[FolderEntry]:
    """Special folders first in their usual order, then the others alphabetically, children under parents."""

    def key(box: Mailbox) -> tuple:
        top = box.name.split("/")[0]
        return (SPECIAL_ORDER.get(top, 99), [part.casefold() for part in box.name.split("/")])

    return [FolderEntry(b, ctx.folder_name(b), b.name.count("/"), folder_icon(b)) for b in sorted(boxes, key=key)]


def language(web: Web, request: Request) -> str:
    chosen = request.cookies.get("lang", "")
    return chosen if chosen in LANGUAGES else negotiate(request.headers.get("accept-language", ""))


def web_of(request: Request) -> Web:
    return request.app.state.web


def require(request: Request) -> Ctx:
    """The signed-in context of a request, or LoginRequired."""
    web = web_of(request)
    session = web.session_of(request)
    if session is None:
        raise LoginRequired
    try:
        account = web.app.store.get_account(session.account_id)
    except Exception:
        account = None
    if account is None or account.disabled:
        web.end_session(session.id)
        raise LoginRequired
    lang = language(web, request)
    return Ctx(web, request, session, account, lang, translator(lang))


def same_origin(request: Request) -> bool:
    """A browser-sent Origin (or, failing that, Referer) must name this server."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True
    if origin == "null":
        return False
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


async def read_form(request: Request) -> FormData:
    web = web_of(request)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > web.max_upload + 1_048_576:
        raise HTTPException(413)
    return await request.form(max_files=100, max_fields=2000, max_part_size=web.max_upload)


def protect(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Every state-changing route is wrapped: signed in, right Origin, right CSRF token."""

    async def checked(request: Request) -> Response:
        ctx = require(request)
        form = await read_form(request)
        token = request.headers.get("x-csrf-token") or str(form.get("csrf") or "")
        if not same_origin(request) or not hmac.compare_digest(token.encode(), ctx.session.csrf.encode()):
            raise HTTPException(403, ctx._("Request refused (security check). Reload the page and try again."))
        return await handler(request)

    checked.__name__ = handler.__name__
    checked.__doc__ = handler.__doc__
    return checked


def folder_url(name: str) -> str:
    return "/mail/" + quote(name, safe="/")


def message_ref(mailbox_id: int, uid: int) -> str:
    return f"{mailbox_id}:{uid}"


def parse_ref(text: str) -> tuple[int, int] | None:
    box, _, uid = text.partition(":")
    return (int(box), int(uid)) if box.isdigit() and uid.isdigit() else None
