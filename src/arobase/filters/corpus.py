"""Reading training and evaluation mail from disk: Maildirs, mbox files, or plain folders of messages."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path


def to_crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def read_messages(path: Path) -> Iterator[bytes]:
    """Every message under `path` (CRLF line ends): an mbox file, a Maildir, or a folder of files."""
    if path.is_file():
        head = path.open("rb").read(5)
        if head == b"From ":
            box = mailbox.mbox(path, create=False)
            try:
                for key in box.iterkeys():
                    yield to_crlf(box.get_bytes(key))
            finally:
                box.close()
        else:
            yield to_crlf(path.read_bytes())
        return
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or directory")
    for child in sorted(path.rglob("*")):
        if child.is_file() and not child.name.startswith(".") and child.name not in ("cmds", "dovecot-uidlist"):
            yield from read_messages(child)
