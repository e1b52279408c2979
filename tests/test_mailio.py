"""Import and export of Maildir trees and mbox files (services.mailio and the CLI commands)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from arobase.services.mailio import (
    Exporter,
    Importer,
    MailIOError,
    export_mail,
    import_mail,
    mbox_entry,
    mutf7_decode,
    mutf7_encode,
    to_crlf,
)
from arobase.store import Account, Store, migrate_store

ENV = {k: v for k, v in os.environ.items() if not k.startswith("AROBASE_")}

Snapshot = dict[str, list[tuple[bytes, tuple[str, ...], int]]]

# -- fixtures ---------------------------------------------------------------------------------

INBOX_NEW = b"From: Carol <carol@example.org>\nTo: a@example.test\nSubject: unread\n\nNot read yet.\n"
INBOX_8BIT = (
    b"From: =?utf-8?q?Ren=C3=A9?= <rene@example.fr>\nTo: a@example.test\nSubject: caf\xc3\xa9\n"
    b"Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\nCaf\xe9 cr\xe8me, \xa4 50.\n"
)
INBOX_FROM_LINE = (
    b"From: Dave <dave@example.org>\nTo: a@example.test\nSubject: quoting\n\n"
    b"Hello,\n\nFrom here on, mbox needs quoting.\n>From this one too, one level more.\nBye\n"
)
SENT = b"From: a@example.test\nTo: dave@example.org\nSubject: forwarded\n\nSee below.\n"
PROJECT = b"From: a@example.test\nTo: team@example.org\nSubject: draft plan\n\nTODO\n"

MBOX = (
    b"From alice@example.org Tue Nov 14 22:13:20 2023\n"
    b"Return-Path: <alice@example.org>\n"
    b"From: Alice <alice@example.org>\n"
    b"To: a@example.test\n"
    b"Subject: first\n"
    b"Status: RO\n"
    b"X-Status: AF\n"
    b"\n"
    b"Hello\n"
    b">From the quoted line\n"
    b">>From a doubly quoted one\n"
    b"\n"
    b"From bob@example.org Wed Nov 15 01:00:00 2023\n"
    b"From: bob@example.org\n"
    b"Subject: second\n"
    b"X-Keywords: $Forwarded Work\n"
    b"\n"
    b"Caf\xc3\xa9, not read.\n"
    b"\n"
    b"From MAILER-DAEMON Wed Nov 15 03:46:40 2023\n"
    b"Return-Path: <>\n"
    b"From: Mail System <postmaster@example.org>\n"
    b"Subject: bounce\n"
    b"Status: RO\n"
    b"X-Status: D\n"
    b"\n"
    b"Undeliverable.\n"
    b"\n"
)
# What the store must hold for MBOX: metadata headers gone, one level of quoting removed, CRLF.
MBOX_STORED = [
    (
        b"Return-Path: <alice@example.org>\r\nFrom: Alice <alice@example.org>\r\nTo: a@example.test\r\n"
        b"Subject: first\r\n\r\nHello\r\nFrom the quoted line\r\n>From a doubly quoted one\r\n",
        ("\\Answered", "\\Flagged", "\\Seen"),
        1700000000,
    ),
    (
        b"From: bob@example.org\r\nSubject: second\r\n\r\nCaf\xc3\xa9, not read.\r\n",
        ("$Forwarded", "Work"),
        1700010000,
    ),
    (
        b"Return-Path: <>\r\nFrom: Mail System <postmaster@example.org>\r\nSubject: bounce\r\n\r\nUndeliverable.\r\n",
        ("\\Deleted", "\\Seen"),
        1700020000,
    ),
]


def write_message(path: Path, data: bytes, mtime: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


def make_maildir(root: Path) -> Path:
    """A Dovecot-style Maildir++ tree: INBOX with new/ and cur/, .Sent, .Work.Projects, keywords."""
    for folder in (root, root / ".Sent", root / ".Work.Projects"):
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
    write_message(root / "new" / "1700000001.M1P10.host", INBOX_NEW, 1700000001)
    write_message(root / "cur" / "1700000002.M2P10.host:2,S", INBOX_8BIT, 1700000002)
    write_message(root / "cur" / "1700000003.M3P10.host:2,FRSab", INBOX_FROM_LINE, 1700000003)
    write_message(root / "tmp" / "1700000009.M9P10.host", b"Subject: half delivered\n\n", 1700000009)
    (root / "dovecot-keywords").write_text("0 Work\n1 $Label1\n")
    (root / "dovecot-uidlist").write_text("3 V1 N4\n1 :1700000001.M1P10.host\n")
    write_message(root / ".Sent" / "cur" / "1700000004.M4P10.host:2,PS", SENT, 1700000004)
    (root / ".Sent" / "maildirfolder").touch()
    write_message(root / ".Work.Projects" / "cur" / "1700000005.M5P10.host:2,DTa", PROJECT, 1700000005)
    (root / ".Work.Projects" / "dovecot-keywords").write_text("0 Urgent\n")
    return root


MAILDIR_STORED: Snapshot = {  # as snapshot() gives it: sorted by bytes
    "INBOX": [
        (to_crlf(INBOX_NEW), (), 1700000001),
        (to_crlf(INBOX_8BIT), ("\\Seen",), 1700000002),
        (to_crlf(INBOX_FROM_LINE), ("$Label1", "Work", "\\Answered", "\\Flagged", "\\Seen"), 1700000003),
    ],
    "Sent": [(to_crlf(SENT), ("$Forwarded", "\\Seen"), 1700000004)],
    "Work/Projects": [(to_crlf(PROJECT), ("Urgent", "\\Deleted", "\\Draft"), 1700000005)],
}
MAILDIR_STORED = {name: sorted(items) for name, items in MAILDIR_STORED.items()}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A bare store (no configuration needed), without fsync to keep the tests fast."""
    migrate_store(tmp_path / "data")
    store = Store(tmp_path / "data", fsync=False)
    yield store
    store.close()


