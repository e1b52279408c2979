"""Content-addressed message files, written durably before any metadata points at them.

A blob is named by the SHA-256 of its bytes, so a message delivered to many recipients or copied
between mailboxes is stored once. Writing is temp file, fsync, rename, fsync of the directory:
after `put` returns, the bytes survive a crash. Blobs that nothing references are removed by the
store's sweep, which leaves recent files alone so in-flight deliveries are never raced.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path


class BlobStore:
    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync
        root.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:]

    def put(self, data: bytes) -> str:
        """Store `data` durably and return its digest. Refreshes the age of an existing blob."""
        digest = self.digest(data)
        path = self.path(digest)
        if path.exists():
            os.utime(path)  # keeps the sweep away until the delivery commits
            return digest
        directory = path.parent
        created = not directory.exists()
        directory.mkdir(exist_ok=True)
        tmp = directory / f".{digest[2:]}.{os.getpid()}.{time.monotonic_ns()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        if self.fsync:
            self._fsync_dir(directory)
            if created:
                self._fsync_dir(self.root)
        return digest

    def get(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def exists(self, digest: str) -> bool:
        return self.path(digest).exists()

    def remove(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def scan(self, older_than: float) -> Iterator[str]:
        """Digests of blobs (and leftover temp files' paths are cleaned) not touched since `older_than`."""
        for directory in self.root.iterdir():
            if not directory.is_dir() or len(directory.name) != 2:
                continue
            for entry in os.scandir(directory):
                if entry.stat().st_mtime >= older_than:
                    continue
                if entry.name.endswith(".tmp"):
                    os.unlink(entry.path)  # a write interrupted by a crash
                else:
                    yield directory.name + entry.name

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
