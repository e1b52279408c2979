"""`arobase serve` starts the imap and imaps listeners from [listen] and lists them in its table."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

from tests.imap.conftest import ARTHUR, PASSWORDS, TIMEOUT, client_context

from arobase.config import CONFIG_NAME, LISTEN_DEFAULTS, load, render
from arobase.server import Server, startup_table


def free_address() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


async def test_serve_opens_imap_and_imaps(imap_template: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(imap_template, data)
    listen = {name: "" for name in LISTEN_DEFAULTS} | {"imap": free_address(), "imaps": free_address()}
    (data / CONFIG_NAME).write_text(render({"listen": listen}), encoding="utf-8")
    server = Server(load(data, environ={}))
    try:
        await server.start()
        table = startup_table(server.endpoints, data)
        assert [(e.service, e.tls) for e in server.endpoints] == [("IMAP", "STARTTLS"), ("IMAPS", "implicit TLS")]
        assert "IMAPS" in table
        port = int(server.endpoints[1].address.rsplit(":", 1)[1])
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=client_context(server.app)), TIMEOUT
        )
        assert (await asyncio.wait_for(reader.readline(), TIMEOUT)).startswith(b"* OK [CAPABILITY IMAP4rev1")
        writer.write(f'a LOGIN {ARTHUR} "{PASSWORDS[ARTHUR]}"\r\nb LOGOUT\r\n'.encode())
        data_in = await asyncio.wait_for(reader.read(), TIMEOUT)
        assert b"a OK [CAPABILITY" in data_in and data_in.endswith(b"b OK LOGOUT completed\r\n")
        writer.close()
    finally:
        await asyncio.wait_for(server.shutdown(), TIMEOUT * 2)