@pytest.fixture
def account(store: Store) -> Account:
    return new_account(store, "a")


def new_account(store: Store, local: str) -> Account:
    if store.get_domain("example.test") is None:
        store.add_domain("example.test").wait()
    address = f"{local}@example.test"
    return store.add_account(address, address, "example.test", "not-a-real-hash").wait()


def snapshot(store: Store, account: Account, *, only_full: bool = True) -> Snapshot:
    """Folder -> sorted (bytes, flags, internal date) of its messages; empty folders left out if only_full."""
    result: Snapshot = {}
    for box in store.list_mailboxes(account.id):
        messages = store.list_messages(box.id)
        if box.selectable and (messages or not only_full):
            result[box.name] = sorted(
                (store.read_blob(m.blob), tuple(sorted(m.flags)), int(m.internal_date.timestamp())) for m in messages
            )
    return result


def folders(store: Store, account: Account) -> set[str]:
    return {box.name for box in store.list_mailboxes(account.id) if box.selectable}


# -- import -----------------------------------------------------------------------------------


def test_import_maildir_tree(store: Store, account: Account, tmp_path: Path) -> None:
    source = make_maildir(tmp_path / "Maildir")
    before = {path: path.read_bytes() for path in source.rglob("*") if path.is_file()}
    progress: list[int] = []
    report = import_mail(store, account.id, source, progress=progress.append)
    assert report.messages == 5 and sum(progress) == 5 and not report.skipped
    assert report.folders == ["INBOX", "Sent", "Work/Projects"]
    assert snapshot(store, account) == MAILDIR_STORED
    assert {"Work", "Work/Projects"} <= folders(store, account)  # the parent exists, as in the source's hierarchy
    assert {path: path.read_bytes() for path in source.rglob("*") if path.is_file()} == before  # source untouched


