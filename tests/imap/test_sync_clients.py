"""Two real sync clients from Debian against the real listeners: mbsync (isync, STARTTLS), offlineimap3 (imaps).

Each does a full two-way sync between a local Maildir and the server account: messages in INBOX
and a subfolder come down, then changes made on both sides (new messages, flag changes, a move,
new folders) go across and both sides must agree.

What is compared: for every folder, the multiset of (message bytes, system flags). Both clients
store messages in Maildir with bare LF line ends while IMAP carries CRLF, so a local file is
compared after LF -> CRLF (the test's messages are pure CRLF on the server, so this is exact);
flags come from the Maildir file name (`:2,FRS`) and from the store, keywords aside (neither
client is configured to map them). mbsync writes an X-TUID header into each message it copies,
on either side, so for mbsync that one header line is removed before comparing. Both clients keep
mailbox names in modified UTF-7 on disk, as the server sends them.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.imap.conftest import ARTHUR, PASSWORDS, TIMEOUT

from arobase.app import App
from arobase.imap.server import Connections, start_listener
from arobase.imap.session import Limits
from arobase.imap.wire import utf7
from arobase.store.models import SYSTEM_FLAGS

SYNC_TIMEOUT = 20.0
LETTERS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}
SUBFOLDER = "Projets/Clients"

State = dict[str, list[tuple[bytes, frozenset[str]]]]


def mail(n: int, subject: str, body: bytes = b"Hello.") -> bytes:
    """A CRLF message with 8-bit bytes, trailing spaces and a body line starting with 'From '."""
    return (
        (
            f"From: Pierre <pierre.durand@example.test>\r\nTo: {ARTHUR}\r\nSubject: {subject}\r\n"
            f"Date: Mon, 6 May 2024 10:0{n % 10}:00 +0200\r\nMessage-ID: <sync-{n}@example.test>\r\n"
            "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        ).encode()
        + body
        + b"\r\nFrom the caf\xe9,  \r\n\tindented\r\n"
    )


@dataclass
class Server:
    """The listeners and the account; changes go straight to the store, as deliveries and other sessions make them."""

    app: App
    port: int  # implicit TLS
    starttls_port: int
    cert: Path
    account_id: int

    async def add(self, mailbox: str, raw: bytes, flags: tuple[str, ...] = ()) -> int:
        blob = await asyncio.to_thread(self.app.store.put_message, raw)
        _box, uid = await self.app.store.append(self.account_id, mailbox, blob, flags)
        return uid

    async def create(self, name: str) -> None:
        await self.app.store.create_mailbox(self.account_id, name)

    async def flag(self, mailbox: str, uid: int, flags: tuple[str, ...]) -> None:
        box = self.app.store.get_mailbox(self.account_id, mailbox)
        assert box is not None
        await self.app.store.store_flags(box.id, [uid], flags, "add")

    def state(self, canonical: Callable[[bytes], bytes]) -> State:
        """Every selectable mailbox's (bytes, system flags), sorted, to compare with `local_state`."""
        store = self.app.store
        out: State = {}
        for box in store.list_mailboxes(self.account_id):
            if box.selectable:
                out[box.name] = sorted(
                    (canonical(store.read_blob(m.blob)), m.flags & frozenset(SYSTEM_FLAGS))
                    for m in store.list_messages(box.id)
                )
        return out


@pytest.fixture
async def server(imap_app: App) -> AsyncIterator[Server]:
    listeners = [
        await start_listener(
            imap_app, "127.0.0.1", 0, implicit_tls=tls, limits=Limits(append=2_000_000), connections=Connections()
        )
        for tls in (True, False)
    ]
    ports = [listener.sockets[0].getsockname()[1] for listener in listeners]
    yield Server(imap_app, *ports, imap_app.config.tls_cert, imap_app.accounts.get(ARTHUR).id)
    for listener in listeners:
        listener.close()
        await asyncio.wait_for(listener.wait_closed(), TIMEOUT)


@dataclass
class Client:
    """How to configure and run one client, and how it names folders on disk."""

    name: str
    configure: Callable[[Path, Server], list[str]]
    sep: str  # the hierarchy separator in Maildir folder names ('/' nests directories)
    canonical: Callable[[bytes], bytes] = lambda raw: raw  # undoes what the client adds on purpose

    def folder(self, name: str) -> str:
        """The Maildir folder (relative to the root) holding IMAP mailbox `name`."""
        return utf7.encode(name).replace("/", self.sep)


