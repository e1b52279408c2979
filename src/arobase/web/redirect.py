"""Plain HTTP on port 80 in production: every request is sent to the HTTPS webmail.

A browser typing the bare host name arrives here first. It gets a permanent redirect to the same
path over HTTPS and nothing else: no page, no cookie, no login form is ever served without TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from ..app import App

if TYPE_CHECKING:
    from ..server import Endpoint

MAX_HEAD = 8192
READ_TIMEOUT = 10.0


def redirect_response(head: bytes, hostname: str) -> bytes:
    """The reply to one request head: 301 to https://<hostname><path>, or 400 for a malformed request.

    The target is always our configured host name, whose certificate the HTTPS listener has,
    never the client's Host header.
    """
    request_line = head.partition(b"\r\n")[0]
    parts = request_line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1.") or not parts[1].startswith(b"/"):
        return b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    path = parts[1].decode("ascii", "replace")
    if path.startswith("//") or any(c in path for c in "\r\n\\"):
        path = "/"
    return (
        f"HTTP/1.1 301 Moved Permanently\r\nLocation: https://{hostname}{path}\r\n"
        "Content-Length: 0\r\nConnection: close\r\n\r\n"
    ).encode()


async def open_http_redirect(app: App) -> list[Endpoint]:
    """The PROTOCOLS opener: listen on listen.http_redirect when it has an address."""
    from ..server import Endpoint, split_address  # here: server.py imports this module

    address = app.config.listen.http_redirect
    if not address:
        return []
    hostname = app.config.server.hostname

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            head = b""
        writer.write(redirect_response(head, hostname))
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    host, port = split_address(address)
    server = await asyncio.start_server(handle, host, port, limit=MAX_HEAD, reuse_address=True)
    bound = server.sockets[0].getsockname()[1] if server.sockets else port
    return [Endpoint("HTTP -> HTTPS", f"{host}:{bound}", "none (redirects)", server)]
