"""Import and export of mail: Maildir trees (Maildir++ or nested) and mboxrd files.

The store keeps messages with CRLF line endings, as IMAP and POP3 send them, while Maildir and
mbox files conventionally use LF: import turns bare LF into CRLF (existing CRLF is left alone)
and export turns CRLF into LF, so a round trip of LF files is byte-exact. Flags travel in Maildir
file names (keywords through the folder's `dovecot-keywords` file) or in mbox Status/X-Status/
X-Keywords headers; those headers are mbox metadata and are never stored with the message.

Import never changes its source, and never deduplicates: importing twice gives two copies,
which is the user's choice, rather than risking a message judged "the same" being dropped.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import socket
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parseaddr
from pathlib import Path

from ..store import (
    DELIMITER,
    AlreadyExists,
    InvalidOperation,
    Mailbox,
    Pending,
    Store,
    StoredBlob,
    StoreError,
    normalize_mailbox_name,
)

__all__ = [
    "FORMATS",
    "Exporter",
    "Importer",
    "MailIOError",
    "Report",
    "export_mail",
    "import_mail",
]

FORMATS = ("maildir", "mbox")
BATCH = 200  # appends in flight before waiting: lets the store's writer group-commit them
WRITERS = 8  # threads writing message blobs ahead of the appends

MAILDIR_FLAGS = {
    "D": "\\Draft",
    "F": "\\Flagged",
    "P": "$Forwarded",
    "R": "\\Answered",
    "S": "\\Seen",
    "T": "\\Deleted",
}
_MAILDIR_LETTERS = {flag: letter for letter, flag in MAILDIR_FLAGS.items()}
_MAILDIR_KEYWORDS = 26  # lower-case letters a-z
_INFO_SEPARATORS = (":2,", "!2,", ";2,")  # "!" and ";" where a file system forbids ":"
_MAILDIR_SUBDIRS = ("cur", "new", "tmp")

X_STATUS_FLAGS = {"A": "\\Answered", "F": "\\Flagged", "T": "\\Draft", "D": "\\Deleted"}  # in writing order
_MOZILLA_FLAGS = {
    0x0001: "\\Seen",
    0x0002: "\\Answered",
    0x0004: "\\Flagged",
    0x0008: "\\Deleted",
    0x1000: "$Forwarded",
}
# Headers mbox programs (mutt, Dovecot, UW-IMAP, Thunderbird) keep their own state in.
_MBOX_METADATA = frozenset(
    {
        b"status",
        b"x-status",
        b"x-keywords",
        b"x-mozilla-status",
        b"x-mozilla-status2",
        b"x-mozilla-keys",
        b"x-uid",
        b"x-imap",
        b"x-imapbase",
    }
)
_QUOTED_FROM = re.compile(rb">+From ")
_FROM_TO_QUOTE = re.compile(rb"^(>*From )", re.MULTILINE)
_KEYWORD = re.compile(r"[!#$&\'+-\[^-z|}~]+")  # an IMAP atom: printable ASCII minus ( ) { % * " \ ]
_SENDER = re.compile(r"[^\s\x00-\x1f\x7f]+")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_FROM_DATE = re.compile(
    rb"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s+)?(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+(\d{1,2})\s+"
    rb"(\d{1,2}):(\d{2})(?::(\d{2}))?\s+(?:([+-]\d{4}|[A-Za-z]{1,5})\s+)?(\d{4})(?:\s+([+-]\d{4}))?"
)

Advance = Callable[[int], None]


class MailIOError(Exception):
    """An import or export that cannot go ahead (bad path, unknown format); the message is for the user."""


@dataclass(slots=True)
class Report:
    """What an import or export did, for the summary line; `skipped` messages were not transferred."""

    messages: int = 0
    folders: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


# -- import -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _MaildirFile:
    path: Path
    flags: frozenset[str]


@dataclass(slots=True)
class _MaildirFolder:
    name: str  # mailbox name as found on disk, before mapping onto the account's folders
    files: list[_MaildirFile]
    target: str = ""


class Importer:
    """Checks a source and plans the import up front, so mistakes fail before anything is stored.

    `total` is the number of messages to import, or None for an mbox file (not counted in advance
    so that a large file is read only once).
    """

    def __init__(self, store: Store, account_id: int, path: Path, *, folder: str | None = None) -> None:
        self.store = store
        self.account_id = account_id
        self.path = path
        self.warnings: list[str] = []
        self._folders: list[_MaildirFolder] = []
        self._mbox_target = ""
        self.total: int | None
        mailboxes = store.list_mailboxes(account_id)
        if path.is_dir():
            if folder is not None:
                raise MailIOError("--folder applies to mbox files only: a Maildir brings its own folders")
            self.format = "maildir"
            self._folders = _scan_maildir(path, self.warnings)
            targets = _map_folders([f.name for f in self._folders], mailboxes, str(path))
            for found in self._folders:
                found.target = targets[found.name]
            self.total = sum(len(found.files) for found in self._folders)
        elif path.is_file():
            head = _read_head(path)
            if head and not head.startswith(b"From "):
                raise MailIOError(
                    f"{path}: not an mbox file (it does not start with a 'From ' line) nor a Maildir directory"
                )
            self.format = "mbox"
            name = folder or "INBOX"
            self._mbox_target = _map_folders([name], mailboxes, "--folder")[name]
            self.total = None
        elif path.exists():
            raise MailIOError(f"{path}: neither a Maildir directory nor an mbox file")
        else:
            raise MailIOError(f"{path}: no such file or directory")

    def run(self, progress: Advance | None = None) -> Report:
        """Import every message; `progress(n)` is called as messages are committed."""
        report = Report(warnings=list(self.warnings))
        sink = _Sink(self.store, self.account_id, report, progress or (lambda n: None))
        try:
            if self.format == "maildir":
                self._run_maildir(sink, report)
            else:
                self._run_mbox(sink, report)
            sink.finish()
        except OSError as e:
            sink.abandon()
            raise MailIOError(f"stopped after importing {_messages(report.messages)}: {_os_error(e)}") from None
        except BaseException:
            sink.abandon()
            raise
        return report

    def _ensure_folder(self, name: str, report: Report) -> None:
        box = self.store.get_mailbox(self.account_id, name)
        if box is None or not box.selectable:
            with contextlib.suppress(AlreadyExists):  # created meanwhile by someone else: just as good
                self.store.create_mailbox(self.account_id, name).wait()
        if name not in report.folders:
            report.folders.append(name)

    def _run_maildir(self, sink: _Sink, report: Report) -> None:
        for found in self._folders:
            self._ensure_folder(found.target, report)
            for item in found.files:
                try:
                    with open(item.path, "rb") as f:
                        mtime = os.fstat(f.fileno()).st_mtime
                        data = f.read()
                except OSError as e:
                    report.skipped.append(f"{item.path}: {e.strerror or e}")
                    sink.progress(1)
                    continue
                when = datetime.fromtimestamp(int(mtime), UTC)
                sink.add(str(item.path), found.target, to_crlf(data), item.flags, when)

    def _run_mbox(self, sink: _Sink, report: Report) -> None:
        self._ensure_folder(self._mbox_target, report)
        now = datetime.now(UTC).replace(microsecond=0)
        for number, (from_line, lines) in enumerate(_mbox_entries(self.path)):
            data, flags, internal = _parse_mbox_entry(lines)
            if internal and number == 0:
                continue  # UW-IMAP/Dovecot "FOLDER INTERNAL DATA" pseudo-message, not mail
            label = f"{self.path} message {number + 1}"
            when = _from_line_date(from_line) or now
            sink.add(label, self._mbox_target, to_crlf(data), frozenset(flags), when)


class _Sink:
    """Stores messages in source order, with blob writes in parallel and appends group-committed.

    Writing a blob costs an fsync or two: done one after the other they, not the database,
    would cap an import at about a hundred messages a second. So a few threads write blobs
    ahead of the appends, which are issued in order (UIDs follow the source) and waited for
    in batches so that the store's writer commits many at once.
    """

    def __init__(self, store: Store, account_id: int, report: Report, progress: Advance) -> None:
        self.store = store
        self.account_id = account_id
        self.report = report
        self.progress = progress
        self._pool = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="arobase-import")
        self._writing: deque[tuple[str, str, Future[StoredBlob], frozenset[str], datetime]] = deque()
        self._pending: list[Pending[tuple[Mailbox, int]]] = []

    def add(self, label: str, mailbox: str, raw: bytes, flags: frozenset[str], internal_date: datetime) -> None:
        future = self._pool.submit(self.store.put_message, raw)
        self._writing.append((label, mailbox, future, flags, internal_date))
        while len(self._writing) > 2 * WRITERS:
            self._append_next()

    def _append_next(self) -> None:
        label, mailbox, future, flags, internal_date = self._writing.popleft()
        try:
            blob = future.result()
        except OSError:
            raise
        except Exception as e:  # one message the parser chokes on must not stop a 50,000-message import
            self.report.skipped.append(f"{label}: {type(e).__name__}: {e}")
            self.progress(1)
            return
        self._pending.append(self.store.append(self.account_id, mailbox, blob, flags, internal_date))
        if len(self._pending) >= BATCH:
            self._wait()

    def _wait(self) -> None:
        """Wait for the appends in flight; the first store error stops the import, after counting the rest."""
        pending, self._pending = self._pending, []
        done = 0
        error: StoreError | None = None
        for item in pending:
            try:
                item.wait()
                done += 1
            except StoreError as e:
                error = error or e
        self.report.messages += done
        if done:
            self.progress(done)
        if error is not None:
            raise MailIOError(f"stopped after importing {_messages(self.report.messages)}: {error}")

    def finish(self) -> None:
        """Store everything queued and wait for it."""
        while self._writing:
            self._append_next()
        self._wait()
        self._pool.shutdown()

    def abandon(self) -> None:
        """After a failure: drop what is not appended yet, count what was, raise nothing.

        Blobs written for dropped messages belong to no message; the store's sweep removes them.
        """
        for _, _, future, _, _ in self._writing:
            future.cancel()
        self._writing.clear()
        self._pool.shutdown(cancel_futures=True)
        with contextlib.suppress(MailIOError, StoreError):
            self._wait()


def import_mail(
    store: Store, account_id: int, path: Path, *, folder: str | None = None, progress: Advance | None = None
) -> Report:
    """Import a Maildir tree or an mbox file (into `folder`, default INBOX) into an account."""
    return Importer(store, account_id, path, folder=folder).run(progress)


def to_crlf(data: bytes) -> bytes:
    """Bare LF becomes CRLF; CRLF stays as it is."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def to_lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def _read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(5)
    except OSError as e:
        raise MailIOError(f"{path}: {e.strerror or e}") from None