def _mbsync(home: Path, server: Server) -> list[str]:
    root = home / "Mail"
    rc = home / ".mbsyncrc"
    rc.write_text(
        f"IMAPAccount arobase\nHost 127.0.0.1\nPort {server.starttls_port}\nUser {ARTHUR}\nPass {PASSWORDS[ARTHUR]}\n"
        f"SSLType STARTTLS\nCertificateFile {server.cert}\nTimeout 10\n\n"
        "IMAPStore far\nAccount arobase\n\n"
        f"MaildirStore near\nPath {root}/\nInbox {root}/INBOX\nSubFolders Verbatim\n\n"
        "Channel sync\nFar :far:\nNear :near:\nPatterns *\nCreate Both\nExpunge Both\nSyncState *\n",
        encoding="utf-8",
    )
    return ["mbsync", "-c", str(rc), "-a"]


def _offlineimap(home: Path, server: Server) -> list[str]:
    root = home / "Mail"
    der = ssl.PEM_cert_to_DER_cert(server.cert.read_text(encoding="ascii"))
    rc = home / ".offlineimaprc"
    rc.write_text(
        f"[general]\naccounts = arobase\nmetadata = {home / 'offlineimap'}\nui = basic\n\n"
        "[Account arobase]\nlocalrepository = near\nremoterepository = far\n\n"
        f"[Repository near]\ntype = Maildir\nlocalfolders = {root}\n\n"
        f"[Repository far]\ntype = IMAP\nremotehost = 127.0.0.1\nremoteport = {server.port}\n"
        f"remoteuser = {ARTHUR}\nremotepass = {PASSWORDS[ARTHUR]}\nssl = yes\n"
        f"cert_fingerprint = {hashlib.sha256(der).hexdigest()}\ntimeout = 10\n",
        encoding="utf-8",
    )
    return ["offlineimap", "-c", str(rc), "-o", "-u", "basic"]


def without_tuid(raw: bytes) -> bytes:
    """mbsync writes an X-TUID header into every message it propagates (its crash-recovery tag)."""
    header, sep, body = raw.partition(b"\r\n\r\n")
    return re.sub(rb"(?m)^X-TUID: [^\r\n]*\r\n", b"", header + b"\r\n")[:-2] + sep + body


CLIENTS = [
    Client("mbsync", _mbsync, "/", without_tuid),
    Client("offlineimap", _offlineimap, "."),
]


async def run(argv: list[str], home: Path) -> str:
    """Run the client once; it must succeed within SYNC_TIMEOUT."""
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env, cwd=home
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), SYNC_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    return text


def maildir_flags(filename: str) -> frozenset[str]:
    _, _, info = filename.partition(":2,")
    return frozenset(LETTERS[c] for c in info if c in LETTERS)


def local_state(root: Path, client: Client) -> State:
    out: State = {}
    for cur in root.rglob("cur"):
        path = cur.parent
        items = []
        for sub in ("cur", "new"):
            for f in (path / sub).iterdir():
                raw = f.read_bytes()
                assert b"\r" not in raw, f  # Maildir convention: LF line ends
                items.append((client.canonical(raw.replace(b"\n", b"\r\n")), maildir_flags(f.name)))
        out[utf7.decode(path.relative_to(root).as_posix().replace(client.sep, "/"))] = sorted(items)
    return out


def find(root: Path, folder: str, message_id: bytes) -> Path:
    for sub in ("cur", "new"):
        for f in (root / folder / sub).iterdir():
            if message_id in f.read_bytes():
                return f
    raise AssertionError(f"{message_id!r} not in {folder}")


def deliver_local(root: Path, folder: str, raw: bytes, letters: str) -> None:
    """What a MUA does: write to tmp/, rename into cur/ with the flags in the name."""
    for sub in ("cur", "new", "tmp"):
        (root / folder / sub).mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns()}.P{os.getpid()}.arobase-test"
    tmp = root / folder / "tmp" / name
    tmp.write_bytes(raw.replace(b"\r\n", b"\n"))
    tmp.rename(root / folder / "cur" / f"{name}:2,{letters}")


def strip_uid(name: str) -> str:
    """A moved file must lose its ',U=' (the UID belongs to the old folder), as MUAs are told to do."""
    base, sep, info = name.partition(":2,")
    return ",".join(p for p in base.split(",") if not p.startswith("U=")) + sep + info


def with_letters(path: Path, letters: str) -> Path:
    base, _, info = path.name.partition(":2,")
    target = path.parent.parent / "cur" / f"{base}:2,{''.join(sorted(set(info + letters)))}"
    path.rename(target)
    return target


