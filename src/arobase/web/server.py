"""The webmail listener of `arobase serve`: uvicorn inside the server's own asyncio loop.

uvicorn's signal handling is switched off: `serve` owns SIGTERM/SIGINT/SIGHUP and stops every
listener itself. HTTPS uses the same reloadable TLS context as the mail protocols, so SIGHUP's
new certificate serves the next handshake here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import uvicorn

from ..app import App
from .app import create_app
from .core import Web

if TYPE_CHECKING:
    from ..server import Endpoint

log = logging.getLogger("arobase.web")

STARTUP_TIMEOUT = 10.0


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # `serve` handles the signals for every listener


class WebListener(asyncio.AbstractServer):
    """The uvicorn server seen as an asyncio server, so `serve` can close it like the others."""

    def __init__(self, server: _Uvicorn, task: asyncio.Task[None], web: Web, sock: socket.socket) -> None:
        self._server = server
        self._task = task
        self._web = web
        self._sock = sock

    def close(self) -> None:
        self._web.closing.set()  # live-update streams end, so shutdown need not wait for them
        self._server.should_exit = True

    async def wait_closed(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._task.get_loop()

    def is_serving(self) -> bool:
        return self._server.started and not self._task.done()

    async def start_serving(self) -> None:
        return None

    async def serve_forever(self) -> None:
        await self._task

    @property
    def sockets(self) -> tuple[Any, ...]:
        return (self._sock,)


def uses_tls(app: App, host: str) -> bool:
    mode = app.config.web.tls
    if mode != "auto":
        return mode == "on"
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"


async def open_web(app: App) -> list[Endpoint]:
    """Start the webmail on listen.http ("" disables it)."""
    from ..server import Endpoint, split_address

    address = app.config.listen.http
    if not address:
        return []
    host, port = split_address(address)
    secure = uses_tls(app, host)
    listener = await start_web(app, host, port, secure=secure)
    return [Endpoint("webmail", address, "implicit TLS" if secure else "none", listener)]


async def start_web(app: App, host: str, port: int, *, secure: bool) -> WebListener:
    asgi, web = create_app(app, secure=secure)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(1024)
    sock.setblocking(False)
    config = uvicorn.Config(
        asgi,
        log_config=None,
        access_log=False,
        lifespan="off",
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=5,
        ws="none",
    )
    config.load()
    if secure:
        config.ssl = app.tls.server_context()
    server = _Uvicorn(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="webmail")
    async with asyncio.timeout(STARTUP_TIMEOUT):
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the webmail stopped while starting")
            await asyncio.sleep(0.01)
    return WebListener(server, task, web, sock)