def _messages(count: int) -> str:
    return f"{count} message{'' if count == 1 else 's'}"


def _os_error(e: OSError) -> str:
    where = f"{e.filename}: " if e.filename else ""
    return where + (e.strerror or str(e))


# -- Maildir reading --------------------------------------------------------------------------


def _is_maildir(directory: Path) -> bool:
    """cur/ or new/ is enough: tools that drop empty directories (git, some backups) lose the others."""
    return (directory / "cur").is_dir() or (directory / "new").is_dir()


def _subdirectories(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            return sorted((e for e in entries if e.is_dir()), key=lambda e: e.name)
    except OSError as e:
        raise MailIOError(_os_error(e)) from None


def _scan_maildir(root: Path, warnings: list[str]) -> list[_MaildirFolder]:
    """Every Maildir in the tree: the root (INBOX), Maildir++ `.A.B` folders and nested `A/B` ones."""
    folders = []
    if _is_maildir(root):
        folders.append(_read_folder(root, ["INBOX"], warnings))
    for entry in _subdirectories(root):
        path = Path(entry.path)
        if entry.name in _MAILDIR_SUBDIRS:
            continue
        if entry.name.startswith("."):
            if _is_maildir(path):
                folders.append(_read_folder(path, entry.name[1:].split("."), warnings))
        elif not entry.is_symlink():
            _scan_nested(path, [entry.name], folders, warnings)
    if not folders:
        raise MailIOError(f"{root}: not a Maildir (no cur/new/tmp directories in it or below it)")
    return folders


def _scan_nested(directory: Path, parts: list[str], folders: list[_MaildirFolder], warnings: list[str]) -> None:
    if _is_maildir(directory):
        folders.append(_read_folder(directory, parts, warnings))
    for entry in _subdirectories(directory):
        if entry.name not in _MAILDIR_SUBDIRS and not entry.name.startswith(".") and not entry.is_symlink():
            _scan_nested(Path(entry.path), [*parts, entry.name], folders, warnings)


def _read_folder(directory: Path, parts: list[str], warnings: list[str]) -> _MaildirFolder:
    keywords = _read_dovecot_keywords(directory / "dovecot-keywords", warnings)
    files = []
    for sub in ("cur", "new"):
        try:
            with os.scandir(directory / sub) as entries:
                names = [e.name for e in entries if not e.name.startswith(".") and e.is_file()]
        except FileNotFoundError:
            continue
        except OSError as e:
            raise MailIOError(_os_error(e)) from None
        for name in names:
            flags = _maildir_flags(name, keywords)
            if sub == "new":
                flags.discard("\\Seen")
            files.append(_MaildirFile(directory / sub / name, frozenset(flags)))
    files.sort(key=lambda item: _natural_key(item.path.name))
    return _MaildirFolder(_folder_name(parts), files)


def _read_dovecot_keywords(path: Path, warnings: list[str]) -> dict[str, str]:
    """Letter -> keyword from Dovecot's `dovecot-keywords` ("0 Work" means `a` is Work)."""
    try:
        text = path.read_text("utf-8", errors="replace")
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise MailIOError(_os_error(e)) from None
    letters = {}
    for line in text.splitlines():
        index, _, keyword = line.strip().partition(" ")
        keyword = keyword.strip()
        if not index.isdigit() or int(index) >= _MAILDIR_KEYWORDS:
            continue
        if _KEYWORD.fullmatch(keyword):
            letters[chr(ord("a") + int(index))] = keyword
        else:
            warnings.append(f"{path}: ignored {keyword!r}, which is not a valid IMAP keyword")
    return letters


def _maildir_flags(name: str, keywords: dict[str, str]) -> set[str]:
    flags: set[str] = set()
    for separator in _INFO_SEPARATORS:
        _, found, info = name.rpartition(separator)
        if found:
            break
    else:
        return flags
    for letter in info:
        flag = MAILDIR_FLAGS.get(letter) or keywords.get(letter)
        if flag:
            flags.add(flag)
    return flags


def _natural_key(name: str) -> list[tuple[int, int, str]]:
    """Sort `999.x` before `1000.x`: Maildir names start with the delivery time."""
    return [(0, int(token), "") if token.isdigit() else (1, 0, token) for token in re.split(r"(\d+)", name) if token]


def _folder_name(parts: list[str]) -> str:
    """A valid mailbox name from directory names: modified UTF-7 decoded, control characters replaced."""
    clean = []
    for part in parts:
        text = os.fsencode(part).decode("utf-8", errors="replace")
        with contextlib.suppress(ValueError):  # else a plain UTF-8 name such as "R&D"
            text = mutf7_decode(text)
        text = "".join("_" if ord(c) < 32 or ord(c) == 127 or c == DELIMITER else c for c in text).strip()
        if text:
            clean.append(text)
    return DELIMITER.join(clean) or "INBOX"


def _map_folders(names: list[str], mailboxes: list[Mailbox], where: str) -> dict[str, str]:
    """Source folder names -> mailbox names, with `sent` or `SENT` landing in the account's Sent.

    Only special folders (and INBOX) match case-insensitively, and only when the source has no
    folder of exactly that name, so `Sent` and `sent` side by side stay two folders.
    """
    special = {box.name.lower(): box.name for box in mailboxes if box.special_use and DELIMITER not in box.name}
    tops = {name.split(DELIMITER, 1)[0] for name in names}
    mapping = {}
    for name in names:
        top, separator, rest = name.partition(DELIMITER)
        match = special.get(top.lower())
        if match is not None and match not in tops:
            top = match
        try:
            mapping[name] = normalize_mailbox_name(top + separator + rest)
        except InvalidOperation as e:
            raise MailIOError(f"{where}: {e}") from None
    return mapping


# -- mbox reading -----------------------------------------------------------------------------


def _mbox_entries(path: Path) -> Iterator[tuple[bytes, list[bytes]]]:
    """(From_ line, lines) per message; a From_ line starts the file or follows an empty line."""
    with open(path, "rb") as f:
        from_line: bytes | None = None
        lines: list[bytes] = []
        after_blank = True
        for line in f:
            if after_blank and line.startswith(b"From "):
                if from_line is not None:
                    yield from_line, lines
                from_line, lines, after_blank = line, [], False
                continue
            lines.append(line)
            after_blank = line in (b"\n", b"\r\n")
        if from_line is not None:
            yield from_line, lines


def _parse_mbox_entry(lines: list[bytes]) -> tuple[bytes, set[str], bool]:
    """(message bytes, flags, is the folder's internal-data pseudo-message) of one mbox entry."""
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]  # the empty line that separates messages
    lines = [line[1:] if _QUOTED_FROM.match(line) else line for line in lines]
    end = _header_end(lines)
    kept, metadata = _split_metadata(lines[:end])
    flags: set[str] = set()
    for name, value in metadata:
        flags |= _metadata_flags(name, value.decode("latin-1"))
    internal = any(name == b"x-imap" for name, _ in metadata) and any(
        b"FOLDER INTERNAL DATA" in line for line in lines[:end]
    )
    return b"".join(kept + lines[end:]), flags, internal