@pytest.mark.parametrize("client", CLIENTS, ids=lambda c: c.name)
async def test_two_way_sync(client: Client, server: Server, tmp_path: Path) -> None:
    home = tmp_path / "home"
    root = home / "Mail"
    root.mkdir(parents=True)
    argv = client.configure(home, server)
    m1, m2, m3, m4 = (mail(n, f"message {n}") for n in range(1, 5))
    await server.create(SUBFOLDER)
    await server.add("INBOX", m1, ("\\Seen",))
    await server.add("INBOX", m2)
    uid3 = await server.add("INBOX", m3, ("\\Flagged",))
    await server.add(SUBFOLDER, m4, ("\\Seen", "\\Answered"))

    await run(argv, home)
    first = server.state(client.canonical)
    assert first["INBOX"] == sorted([(m1, {"\\Seen"}), (m2, frozenset()), (m3, {"\\Flagged"})])
    assert first[SUBFOLDER] == [(m4, {"\\Seen", "\\Answered"})]
    assert local_state(root, client) == first

    inbox, sub = client.folder("INBOX"), client.folder(SUBFOLDER)
    c1, c2 = mail(11, "written on the client"), mail(12, "new client folder")
    deliver_local(root, inbox, c1, "S")
    with_letters(find(root, inbox, b"<sync-2@"), "F")
    moved = find(root, inbox, b"<sync-1@")
    moved.rename(root / sub / "cur" / strip_uid(moved.name))
    deliver_local(root, client.folder("Nouveau"), c2, "")
    s1, s2 = mail(21, "delivered on the server"), mail(22, "new server folder")
    await server.add("INBOX", s1)
    await server.flag("INBOX", uid3, ("\\Seen",))
    await server.create("Serveur")
    await server.add("Serveur", s2, ("\\Flagged",))

    await run(argv, home)
    second = server.state(client.canonical)
    assert second["INBOX"] == sorted(
        [(m2, {"\\Flagged"}), (m3, {"\\Flagged", "\\Seen"}), (c1, {"\\Seen"}), (s1, frozenset())]
    )
    assert second[SUBFOLDER] == sorted([(m4, {"\\Seen", "\\Answered"}), (m1, {"\\Seen"})])
    assert second["Nouveau"] == [(c2, frozenset())]
    assert second["Serveur"] == [(s2, {"\\Flagged"})]
    assert local_state(root, client) == second

    await run(argv, home)  # nothing left to do: a third run changes neither side
    assert server.state(client.canonical) == second
    assert local_state(root, client) == second


@pytest.mark.parametrize("client", CLIENTS, ids=lambda c: c.name)
async def test_sync_removals_and_edges(client: Client, server: Server, tmp_path: Path) -> None:
    """Flag removals and deletions on both sides, a non-ASCII folder, a large message, no final CRLF."""
    home = tmp_path / "home"
    root = home / "Mail"
    root.mkdir(parents=True)
    argv = client.configure(home, server)
    big = mail(31, "large", b"".join(b"line %06d " % i + b"x" * 60 + b"\r\n" for i in range(3000)))
    tail = mail(32, "no final line end")[:-2]
    a, b, c = (mail(n, f"edge {n}") for n in range(33, 36))
    await server.create("Reçus")
    await server.add("Reçus", big, ("\\Seen",))
    await server.add("Reçus", tail, ("\\Draft",))
    await server.add("INBOX", a, ("\\Seen", "\\Flagged"))
    uid_b = await server.add("INBOX", b, ("\\Flagged", "\\Answered"))
    uid_c = await server.add("INBOX", c)
    await run(argv, home)
    assert local_state(root, client) == server.state(client.canonical)

    inbox = client.folder("INBOX")
    seen = find(root, inbox, b"<sync-33@")
    base, _, _info = seen.name.partition(":2,")
    seen.rename(seen.parent / f"{base}:2,F")  # the client marks it unread
    find(root, client.folder("Reçus"), b"<sync-32@").unlink()  # and deletes a message
    box = server.app.store.get_mailbox(server.account_id, "INBOX")
    assert box is not None
    await server.app.store.store_flags(box.id, [uid_b], ("\\Flagged",), "remove")
    await server.app.store.expunge(box.id, [uid_c])
    await run(argv, home)
    state = server.state(client.canonical)
    assert state["INBOX"] == sorted([(a, {"\\Flagged"}), (b, {"\\Answered"})])
    assert state["Reçus"] == [(big, {"\\Seen"})]
    assert local_state(root, client) == state