def test_import_maildir_twice_keeps_everything(store: Store, account: Account, tmp_path: Path) -> None:
    source = make_maildir(tmp_path / "Maildir")
    import_mail(store, account.id, source)
    import_mail(store, account.id, source)
    assert snapshot(store, account) == {name: sorted(items * 2) for name, items in MAILDIR_STORED.items()}


def test_import_nested_maildirs_and_folder_names(store: Store, account: Account, tmp_path: Path) -> None:
    root = tmp_path / "mail"
    write_message(root / "Lists" / "Python" / "cur" / "1.M1.h:2,S", b"Subject: nested\n\nx\n", 1600000000)
    (root / "Lists" / "Python" / "new").mkdir()
    write_message(root / ".JUNK" / "cur" / "2.M2.h:2,", b"Subject: spam\n\nx\n", 1600000001)
    (root / ".JUNK" / "new").mkdir()
    write_message(root / ".Envoy&AOk-s.2023" / "new" / "3.M3.h:2,S", b"Subject: sent\n\nx\n", 1600000002)
    (root / ".Envoy&AOk-s.2023" / "cur").mkdir()
    write_message(root / ".R&D" / "cur" / "4.M4.h", b"Subject: research\n\nx\n", 1600000003)
    (root / ".R&D" / "new").mkdir()
    write_message(root / ".inbox" / "cur" / "5.M5.h", b"Subject: lower-case inbox\n\nx\n", 1600000004)
    (root / ".inbox" / "new").mkdir()
    report = import_mail(store, account.id, root)
    assert sorted(report.folders) == ["Envoyés/2023", "INBOX", "Junk", "Lists/Python", "R&D"]
    got = snapshot(store, account)
    assert got["Junk"] == [(b"Subject: spam\r\n\r\nx\r\n", (), 1600000001)]
    assert got["Envoyés/2023"][0][1] == ()  # a message in new/ is never \Seen
    assert got["Lists/Python"][0][1] == ("\\Seen",)
    assert "JUNK" not in folders(store, account)


def test_import_keeps_two_folders_differing_only_in_case(store: Store, account: Account, tmp_path: Path) -> None:
    root = tmp_path / "mail"
    for name in (".Sent", ".sent"):
        write_message(root / name / "cur" / "1.M1.h:2,S", f"Subject: {name}\n\nx\n".encode(), 1600000000)
        (root / name / "new").mkdir()
    import_mail(store, account.id, root)
    got = snapshot(store, account)
    assert got["Sent"][0][0].startswith(b"Subject: .Sent") and got["sent"][0][0].startswith(b"Subject: .sent")


def test_import_mbox(store: Store, account: Account, tmp_path: Path) -> None:
    source = tmp_path / "mail.mbox"
    source.write_bytes(MBOX)
    report = import_mail(store, account.id, source, folder="archive")  # lands in the existing Archive
    assert report.messages == 3 and report.folders == ["Archive"]
    assert snapshot(store, account) == {"Archive": sorted(MBOX_STORED)}


