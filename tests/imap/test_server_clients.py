"""The real listeners with real clients: imaplib and IMAPClient over STARTTLS and implicit TLS.

Blocking clients run in threads (`asyncio.to_thread`) while the listeners run on the test's loop.
"""

from __future__ import annotations

import asyncio
import imaplib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from imapclient import IMAPClient
from tests.imap.conftest import ARTHUR, MESSAGE, PASSWORDS, PIERRE, TIMEOUT, client_context

from arobase.app import App
from arobase.imap.server import Connections, start_listener
from arobase.imap.session import Limits


@dataclass
class Ports:
    imap: int
    imaps: int
    context: ssl.SSLContext


@pytest.fixture
async def ports(imap_app: App) -> AsyncIterator[Ports]:
    connections = Connections(per_ip=8, per_account=3)
    limits = Limits(append=200_000, idle_timeout=30.0)
    plain = await start_listener(imap_app, "127.0.0.1", 0, implicit_tls=False, limits=limits, connections=connections)
    tls = await start_listener(imap_app, "127.0.0.1", 0, implicit_tls=True, limits=limits, connections=connections)
    yield Ports(plain.sockets[0].getsockname()[1], tls.sockets[0].getsockname()[1], client_context(imap_app))
    for server in (plain, tls):
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)


def _imaplib_session(p: Ports) -> list[object]:
    seen: list[object] = []
    client = imaplib.IMAP4("127.0.0.1", p.imap, timeout=TIMEOUT)
    seen.append("LOGINDISABLED" in client.capabilities)
    seen.append(client.starttls(ssl_context=p.context)[0])
    seen.append("AUTH=PLAIN" in client.capabilities)
    seen.append(client.login(ARTHUR, PASSWORDS[ARTHUR])[0])
    seen.append(client.create("Projets/&AMk-t&AOk-")[0])
    seen.append(client.append("INBOX", r"(\Seen)", imaplib.Time2Internaldate(1_700_000_000), MESSAGE)[0])
    _typ, data = client.list()
    seen.append([line for line in data if isinstance(line, bytes) and b"Projets" in line])
    seen.append(client.status("INBOX", "(MESSAGES UNSEEN)"))
    seen.append(client.subscribe("Projets")[0])
    seen.append(client.lsub()[0])
    seen.append(client.rename("Projets", '"Archives 2024"')[0])
    seen.append(client.delete('"Archives 2024/&AMk-t&AOk-"')[0])
    seen.append(client.logout()[0])
    return seen


async def test_imaplib_starttls_session(ports: Ports) -> None:
    seen = await asyncio.wait_for(asyncio.to_thread(_imaplib_session, ports), TIMEOUT * 2)
    assert seen[:4] == [True, "OK", True, "OK"]
    assert seen[4:6] == ["OK", "OK"]
    assert seen[6] == [b'(\\HasChildren) "/" Projets', b'(\\HasNoChildren) "/" Projets/&AMk-t&AOk-']
    assert seen[7] == ("OK", [b"INBOX (MESSAGES 1 UNSEEN 0)"])
    assert seen[8:] == ["OK", "OK", "OK", "OK", "BYE"]


def _imapclient_session(p: Ports) -> dict[str, object]:
    out: dict[str, object] = {}
    with IMAPClient("127.0.0.1", port=p.imaps, ssl=True, ssl_context=p.context, timeout=TIMEOUT) as client:
        out["caps"] = client.capabilities()
        client.login(PIERRE, PASSWORDS[PIERRE])
        out["enabled"] = client.enable("UTF8=ACCEPT")
        client.create_folder("Reçus")
        out["folders"] = [name for _flags, _delim, name in client.list_folders()]
        out["special"] = {name: flags for flags, _delim, name in client.list_folders()}
        out["append"] = client.append("Reçus", MESSAGE, flags=[b"$Label1"])
        out["status"] = client.folder_status("Reçus", [b"MESSAGES", b"UIDNEXT", b"SIZE"])
        out["namespace"] = client.namespace()
        out["id"] = client.id_({"name": "pytest"})
    return out