def _header_end(lines: list[bytes]) -> int:
    for index, line in enumerate(lines):
        if line in (b"\n", b"\r\n"):
            return index
    return len(lines)


def _split_metadata(header: list[bytes]) -> tuple[list[bytes], list[tuple[bytes, bytes]]]:
    """Header lines without the mbox metadata fields, and those fields as (lower-case name, value)."""
    kept: list[bytes] = []
    metadata: list[tuple[bytes, bytes]] = []
    in_metadata = False
    for line in header:
        if line[:1] in (b" ", b"\t") and (kept or metadata):
            if in_metadata:
                metadata[-1] = (metadata[-1][0], metadata[-1][1] + line)
            else:
                kept.append(line)
            continue
        name, colon, value = line.partition(b":")
        in_metadata = bool(colon) and name.strip().lower() in _MBOX_METADATA
        if in_metadata:
            metadata.append((name.strip().lower(), value))
        else:
            kept.append(line)
    return kept, metadata


def _metadata_flags(name: bytes, value: str) -> set[str]:
    value = value.strip()
    if name == b"status":
        return {"\\Seen"} if "R" in value else set()
    if name == b"x-status":
        return {X_STATUS_FLAGS[letter] for letter in value if letter in X_STATUS_FLAGS}
    if name in (b"x-keywords", b"x-mozilla-keys"):
        return {word for word in re.split(r"[\s,]+", value) if _KEYWORD.fullmatch(word)}
    if name == b"x-mozilla-status":
        try:
            bits = int(value, 16)
        except ValueError:
            return set()
        return {flag for bit, flag in _MOZILLA_FLAGS.items() if bits & bit}
    return set()