def test_import_mbox_crlf_unparseable_date_and_pseudo_message(store: Store, account: Account, tmp_path: Path) -> None:
    pseudo = (
        b"From MAILER-DAEMON Tue Nov 14 22:13:20 2023\nDate: Tue, 14 Nov 2023 22:13:20 +0000\n"
        b"From: Mail System Internal Data <MAILER-DAEMON@example.test>\n"
        b"Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\nX-IMAP: 1700000000 0000000002\n\n"
        b"This text is part of the internal format of your mail folder.\n\n"
    )
    body = (
        b"From someone sometime\r\nSubject: crlf\r\nX-UID: 7\r\nX-Keywords: a,b\r\n  c\r\n\r\nline\r\n\r\n"
        b"From x@example.org Mon Nov 13 10:00:00 +0200 2023\nSubject: zoned\nX-Mozilla-Status: 0003\n\nz\n\n"
    )
    source = tmp_path / "mail.mbox"
    source.write_bytes(pseudo + body)
    before = datetime.now(UTC).timestamp()
    import_mail(store, account.id, source)
    first, second = sorted(
        store.list_messages(store.get_mailbox(account.id, "INBOX").id), key=lambda m: m.internal_date
    )
    assert store.read_blob(first.blob) == b"Subject: zoned\r\n\r\nz\r\n"
    assert first.flags == {"\\Seen", "\\Answered"}
    assert int(first.internal_date.timestamp()) == 1699862400  # 10:00 at +0200 is 08:00 UTC
    assert store.read_blob(second.blob) == b"Subject: crlf\r\n\r\nline\r\n"
    assert second.flags == {"a", "b", "c"}
    assert second.internal_date.timestamp() >= before - 1  # no date in the From_ line: now


def test_import_errors(store: Store, account: Account, tmp_path: Path) -> None:
    with pytest.raises(MailIOError, match="no such file"):
        Importer(store, account.id, tmp_path / "missing")
    text = tmp_path / "notes.txt"
    text.write_text("Subject: not an mbox\n\n")
    with pytest.raises(MailIOError, match="not an mbox file"):
        Importer(store, account.id, text)
    (tmp_path / "empty-dir" / "photos").mkdir(parents=True)
    with pytest.raises(MailIOError, match="not a Maildir"):
        Importer(store, account.id, tmp_path / "empty-dir")
    with pytest.raises(MailIOError, match="--folder applies to mbox"):
        Importer(store, account.id, make_maildir(tmp_path / "Maildir"), folder="Work")
    mbox = tmp_path / "mail.mbox"
    mbox.write_bytes(MBOX)
    with pytest.raises(MailIOError, match="invalid mailbox name"):
        Importer(store, account.id, mbox, folder="bad/")
    assert snapshot(store, account) == {}


def test_import_reports_unreadable_files_and_stops_on_quota(store: Store, account: Account, tmp_path: Path) -> None:
    source = make_maildir(tmp_path / "Maildir")
    importer = Importer(store, account.id, source)
    (source / "cur" / "1700000002.M2P10.host:2,S").unlink()  # vanished between the scan and the import
    report = importer.run()
    assert report.messages == 4 and len(report.skipped) == 1 and "1700000002" in report.skipped[0]

    store.update_account(account.id, quota=store.get_account(account.id).used + 150).wait()
    with pytest.raises(MailIOError, match=r"stopped after importing 1 message: .*quota"):
        import_mail(store, account.id, source)


# -- export -----------------------------------------------------------------------------------


def test_maildir_round_trip(store: Store, account: Account, tmp_path: Path) -> None:
    source = make_maildir(tmp_path / "Maildir")
    import_mail(store, account.id, source)
    target = tmp_path / "export"
    report = export_mail(store, account.id, target, hostname="mx/1:a.example.test")
    assert report.messages == 5 and not report.skipped and not report.warnings
    assert report.folders == ["INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash", "Work", "Work/Projects"]
    # Maildir++ layout, Dovecot keywords, mtime = internal date, LF bytes identical to the originals
    assert (target / ".Work.Projects" / "maildirfolder").exists() and (target / ".Work" / "tmp").is_dir()
    assert not (target / "maildirfolder").exists()
    assert (target / ".Work.Projects" / "dovecot-keywords").read_text() == "0 Urgent\n"
    names = sorted(path.name for path in (target / "cur").iterdir())
    assert all(r"mx\0571\072a.example.test:2," in name for name in names)
    assert [name.rpartition(":2,")[2] for name in names] == ["", "S", "FRSab"]
    assert (target / "dovecot-keywords").read_text() == "0 $Label1\n1 Work\n"
    exported = {p.read_bytes(): int(p.stat().st_mtime) for p in target.rglob("*") if p.parent.name == "cur"}
    originals = {p.read_bytes(): int(p.stat().st_mtime) for p in source.rglob("*") if p.parent.name in ("cur", "new")}
    assert exported == originals

    second = new_account(store, "b")
    assert import_mail(store, second.id, target).messages == 5
    assert snapshot(store, second) == snapshot(store, account) == MAILDIR_STORED
    assert folders(store, second) == folders(store, account)
    assert store.check() == []  # counters, quota usage and blobs agree with the messages


