"""The selected state through the real listener with real clients: imaplib and IMAPClient.

IMAPClient parses ENVELOPE and BODYSTRUCTURE fully, so it checks the ingest forms' syntax too.
"""

from __future__ import annotations

import asyncio
import imaplib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from imapclient import IMAPClient
from tests.imap.conftest import ARTHUR, PASSWORDS, TIMEOUT, client_context

from arobase.app import App
from arobase.imap.server import Connections, start_listener
from arobase.imap.session import Limits

from .engine_fixtures import message

CORPUS = Path("/work/shared/corpus/mime")
RAWS = [message(n, subject=f"subject {n}", sender="pierre@example.test" if n % 2 else "x@y.test") for n in range(4)]


@pytest.fixture
async def imaps_port(imap_app: App) -> AsyncIterator[int]:
    server = await start_listener(
        imap_app, "127.0.0.1", 0, implicit_tls=True, limits=Limits(append=2_000_000), connections=Connections()
    )
    yield server.sockets[0].getsockname()[1]
    server.close()
    await asyncio.wait_for(server.wait_closed(), TIMEOUT)


def deliver(app: App, raw: bytes, flags: tuple[str, ...] = ()) -> None:
    account = app.store.find_account(ARTHUR)
    assert account is not None
    app.store.deliver(
        app.store.put_message(raw), [(account.id, "INBOX")], datetime(2024, 5, 1, tzinfo=UTC), flags
    ).wait()
    time.sleep(0.02)  # the writer publishes to the sessions just after the commit returns


def snap(result: tuple[str, list[object]]) -> tuple[str, list[object]]:
    """imaplib hands out its own lists, which later responses extend: copy them."""
    return result[0], list(result[1])


def _imaplib(app: App, port: int) -> dict[str, object]:
    seen: dict[str, object] = {}
    client = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=client_context(app), timeout=TIMEOUT)
    client.login(ARTHUR, PASSWORDS[ARTHUR])
    seen["select empty"] = snap(client.select("INBOX"))
    seen["fetch empty"] = snap(client.fetch("1:*", "(FLAGS)"))
    for raw in RAWS:
        deliver(app, raw)
    seen["noop"] = snap(client.noop())
    seen["recent"] = snap(client.response("RECENT"))
    seen["fetch"] = snap(client.fetch("1:2", "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
    seen["search"] = snap(client.search(None, "FROM", "pierre"))
    seen["uid search"] = snap(client.uid("SEARCH", "UNSEEN", "SUBJECT", '"subject 3"'))
    seen["body sets seen"] = snap(client.fetch("1", "(BODY[TEXT])"))
    seen["store"] = snap(client.store("2:3", "+FLAGS", "(\\Deleted)"))
    seen["expunge"] = snap(client.expunge())
    seen["copy"] = snap(client.copy("1:*", "Archive"))
    seen["copyuid"] = snap(client.response("COPYUID"))
    seen["move"] = snap(client.uid("MOVE", "4", "Trash"))
    seen["after move"] = snap(client.fetch("1:*", "(UID)"))
    seen["close"] = snap(client.close())
    seen["logout"] = client.logout()[0]
    return seen


async def test_imaplib_selected_session(imap_app: App, imaps_port: int) -> None:
    seen = await asyncio.wait_for(asyncio.to_thread(_imaplib, imap_app, imaps_port), TIMEOUT * 2)
    assert seen["select empty"] == ("OK", [b"0"])
    assert seen["fetch empty"] == ("OK", [None])
    assert seen["noop"][0] == "OK"  # type: ignore[index]
    assert seen["recent"] == ("RECENT", [b"0", b"4"])
    assert seen["fetch"] == (
        "OK",
        [
            (
                b"1 (UID 1 FLAGS (\\Recent) RFC822.SIZE %d BODY[HEADER.FIELDS (SUBJECT)] {22}" % len(RAWS[0]),
                b"Subject: subject 0\r\n\r\n",
            ),
            b")",
            (
                b"2 (UID 2 FLAGS (\\Recent) RFC822.SIZE %d BODY[HEADER.FIELDS (SUBJECT)] {22}" % len(RAWS[1]),
                b"Subject: subject 1\r\n\r\n",
            ),
            b")",
        ],
    )
    assert seen["search"] == ("OK", [b"2 4"])
    assert seen["uid search"] == ("OK", [b"4"])
    body_fetch = seen["body sets seen"]
    assert body_fetch[1][1] == b")" or b"FLAGS (\\Seen \\Recent)" in body_fetch[1][1]  # type: ignore[index]
    assert seen["store"] == ("OK", [b"2 (FLAGS (\\Deleted \\Recent))", b"3 (FLAGS (\\Deleted \\Recent))"])
    assert seen["expunge"] == ("OK", [b"2", b"2"])
    assert seen["copy"][0] == "OK"  # type: ignore[index]
    assert seen["move"][0] == "OK"  # type: ignore[index]
    assert seen["after move"] == ("OK", [b"1 (UID 1)"])
    assert seen["close"][0] == "OK"  # type: ignore[index]


def _imapclient(app: App, port: int, raws: list[bytes]) -> dict[str, object]:
    out: dict[str, object] = {}
    with IMAPClient("127.0.0.1", port=port, ssl=True, ssl_context=client_context(app), timeout=TIMEOUT) as client:
        client.login(ARTHUR, PASSWORDS[ARTHUR])
        out["select"] = client.select_folder("INBOX")
        uids = client.search(["ALL"])
        out["structures"] = client.fetch(uids, ["ENVELOPE", "BODYSTRUCTURE", "BODY", "INTERNALDATE", "FLAGS"])
        out["bodies"] = client.fetch(uids, ["BODY.PEEK[]"])
        out["unseen"] = client.search(["UNSEEN"])
        out["since"] = client.search(["SINCE", datetime(2024, 4, 30).date()])
        client.add_flags([1], [b"$Read"])
        out["flags"] = client.get_flags([1])
        out["move"] = client.move([1], "Trash")
        out["exists"] = client.select_folder("INBOX", readonly=True)[b"EXISTS"]
    return out


async def test_imapclient_parses_every_structure(imap_app: App, imaps_port: int) -> None:
    files = sorted(p for p in CORPUS.rglob("*.eml") if p.stat().st_size < 200_000)[:40]
    files += sorted(CORPUS.glob("cpython-test_email/msg_*.txt"))[:20]
    raws = [p.read_bytes() for p in files]
    for raw in raws:
        deliver(imap_app, raw)
    out = await asyncio.wait_for(asyncio.to_thread(_imapclient, imap_app, imaps_port, raws), TIMEOUT * 4)
    assert out["select"][b"EXISTS"] == len(raws)  # type: ignore[index]
    structures = out["structures"]
    assert len(structures) == len(raws)  # type: ignore[arg-type]
    for data in structures.values():  # type: ignore[attr-defined]
        assert b"ENVELOPE" in data and b"BODYSTRUCTURE" in data
    bodies = out["bodies"]
    stored = {raw for raw in raws}
    assert {data[b"BODY[]"] for data in bodies.values()} == stored  # type: ignore[attr-defined]
    assert out["unseen"] == list(range(1, len(raws) + 1))
    assert out["since"] == list(range(1, len(raws) + 1))
    assert out["flags"] == {1: (b"$Read",)}
    assert out["exists"] == len(raws) - 1