async def test_imapclient_implicit_tls_utf8(ports: Ports) -> None:
    out = await asyncio.wait_for(asyncio.to_thread(_imapclient_session, ports), TIMEOUT * 2)
    caps = out["caps"]
    assert isinstance(caps, tuple) and b"IMAP4REV2" in caps and b"AUTH=PLAIN" in caps and b"STARTTLS" not in caps
    assert out["enabled"] == [b"UTF8=ACCEPT"]
    assert "Reçus" in out["folders"]  # type: ignore[operator]
    assert b"APPENDUID" in out["append"]  # type: ignore[operator]
    assert out["status"] == {b"MESSAGES": 1, b"UIDNEXT": 2, b"SIZE": len(MESSAGE)}
    special = out["special"]
    assert isinstance(special, dict) and special["Sent"] == (b"\\HasNoChildren", b"\\Sent")
    assert out["namespace"].personal == (("", "/"),)  # type: ignore[attr-defined]
    assert out["id"] == ((b"name", b"Arobase", b"vendor", b"Arobase"),)


async def test_idle_sees_delivery_without_polling(ports: Ports, imap_app: App) -> None:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", ports.imaps, ssl=ports.context), TIMEOUT
    )

    async def until(marker: bytes) -> bytes:
        data = b""
        while marker not in data:
            chunk = await asyncio.wait_for(reader.read(65536), TIMEOUT)
            assert chunk, data
            data += chunk
        return data

    try:
        await until(b"* OK")
        writer.write(f'a LOGIN {ARTHUR} "{PASSWORDS[ARTHUR]}"\r\nb SELECT INBOX\r\n'.encode())
        await until(b"b OK")
        writer.write(b"c IDLE\r\n")
        await until(b"+ idling")
        account = imap_app.accounts.get(ARTHUR)
        blob = await asyncio.to_thread(imap_app.store.put_message, MESSAGE)
        await imap_app.store.append(account.id, "INBOX", blob)
        assert b"* 1 EXISTS" in await until(b"EXISTS")
        writer.write(b"DONE\r\nd LOGOUT\r\n")
        assert b"c OK" in await until(b"d OK")
    finally:
        writer.close()


async def test_connection_limits(ports: Ports) -> None:
    clients = []
    try:
        for _ in range(8):
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", ports.imap), TIMEOUT)
            clients.append(writer)
            assert (await asyncio.wait_for(reader.readline(), TIMEOUT)).startswith(b"* OK")
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", ports.imap), TIMEOUT)
        clients.append(writer)
        assert (await asyncio.wait_for(reader.readline(), TIMEOUT)).startswith(b"* BYE Too many connections")
    finally:
        for writer in clients:
            writer.close()


def _per_account(p: Ports) -> list[str]:
    results = []
    clients = []
    for _ in range(4):
        client = imaplib.IMAP4_SSL("127.0.0.1", p.imaps, ssl_context=p.context, timeout=TIMEOUT)
        clients.append(client)
        try:
            results.append(client.login(ARTHUR, PASSWORDS[ARTHUR])[0])
        except imaplib.IMAP4.error as e:
            results.append(str(e))
    for client in clients:
        client.shutdown()
    return results


async def test_connections_per_account(ports: Ports) -> None:
    results = await asyncio.wait_for(asyncio.to_thread(_per_account, ports), TIMEOUT * 2)
    assert results[:3] == ["OK", "OK", "OK"]
    assert "Too many connections for this account" in results[3]


async def test_garbage_then_disconnect(ports: Ports) -> None:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", ports.imap), TIMEOUT)
    try:
        await asyncio.wait_for(reader.readline(), TIMEOUT)
        writer.write(b"\x16\x03\x01 garbage\r\n" * 30)
        data = await asyncio.wait_for(reader.read(), TIMEOUT)  # until the server closes
        assert data.count(b"BAD") == 20 and data.endswith(b"* BYE Too many errors\r\n")
    finally:
        writer.close()


async def test_autologout(imap_app: App) -> None:
    server = await start_listener(imap_app, "127.0.0.1", 0, implicit_tls=False, preauth_timeout=0.2)
    try:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        data = await asyncio.wait_for(reader.read(), TIMEOUT)
        assert data.endswith(b"* BYE Autologout; idle for too long\r\n")
        writer.close()
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)