def test_maildir_export_folder_names_and_keyword_limit(store: Store, account: Account, tmp_path: Path) -> None:
    for name in ("Envoyés", "v1.2/notes", "R&D"):
        store.create_mailbox(account.id, name).wait()
    many = [f"k{i:02d}" for i in range(30)]
    blob = store.put_message(b"Subject: tagged\r\n\r\nx\r\n")
    store.append(account.id, "v1.2/notes", blob, ["\\Seen", *many]).wait()
    store.append(account.id, "v1.2/notes", blob, many[:3]).wait()
    target = tmp_path / "export"
    report = export_mail(store, account.id, target)
    assert (target / ".Envoy&AOk-s" / "cur").is_dir() and (target / ".R&-D" / "cur").is_dir()
    assert (target / ".v1&AC4-2.notes" / "cur").is_dir()
    assert report.warnings == [
        "v1.2/notes: a Maildir folder holds at most 26 keywords; not exported: k26, k27, k28, k29"
    ]
    second = new_account(store, "b")
    import_mail(store, second.id, target)
    assert folders(store, second) == folders(store, account)
    flags = [set(item[1]) for item in snapshot(store, second)["v1.2/notes"]]
    assert {"\\Seen", *many[:26]} in flags and set(many[:3]) in flags


def test_mbox_export_is_byte_exact(store: Store, account: Account, tmp_path: Path) -> None:
    source = tmp_path / "in.mbox"
    source.write_bytes(MBOX)
    import_mail(store, account.id, source)
    target = tmp_path / "out" / "inbox.mbox"
    report = export_mail(store, account.id, target, format="mbox")
    assert report.messages == 3 and report.folders == ["INBOX"]
    assert target.read_bytes() == MBOX
    assert target.stat().st_mode & 0o777 == 0o600
    second = new_account(store, "b")
    import_mail(store, second.id, target)
    assert snapshot(store, second) == snapshot(store, account)


def test_maildir_to_mbox_round_trip(store: Store, account: Account, tmp_path: Path) -> None:
    import_mail(store, account.id, make_maildir(tmp_path / "Maildir"))
    target = tmp_path / "inbox.mbox"
    export_mail(store, account.id, target, format="mbox")
    data = target.read_bytes()
    assert b"\n>From here on, mbox needs quoting.\n>>From this one too" in data
    assert data.count(b"\nFrom ") == 2 and data.startswith(b"From carol@example.org Tue Nov 14 22:13:21 2023\n")
    second = new_account(store, "b")
    import_mail(store, second.id, target)
    assert snapshot(store, second) == {"INBOX": MAILDIR_STORED["INBOX"]}
    work = tmp_path / "work.mbox"
    export_mail(store, account.id, work, format="mbox", folder="Work/Projects")
    assert b"X-Status: TD\nX-Keywords: Urgent\n\nTODO\n\n" in work.read_bytes()


def test_mbox_entry_without_final_newline_or_headers() -> None:
    when = datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert mbox_entry(b"Subject: x", {"\\Seen"}, when) == b"From MAILER-DAEMON Sat Feb  3 04:05:06 2024\n" + (
        b"Subject: x\nStatus: RO\n\n"
    )
    assert mbox_entry(b"\r\nFrom me\r\nStatus: fake", set(), when).endswith(b"\n\n>From me\nStatus: fake\n\n")
    # an existing metadata header is replaced by the message's real flags
    assert b"Status" not in mbox_entry(b"Status: RO\r\nSubject: y\r\n\r\nz\r\n", set(), when)


