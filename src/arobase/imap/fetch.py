"""The work behind FETCH: which columns to read, and each data item in its exact wire form.

ENVELOPE, BODY and BODYSTRUCTURE are copied from the forms computed at ingest; message bytes are
read only for body sections, and the MIME structure comes from the ingest record, so nothing is
ever parsed again. Rows are read in chunks so that a FETCH of a whole mailbox streams.
"""

from __future__ import annotations

import binascii
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter

from ..mime import Part
from ..mime.headers import scan_header
from ..store import Store, objectid, queries
from .view import MailboxView, format_flags
from .wire import ast, responses


class FetchError(Exception):
    """A FETCH that cannot be answered for some message (NO with a response code)."""

    def __init__(self, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


# -- sections -------------------------------------------------------------------------------------


# A whole header block of well-formed lines (as `scan_header` accepts them), each ending in CRLF.
_HEADER_BLOCK = re.compile(rb"(?:(?:From |[\x21-\x39\x3b-\x7e]*:|[\t ])[^\r\n]*\r\n)*")


def split_header(raw: bytes, start: int, end: int) -> tuple[bytes, int]:
    """(header with its blank line, where the body starts) of the entity in raw[start:end].

    The usual case (CRLF lines, a blank line) is one `find` and one regular expression in C;
    anything else goes through `scan_header`, the parser's own rule.
    """
    blank = raw.find(b"\r\n\r\n", start, end)
    if blank >= 0 and _HEADER_BLOCK.fullmatch(raw, start, blank + 2):
        return raw[start : blank + 4], blank + 4
    _, body_start = scan_header(raw, start, end)
    return raw[start:body_start], body_start


_BARE_CR = re.compile(rb"\r(?!\n)")


@lru_cache(maxsize=256)
def _fields_pattern(names: tuple[str, ...], exclude: bool) -> re.Pattern[bytes]:
    listed = b"|".join(re.escape(name.encode("latin-1", "replace")) for name in names) or b"(?!)"
    head = rb"(?![ \t])(?!(?:%s)[ \t]*:)[^\r\n]+" if exclude else rb"(?:%s)[ \t]*:[^\r\n]*"
    return re.compile(rb"^" + head % listed + rb"(?:\r?\n[ \t][^\r\n]*)*(?:\r?\n|\Z)", re.IGNORECASE | re.MULTILINE)


def header_fields(header: bytes, names: Sequence[str], *, exclude: bool = False) -> bytes:
    """The fields of `header` (a header as `split_header` gives it) named, or not, in `names`.

    Names match case-insensitively; fields keep the order and the exact bytes (folding
    included) of the message; the blank line that ends a header is always added.
    """
    if _BARE_CR.search(header):
        return _header_fields_by_line(header, names, exclude=exclude)  # bare CRs: line by line
    out = _fields_pattern(tuple(names), exclude).findall(header)
    if out and not out[-1].endswith(b"\n"):
        out[-1] += b"\r\n"
    out.append(b"\r\n")
    return b"".join(out)


def _header_fields_by_line(header: bytes, names: Sequence[str], *, exclude: bool = False) -> bytes:
    """`header_fields` the slow way, for headers with bare CRs (and as the reference in tests)."""
    wanted = {name.lower() for name in names}
    out: list[bytes] = []
    keep = False
    for line in header.splitlines(keepends=True):
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t"):
            if keep:
                out.append(line)
            continue
        name = line.split(b":", 1)[0].strip().decode("latin-1").lower()
        keep = (name in wanted) != exclude
        if keep:
            out.append(line if line.endswith(b"\n") else line + b"\r\n")
    out.append(b"\r\n")
    return b"".join(out)


def find_part(parts: Sequence[Part], path: Sequence[int]) -> Part | None:
    number = ".".join(str(n) for n in path)
    for part in parts:
        if part.number == number:
            return part
    return None


def section_bytes(raw: bytes, parts: Callable[[], Sequence[Part]], section: ast.Section) -> bytes:
    """The bytes of BODY[section] (an empty string for a part that does not exist)."""
    if section.part:
        part = find_part(parts(), section.part)
        if part is None:
            return b""
        if section.text is None:
            return raw[part.body_start : part.body_end]
        if section.text == "MIME":
            return raw[part.header_start : part.body_start]
        if part.content_type not in ("message/rfc822", "message/global"):
            return b""
        start, end = part.body_start, part.body_end
    else:
        if section.text is None:
            return raw
        start, end = 0, len(raw)
    header, body_start = split_header(raw, start, end)
    if section.text == "HEADER":
        return header
    if section.text == "TEXT":
        return raw[body_start:end]
    return header_fields(header, section.fields, exclude=section.text == "HEADER.FIELDS.NOT")


def decode_part(raw: bytes, parts: Callable[[], Sequence[Part]], path: Sequence[int]) -> bytes:
    """BINARY[path]: the part's body with its content-transfer-encoding undone."""
    if not path:
        return raw
    part = find_part(parts(), path)
    if part is None:
        return b""
    data = raw[part.body_start : part.body_end]
    encoding = (part.encoding or "7bit").lower()
    if encoding in ("7bit", "8bit", "binary"):
        return data
    if encoding == "base64":
        cleaned = data.translate(None, _NOT_B64).rstrip(b"=")
        cleaned += b"=" * (-len(cleaned) % 4)
        try:
            return binascii.a2b_base64(cleaned)
        except binascii.Error:
            raise FetchError("the part's base64 is damaged", "PARSE") from None
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data)
    raise FetchError(f"unknown Content-Transfer-Encoding {part.encoding}", "UNKNOWN-CTE")