def _from_line_date(line: bytes) -> datetime | None:
    """The date of a From_ line (asctime, optionally with a zone), read as UTC when it has no zone."""
    match = _FROM_DATE.search(line, 5)
    if match is None:
        return None
    month, day, hour, minute, second, zone, year, zone_after = match.groups()
    offset = timedelta()
    numeric = zone_after or (zone if zone and zone[:1] in b"+-" else None)
    if numeric:
        sign = -1 if numeric[:1] == b"-" else 1
        offset = sign * timedelta(hours=int(numeric[1:3]), minutes=int(numeric[3:5]))
    try:
        return datetime(
            int(year),
            _MONTHS.index(month.decode()) + 1,
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            tzinfo=timezone(offset),
        )
    except ValueError:
        return None


# -- export -----------------------------------------------------------------------------------


class Exporter:
    """Checks the target and picks the folders up front; `total` counts the messages to write."""

    def __init__(
        self,
        store: Store,
        account_id: int,
        path: Path,
        *,
        format: str = "maildir",
        folder: str | None = None,
        hostname: str | None = None,
    ) -> None:
        if format not in FORMATS:
            raise MailIOError(f"unknown export format {format!r} (use {' or '.join(FORMATS)})")
        self.store = store
        self.account_id = account_id
        self.path = path
        self.format = format
        self.hostname = hostname or socket.gethostname() or "localhost"
        _check_target(path, format)
        if format == "mbox":
            try:
                name = normalize_mailbox_name(folder or "INBOX")
            except InvalidOperation as e:
                raise MailIOError(str(e)) from None
            box = store.get_mailbox(account_id, name)
            if box is None or not box.selectable:
                raise MailIOError(f"no folder {name} in this account")
            self.mailboxes = [box]
        else:
            if folder is not None:
                raise MailIOError("--folder applies to mbox exports only: a Maildir export holds every folder")
            boxes = [box for box in store.list_mailboxes(account_id) if box.selectable]
            self.mailboxes = sorted(boxes, key=lambda box: (box.name != "INBOX", box.name))
        self.total = sum(box.messages for box in self.mailboxes)

    def run(self, progress: Advance | None = None) -> Report:
        """Write every message; `progress(n)` is called as messages are written."""
        report = Report()
        advance = progress or (lambda n: None)
        try:
            if self.format == "maildir":
                self._run_maildir(report, advance)
            else:
                self._run_mbox(report, advance)
        except OSError as e:
            raise MailIOError(f"stopped after exporting {_messages(report.messages)}: {_os_error(e)}") from None
        return report

    def _read(self, box: Mailbox, blob: str, report: Report) -> bytes | None:
        try:
            return self.store.read_blob(blob)
        except FileNotFoundError:
            report.skipped.append(f"{box.name}: message content {blob} is missing from the store")
            return None

    def _run_maildir(self, report: Report, advance: Advance) -> None:
        host = self.hostname.replace("/", "\\057").replace(":", "\\072")
        pid = os.getpid()
        sequence = 0
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for box in self.mailboxes:
            directory = maildir_path(self.path, box.name)
            for sub in _MAILDIR_SUBDIRS:
                (directory / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
            if directory != self.path:
                _write_file(directory / "maildirfolder", b"")
            report.folders.append(box.name)
            messages = self.store.list_messages(box.id)
            letters, overflow = _keyword_letters(message.flags for message in messages)
            if letters:
                lines = "".join(f"{ord(letter) - ord('a')} {keyword}\n" for keyword, letter in letters.items())
                _write_file(directory / "dovecot-keywords", lines.encode())
            if overflow:
                report.warnings.append(
                    f"{box.name}: a Maildir folder holds at most {_MAILDIR_KEYWORDS} keywords;"
                    f" not exported: {', '.join(sorted(overflow))}"
                )
            for message in messages:
                raw = self._read(box, message.blob, report)
                if raw is None:
                    advance(1)
                    continue
                sequence += 1
                seconds = int(message.internal_date.timestamp())
                base = f"{seconds}.P{pid}Q{sequence}.{host}"
                temporary = directory / "tmp" / base
                _write_file(temporary, to_lf(raw))
                os.utime(temporary, (seconds, seconds))
                os.rename(temporary, directory / "cur" / f"{base}:2,{_maildir_info(message.flags, letters)}")
                report.messages += 1
                advance(1)

    def _run_mbox(self, report: Report, advance: Advance) -> None:
        box = self.mailboxes[0]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                for message in self.store.list_messages(box.id):
                    raw = self._read(box, message.blob, report)
                    if raw is not None:
                        out.write(mbox_entry(raw, message.flags, message.internal_date))
                        report.messages += 1
                    advance(1)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        report.folders.append(box.name)


def export_mail(
    store: Store,
    account_id: int,
    path: Path,
    *,
    format: str = "maildir",
    folder: str | None = None,
    hostname: str | None = None,
    progress: Advance | None = None,
) -> Report:
    """Export an account as a Maildir++ tree, or one folder (default INBOX) as an mboxrd file."""
    return Exporter(store, account_id, path, format=format, folder=folder, hostname=hostname).run(progress)


def _check_target(path: Path, format: str) -> None:
    """Refuse to write over anything that holds data: an export must never destroy mail."""
    if not path.exists():
        if path.is_symlink():
            raise MailIOError(f"{path} is a dangling symbolic link; refusing to write through it")
        return
    if path.is_dir():
        if format == "mbox":
            raise MailIOError(f"{path} is a directory; an mbox export is a single file")
        if any(path.iterdir()):
            raise MailIOError(f"{path} is not empty; refusing to overwrite it")
    elif format == "maildir":
        raise MailIOError(f"{path} is a file; a Maildir export needs a new or empty directory")
    elif path.stat().st_size:
        raise MailIOError(f"{path} is not empty; refusing to overwrite it")


def _write_file(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def maildir_path(root: Path, name: str) -> Path:
    """Where a mailbox goes in a Maildir++ tree: INBOX at the root, `A/B` in `.A.B` (modified UTF-7).

    A `.` inside a name would read as a level separator, so it is written `&AC4-` (its modified
    UTF-7 form), which import reads back; Dovecot itself does not allow `.` in Maildir++ names.
    """
    if name == "INBOX":
        return root
    return root / ("." + ".".join(mutf7_encode(part, also=".") for part in name.split(DELIMITER)))


def _keyword_letters(all_flags: Iterable[frozenset[str]]) -> tuple[dict[str, str], set[str]]:
    """keyword -> letter for the 26 most used keywords of a folder, and the keywords left over."""
    counts: Counter[str] = Counter()
    for flags in all_flags:
        counts.update(flag for flag in flags if not flag.startswith("\\") and flag not in _MAILDIR_LETTERS)
    ranked = sorted(counts, key=lambda keyword: (-counts[keyword], keyword))
    letters = {keyword: chr(ord("a") + i) for i, keyword in enumerate(ranked[:_MAILDIR_KEYWORDS])}
    return letters, set(ranked[_MAILDIR_KEYWORDS:])


def _maildir_info(flags: frozenset[str], letters: dict[str, str]) -> str:
    """The letters after `:2,`, in ASCII order as the Maildir specification asks."""
    found = {_MAILDIR_LETTERS.get(flag) or letters.get(flag) for flag in flags}
    return "".join(sorted(letter for letter in found if letter))


def mbox_entry(raw: bytes, flags: Iterable[str], internal_date: datetime) -> bytes:
    """One mboxrd entry: From_ line, message with LF endings, flag headers, quoting, empty line."""
    flags = set(flags)
    lines = _split_lines(to_lf(raw))
    end = _header_end(lines)
    header, _ = _split_metadata(lines[:end])
    if header and not header[-1].endswith(b"\n"):
        header[-1] += b"\n"
    status = []
    if "\\Seen" in flags:
        status.append(b"Status: RO\n")
    x_status = "".join(letter for letter, flag in X_STATUS_FLAGS.items() if flag in flags)
    if x_status:
        status.append(f"X-Status: {x_status}\n".encode())
    keywords = sorted(flag for flag in flags if not flag.startswith("\\"))
    if keywords:
        status.append(("X-Keywords: " + " ".join(keywords) + "\n").encode())
    body = _FROM_TO_QUOTE.sub(rb">\1", b"".join(header + status + lines[end:]))
    if not body.endswith(b"\n"):
        body += b"\n"
    return _from_line(header, internal_date) + body + b"\n"


def _split_lines(data: bytes) -> list[bytes]:
    """Lines ending in LF (the last one may have none); a lone CR is not a line break here."""
    lines = [line + b"\n" for line in data.split(b"\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def _from_line(header: list[bytes], internal_date: datetime) -> bytes:
    """`From sender date`: the envelope sender (Return-Path) or From address, else MAILER-DAEMON."""
    fields: dict[bytes, bytes] = {}
    current = b""
    for line in header:
        if line[:1] in (b" ", b"\t") and current:
            fields[current] += line
            continue
        name, colon, value = line.partition(b":")
        current = name.strip().lower() if colon else b""
        if current in (b"return-path", b"from") and current not in fields:
            fields[current] = value
        else:
            current = b""
    sender = ""
    for name in (b"return-path", b"from"):
        if name in fields:
            sender = parseaddr(fields[name].decode("utf-8", errors="replace").replace("\n", " "))[1]
            break
    if not _SENDER.fullmatch(sender):
        sender = "MAILER-DAEMON"
    moment = internal_date.astimezone(UTC)
    date = (
        f"{_DAYS[moment.weekday()]} {_MONTHS[moment.month - 1]} {moment.day:2d}"
        f" {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} {moment.year}"
    )
    return f"From {sender} {date}\n".encode()


# -- modified UTF-7 (RFC 3501), the encoding of Maildir++ folder names ------------------------


def mutf7_encode(text: str, *, also: str = "") -> str:
    """Modified UTF-7; characters in `also` are encoded too (`.` separates Maildir++ levels)."""
    out: list[str] = []
    run: list[str] = []

    def close_run() -> None:
        if run:
            encoded = base64.b64encode("".join(run).encode("utf-16-be")).rstrip(b"=").decode()
            out.append("&" + encoded.replace("/", ",") + "-")
            run.clear()

    for char in text:
        if char == "&":
            close_run()
            out.append("&-")
        elif " " <= char <= "~" and char not in also:
            close_run()
            out.append(char)
        else:
            run.append(char)
    close_run()
    return "".join(out)


def mutf7_decode(text: str) -> str:
    """The inverse of mutf7_encode; ValueError when `text` is not modified UTF-7."""
    out = []
    position = 0
    while (start := text.find("&", position)) >= 0:
        out.append(text[position:start])
        end = text.find("-", start + 1)
        if end < 0:
            raise ValueError(f"unterminated modified UTF-7 in {text!r}")
        chunk = text[start + 1 : end]
        if chunk:
            try:
                data = base64.b64decode(chunk.replace(",", "/") + "=" * (-len(chunk) % 4), validate=True)
                out.append(data.decode("utf-16-be"))
            except (ValueError, UnicodeDecodeError) as e:
                raise ValueError(f"bad modified UTF-7 in {text!r}") from e
        else:
            out.append("&")
        position = end + 1
    out.append(text[position:])
    return "".join(out)