def test_export_errors(store: Store, account: Account, tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("precious")
    with pytest.raises(MailIOError, match="not empty"):
        Exporter(store, account.id, full)
    with pytest.raises(MailIOError, match="is a directory"):
        Exporter(store, account.id, full, format="mbox")
    with pytest.raises(MailIOError, match="not empty"):
        Exporter(store, account.id, full / "keep.txt", format="mbox")
    with pytest.raises(MailIOError, match="is a file"):
        Exporter(store, account.id, full / "keep.txt")
    with pytest.raises(MailIOError, match="no folder Nope"):
        Exporter(store, account.id, tmp_path / "x.mbox", format="mbox", folder="Nope")
    with pytest.raises(MailIOError, match="--folder applies to mbox"):
        Exporter(store, account.id, tmp_path / "dir", folder="Sent")
    with pytest.raises(MailIOError, match="unknown export format"):
        Exporter(store, account.id, tmp_path / "x", format="pst")
    assert (full / "keep.txt").read_text() == "precious"
    empty = tmp_path / "empty.mbox"
    empty.touch()
    assert export_mail(store, account.id, empty, format="mbox").messages == 0  # an empty file may be reused


def test_modified_utf7() -> None:
    for text in ("Envoyés", "R&D", "日本語", "a.b", "&&", "emoji 📬 box", ""):
        assert mutf7_decode(mutf7_encode(text)) == text
        assert mutf7_decode(mutf7_encode(text, also=".")) == text
    assert mutf7_encode("Envoyés") == "Envoy&AOk-s"
    assert "." not in mutf7_encode("a.b", also=".")
    for bad in ("R&D", "&Jjo", "&A-"):
        with pytest.raises(ValueError):
            mutf7_decode(bad)


# -- the real command -------------------------------------------------------------------------


def arobase(data: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arobase.cli.main", "--data", str(data), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
    )


def test_cli_import_export(tmp_path: Path) -> None:
    data = tmp_path / "var"
    assert arobase(data, "init", str(data)).returncode == 0
    assert arobase(data, "domain", "add", "example.test").returncode == 0
    added = arobase(data, "user", "add", "a@example.test", "--password-stdin", stdin="correct horse\n")
    assert added.returncode == 0, added.stderr

    imported = arobase(data, "import", "a@example.test", str(make_maildir(tmp_path / "Maildir")))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout == "imported 5 messages into 3 folders\n"
    assert "importing" in imported.stderr and "5 items" in imported.stderr  # plain progress lines off a TTY

    exported = arobase(data, "export", "a@example.test", str(tmp_path / "out"), "--format", "maildir")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == "exported 5 messages from 8 folders\n"
    mbox = tmp_path / "inbox.mbox"
    exported = arobase(data, "export", "A@Example.TEST", str(mbox), "--format", "mbox")
    assert exported.returncode == 0 and exported.stdout == "exported 3 messages from 1 folder\n"

    again = arobase(data, "import", "a@example.test", str(mbox), "--folder", "Old/2023")
    assert again.returncode == 0 and again.stdout == "imported 3 messages into 1 folder\n"

    refused = arobase(data, "export", "a@example.test", str(tmp_path / "out"))
    assert refused.returncode == 1 and "not empty; refusing to overwrite" in refused.stderr
    unknown = arobase(data, "import", "nobody@example.test", str(mbox))
    assert unknown.returncode == 1 and "no account nobody@example.test" in unknown.stderr
    missing = arobase(data, "import", "a@example.test", str(tmp_path / "missing"))
    assert (
        missing.returncode == 1 and missing.stderr.startswith("arobase: error: ") and "no such file" in missing.stderr
    )
    assert "Traceback" not in refused.stderr + unknown.stderr + missing.stderr
