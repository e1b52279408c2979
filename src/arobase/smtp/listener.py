"""The SMTP listeners of `arobase serve`: MX, submission (STARTTLS) and submissions (implicit TLS).

Every listener uses `app.tls.server_context()`, the one SSLContext that SIGHUP reloads in place,
so a renewed certificate is used by the next handshake without dropping any connection.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..app import App
from .session import Connections, Mode, Settings, SMTPSession

if TYPE_CHECKING:
    from ..server import Endpoint

LABELS = {
    Mode.MX: ("SMTP (MX)", "STARTTLS"),
    Mode.SUBMISSION: ("SMTP submission", "STARTTLS"),
    Mode.SUBMISSIONS: ("SMTP submissions", "implicit TLS"),
}


async def start_listener(
    app: App, mode: Mode, host: str, port: int, connections: Connections | None = None
) -> asyncio.Server:
    """Listen for one kind of SMTP on host:port (port 0 picks a free one: read it from the server).

    Listeners given the same `connections` share the per-IP connection limit.
    """
    settings = Settings.from_config(app.config, mode)
    context = app.tls.server_context()
    loop = asyncio.get_running_loop()
    shared = connections or Connections(app.config.smtp.max_connections_per_ip)
    return await loop.create_server(
        lambda: SMTPSession(app, settings, shared),
        host,
        port,
        ssl=context if mode.implicit_tls else None,
        ssl_handshake_timeout=settings.command_timeout if mode.implicit_tls else None,
        reuse_address=True,
    )


async def open_smtp(app: App) -> list[Endpoint]:
    """The PROTOCOLS opener: start every SMTP listener that has an address in [listen]."""
    from ..server import Endpoint, split_address  # here: server.py imports this module

    endpoints = []
    connections = Connections(app.config.smtp.max_connections_per_ip)
    for mode, (service, tls) in LABELS.items():
        address = app.config.listen[mode.value]
        if not address:
            continue
        host, port = split_address(address)
        server = await start_listener(app, mode, host, port, connections)
        bound = server.sockets[0].getsockname()[1] if server.sockets else port
        shown = f"[{host}]:{bound}" if ":" in host else f"{host}:{bound}"
        endpoints.append(Endpoint(service, shown, tls, server))
    return endpoints