_NOT_B64 = bytes(set(range(256)) - set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="))


def section_name(section: ast.Section) -> bytes:
    """`1.2.HEADER.FIELDS (FROM TO)`: the section as the response names it."""
    items = [str(n) for n in section.part]
    if section.text is not None:
        items.append(section.text)
    text = ".".join(items)
    if section.text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        text += " (" + " ".join(responses.astring(f).decode("latin-1") for f in section.fields) + ")"
    return text.encode("latin-1")


def partial(data: bytes, part: ast.Partial | None) -> tuple[bytes, bytes]:
    """(data cut to `<start.length>`, `<start>` suffix for the response name)."""
    if part is None:
        return data, b""
    return data[part.start : part.start + part.length], b"<%d>" % part.start


def literal(data: bytes, *, binary: bool = False) -> bytes:
    """A literal; BINARY uses literal8 (`~{n}`) when the bytes hold a NUL."""
    return responses.literal(data, binary=binary and b"\x00" in data)


# -- plans ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Message:
    """One message while its FETCH response is built: its row, and its bytes when needed."""

    store: Store
    uid: int
    row: tuple
    offsets: dict[str, int]
    recent: bool
    _raw: bytes | None = None
    _parts: list[Part] | None = None

    @property
    def raw(self) -> bytes:
        if self._raw is None:
            i = self.offsets.get("data")
            data = self.row[i] if i is not None else None
            self._raw = bytes(data) if data is not None else self.store.blobs.get(str(self.row[self.offsets["hash"]]))
        return self._raw

    @property
    def head(self) -> bytes:
        """The message up to its first blank line (the store cuts it), or all of it."""
        head = self.row[self.offsets["head"]]
        return bytes(head) if head is not None else self.raw

    def parts(self) -> list[Part]:
        if self._parts is None:
            self._parts = queries.parts_from_record(str(self.row[self.offsets["parsed"]]))
        return self._parts


Renderer = Callable[[Message], bytes]


@dataclass(slots=True)
class FetchPlan:
    """The renderers of a FETCH, in request order, and the columns they read."""

    renderers: list[Renderer] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    sets_seen: bool = False
    has_flags: bool = False
    copies: list[tuple[bytes, str | None]] | None = None  # set when every item is a copied column

    def need(self, *names: str) -> None:
        for name in names:
            if name not in self.columns:
                self.columns.append(name)


_MONTHS = [month.encode() for month in responses.MONTHS]


@lru_cache(maxsize=64)
def _zone(minutes: int) -> bytes:
    return b"%s%02d%02d" % (b"-" if minutes < 0 else b"+", abs(minutes) // 60, abs(minutes) % 60)


def _internal_date(m: Message) -> bytes:
    """`INTERNALDATE " 5-Mar-2024 07:08:09 -0700"`, in the zone the message arrived in."""
    i = m.offsets["date"]
    seconds, tz = m.row[i], m.row[i + 1]
    t = time.gmtime(seconds + tz * 60)
    return b'INTERNALDATE "%2d-%s-%04d %02d:%02d:%02d %s"' % (
        t.tm_mday,
        _MONTHS[t.tm_mon - 1],
        t.tm_year,
        t.tm_hour,
        t.tm_min,
        t.tm_sec,
        _zone(tz),
    )


def _flags(m: Message) -> bytes:
    i = m.offsets["flags"]
    return b"FLAGS " + format_flags(m.row[i], m.row[i + 1], m.recent)


def _simple(name: str, plan: FetchPlan) -> Renderer:
    if name == "UID":
        return lambda m: b"UID %d" % m.uid
    if name == "FLAGS":
        plan.need("flags")
        plan.has_flags = True
        return _flags
    if name == "INTERNALDATE":
        plan.need("date")
        return _internal_date
    if name == "RFC822.SIZE":
        plan.need("size")
        return lambda m: b"RFC822.SIZE %d" % m.row[m.offsets["size"]]
    if name in ("ENVELOPE", "BODY", "BODYSTRUCTURE"):
        column = name.lower()
        plan.need(column)
        prefix = name.encode() + b" "
        return lambda m: prefix + m.row[m.offsets[column]]
    if name == "MODSEQ":
        plan.need("modseq")
        return lambda m: b"MODSEQ (%d)" % m.row[m.offsets["modseq"]]
    if name == "SAVEDATE":
        plan.need("savedate")
        return lambda m: b"SAVEDATE " + responses.date_time(_utc(m.row[m.offsets["savedate"]]))
    if name == "EMAILID":
        plan.need("hash")
        return lambda m: b"EMAILID (" + objectid.email_id(m.row[m.offsets["hash"]]).encode() + b")"
    if name == "THREADID":
        plan.need("threadroot")
        return lambda m: b"THREADID (" + objectid.thread_id(m.row[m.offsets["threadroot"]]).encode() + b")"
    if name == "PREVIEW":
        plan.need("preview")
        return lambda m: b"PREVIEW " + responses.string(str(m.row[m.offsets["preview"]]), utf8=False)
    if name == "RFC822":
        plan.need("data", "hash")
        plan.sets_seen = True
        return lambda m: b"RFC822 " + literal(m.raw)
    if name == "RFC822.HEADER":
        plan.need("head", "hash")
        return lambda m: b"RFC822.HEADER " + literal(split_header(m.head, 0, len(m.head))[0])
    if name == "RFC822.TEXT":
        plan.need("data", "hash")
        plan.sets_seen = True
        return lambda m: b"RFC822.TEXT " + literal(m.raw[split_header(m.raw, 0, len(m.raw))[1] :])
    raise FetchError(f"unknown FETCH item {name}")


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _body(item: ast.FetchBody, plan: FetchPlan) -> Renderer:
    # The top-level header alone (what mail clients fetch for every message) needs only the
    # bytes up to the first blank line, which the store cuts out: a tenth of the message.
    header_only = not item.section.part and item.section.text in ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT")
    plan.need("head" if header_only else "data", "hash")
    if item.section.part:
        plan.need("parsed")
    if not item.peek:
        plan.sets_seen = True
    name = b"BODY[" + section_name(item.section) + b"]"

    def render(m: Message) -> bytes:
        data, origin = partial(section_bytes(m.head if header_only else m.raw, m.parts, item.section), item.partial)
        return name + origin + b" " + literal(data)

    return render


def _binary(item: ast.FetchBinary, plan: FetchPlan) -> Renderer:
    plan.need("data", "hash")
    if item.part:
        plan.need("parsed")
    if not item.peek:
        plan.sets_seen = True
    name = b"BINARY[" + ".".join(str(n) for n in item.part).encode() + b"]"

    def render(m: Message) -> bytes:
        data, origin = partial(decode_part(m.raw, m.parts, item.part), item.partial)
        return name + origin + b" " + literal(data, binary=True)

    return render


def _binary_size(item: ast.FetchBinarySize, plan: FetchPlan) -> Renderer:
    plan.need("data", "hash")
    if item.part:
        plan.need("parsed")
    name = b"BINARY.SIZE[" + ".".join(str(n) for n in item.part).encode() + b"]"
    return lambda m: name + b" %d" % len(decode_part(m.raw, m.parts, item.part))


# Items that are a column copied as it is: a whole response line is then one `%` formatting.
_COPIED: dict[str, tuple[bytes, str | None]] = {
    "UID": (b"UID %d", None),
    "ENVELOPE": (b"ENVELOPE %s", "envelope"),
    "BODY": (b"BODY %s", "body"),
    "BODYSTRUCTURE": (b"BODYSTRUCTURE %s", "bodystructure"),
    "RFC822.SIZE": (b"RFC822.SIZE %d", "size"),
    "MODSEQ": (b"MODSEQ (%d)", "modseq"),
    "FLAGS": (b"FLAGS %s", "flags"),  # formatted per row by `_copied_lines`
}


def plan_fetch(attributes: Sequence[ast.FetchAttribute], *, uid: bool) -> FetchPlan:
    """Renderers for the attributes of a FETCH; UID FETCH always answers with the UID first."""
    plan = FetchPlan()
    wants_uid = any(isinstance(a, ast.FetchSimple) and a.name == "UID" for a in attributes)
    names = [a.name for a in attributes if isinstance(a, ast.FetchSimple)]
    if len(names) == len(attributes) and all(name in _COPIED for name in names):
        plan.copies = [_COPIED[name] for name in (["UID"] if uid and not wants_uid else []) + names]
    if uid and not wants_uid:
        plan.renderers.append(_simple("UID", plan))
    for attribute in attributes:
        if isinstance(attribute, ast.FetchSimple):
            plan.renderers.append(_simple(attribute.name, plan))
        elif isinstance(attribute, ast.FetchBody):
            plan.renderers.append(_body(attribute, plan))
        elif isinstance(attribute, ast.FetchBinary):
            plan.renderers.append(_binary(attribute, plan))
        else:
            plan.renderers.append(_binary_size(attribute, plan))
    return plan


def fetch_responses(
    view: MailboxView,
    plan: FetchPlan,
    targets: Sequence[tuple[int, int]],
    *,
    flags_changed: frozenset[int] = frozenset(),
    chunk: int = 2000,
) -> Iterator[bytes]:
    """Untagged FETCH responses, framed (`* n FETCH (...)` CRLF), joined in chunks.

    Messages of `flags_changed` (\\Seen just set by this FETCH) also report their FLAGS.
    Messages expunged meanwhile have no row and are left out.
    """
    store = view.store
    columns = list(plan.columns)
    if flags_changed and "flags" not in columns:
        columns.append("flags")
    offsets = queries.column_offsets(columns)
    renderers = plan.renderers
    extra_flags = bool(flags_changed) and not plan.has_flags
    recent = view.recent
    uids = [u for _, u in targets]
    step = 200 if "data" in columns else 1000 if "head" in columns else chunk
    if plan.copies is not None and not extra_flags:
        if [column for _, column in plan.copies] in ([None, "flags"], ["flags"]):
            yield from _flag_lines(view, plan.copies, offsets, columns, targets, uids, step)
        else:
            yield from _copied_lines(view, plan.copies, offsets, columns, targets, uids, step)
        return
    position = 0  # rows come in UID order, as do targets: walk both
    for rows in queries.iter_fetch_rows(store, view.mailbox_id, uids, columns, chunk=step):
        lines = []
        for row in rows:
            uid = row[0]
            while targets[position][1] != uid:
                position += 1
            m = Message(store, uid, row, offsets, uid in recent)
            items = [render(m) for render in renderers]
            if extra_flags and uid in flags_changed:
                items.append(_flags(m))
            lines.append(b"* %d FETCH (%s)\r\n" % (targets[position][0], b" ".join(items)))
        if lines:
            yield b"".join(lines)


def _flag_lines(
    view: MailboxView,
    copies: list[tuple[bytes, str | None]],
    offsets: dict[str, int],
    columns: list[str],
    targets: Sequence[tuple[int, int]],
    uids: list[int],
    step: int,
) -> Iterator[bytes]:
    """`FETCH (FLAGS)` and `UID FETCH (UID FLAGS)`, what a client syncing flags asks: no per-row call."""
    template = b"* %d FETCH (" + b" ".join(form for form, _ in copies) + b")\r\n"
    with_uid = len(copies) == 2
    at = offsets["flags"]
    recent = view.recent
    listed: dict[tuple[int, str], bytes] = {}  # (bits, keywords) -> list, for messages not \Recent
    position = 0
    for rows in queries.iter_fetch_rows(view.store, view.mailbox_id, uids, columns, chunk=step):
        lines = []
        for row in rows:
            uid = row[0]
            while targets[position][1] != uid:
                position += 1
            key = row[at : at + 2]
            flags = listed.get(key) if uid not in recent else None
            if flags is None:
                flags = format_flags(key[0], key[1], uid in recent)
                if uid not in recent:
                    listed[key] = flags
            seq = targets[position][0]
            lines.append(template % (seq, uid, flags) if with_uid else template % (seq, flags))
        if lines:
            yield b"".join(lines)


def _copied_lines(
    view: MailboxView,
    copies: list[tuple[bytes, str | None]],
    offsets: dict[str, int],
    columns: list[str],
    targets: Sequence[tuple[int, int]],
    uids: list[int],
    step: int,
) -> Iterator[bytes]:
    """The fast path of `fetch_responses`: one template, filled from the row by index."""
    template = b"* %d FETCH (" + b" ".join(form for form, _ in copies) + b")\r\n"
    # FLAGS is the formatted list, appended to the row (index -1) so one itemgetter still fills the template
    indices = [0 if column is None else -1 if column == "flags" else offsets[column] for _, column in copies]
    flags = offsets.get("flags") if -1 in indices else None
    single = indices[0] if len(indices) == 1 else None
    getter = itemgetter(*indices)
    recent = view.recent
    position = 0
    for rows in queries.iter_fetch_rows(view.store, view.mailbox_id, uids, columns, chunk=step):
        lines = []
        for row in rows:
            uid = row[0]
            while targets[position][1] != uid:
                position += 1
            seq = targets[position][0]
            if flags is not None:
                row = (*row, format_flags(row[flags], row[flags + 1], uid in recent))
            lines.append(template % (seq, row[single]) if single is not None else template % (seq, *getter(row)))
        if lines:
            yield b"".join(lines)
