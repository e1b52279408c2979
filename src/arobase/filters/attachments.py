"""Dangerous attachments: judged by what the bytes are, not by what the name or type claims.

Executables, scripts, shortcuts and disk images are recognised by magic bytes and by name (a
script is plain text, so only its name tells). Office documents are asked whether they carry
macros (oletools), PDFs whether they run JavaScript or launch programs (pikepdf), web pages
whether they hold forms or scripts. Archives are opened to a bounded depth; anything that cannot
be inspected within the size and time budget (zip bombs, huge documents, encrypted archives)
counts as dangerous, since that is exactly what an attacker would send.
"""

from __future__ import annotations

import concurrent.futures
import io
import logging
import tarfile
import warnings
import zipfile
from dataclasses import dataclass

from .content import Attachment

log = logging.getLogger("arobase.filters")

DANGEROUS_EXTENSIONS = frozenset(
    """
    exe dll com scr pif cpl msi msp mst jar js jse vbs vbe ps1 psm1 psd1 bat cmd hta wsf wsh wsc sct lnk
    iso img vhd vhdx reg inf scf chm xll appx appxbundle msix msixbundle application gadget apk dmg pkg
    """.split()
)
DOCUMENT_EXTENSIONS = frozenset("pdf doc docx xls xlsx ppt pptx txt rtf jpg jpeg png gif zip odt csv html htm".split())
OFFICE_EXTENSIONS = frozenset("doc dot docm dotm docx xls xlt xlsm xltm xlsb xlsx xla xlam ppt pptm pptx ppsm".split())
ARCHIVE_EXTENSIONS = frozenset("zip tar gz tgz bz2 xz".split())
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
MAX_MEMBERS = 1000

_MAGIC: list[tuple[bytes, int, str]] = [
    (b"MZ", 0, "a Windows program"),
    (b"\x7fELF", 0, "a Linux program"),
    (b"\xfe\xed\xfa\xce", 0, "a macOS program"),
    (b"\xfe\xed\xfa\xcf", 0, "a macOS program"),
    (b"\xce\xfa\xed\xfe", 0, "a macOS program"),
    (b"\xcf\xfa\xed\xfe", 0, "a macOS program"),
    (b"\xca\xfe\xba\xbe", 0, "a macOS or Java program"),
    (b"L\x00\x00\x00\x01\x14\x02\x00", 0, "a Windows shortcut"),
    (b"CD001", 0x8001, "a disk image"),
    (b"CD001", 0x8801, "a disk image"),
    (b"CD001", 0x9001, "a disk image"),
    (b"conectix", 0, "a virtual disk"),
    (b"vhdxfile", 0, "a virtual disk"),
    (b"#!", 0, "a script"),
]


@dataclass(frozen=True, slots=True)
class Limits:
    depth: int = 3  # archives inside archives opened
    max_bytes: int = 25 * 1024 * 1024  # expanded bytes inspected per attachment
    timeout: float = 5.0  # seconds per document inspection


@dataclass(frozen=True, slots=True)
class Finding:
    filename: str
    reason: str  # plain words: "is a Windows program", "contains macros"


def extension(name: str) -> str:
    base = name.rstrip(" .").rpartition("/")[2]
    return base.rpartition(".")[2].lower() if "." in base else ""


def inspect(attachment: Attachment, limits: Limits) -> list[Finding]:
    """Why one attachment is dangerous; empty when it looks harmless."""
    name = attachment.filename or f"part {attachment.number}"
    reasons = inspect_bytes(attachment.filename, attachment.data, limits, 0)
    if attachment.content_type == "text/html" or extension(attachment.filename) in ("html", "htm", "xhtml", "svg"):
        lowered = attachment.data[: 2 * 1024 * 1024].lower()
        if b"<form" in lowered or b"<script" in lowered:
            reasons.append("is a web page with a form or script")
    return [Finding(name, reason) for reason in dict.fromkeys(reasons)]


def inspect_bytes(name: str, data: bytes, limits: Limits, depth: int) -> list[str]:
    """Reasons a named blob of bytes is dangerous (recursing into archives)."""
    reasons: list[str] = []
    if any(c in BIDI_CONTROLS for c in name):
        reasons.append("has a name that hides its real extension with right-to-left characters")
        name = "".join(c for c in name if c not in BIDI_CONTROLS)
    ext = extension(name)
    if ext in DANGEROUS_EXTENSIONS:
        reasons.append(f"is a .{ext} file, which can run code")
        stem = name.rstrip(" .").rpartition(".")[0]
        if extension(stem) in DOCUMENT_EXTENSIONS:
            reasons.append(f"pretends to be a .{extension(stem)} document (double extension)")
    for magic, offset, what in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            if magic != b"#!" or ext not in ("txt", "md", ""):
                reasons.append(f"is {what}")
            break
    if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06" or ext == "zip":
        reasons += _office(data, limits) if ext in OFFICE_EXTENSIONS else _zip(data, limits, depth)
    elif data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        reasons += _office(data, limits)
    elif data[:5] == b"%PDF-" or ext == "pdf":
        reasons += _pdf(data, limits)
    elif data[:2] == b"\x1f\x8b" or data[:3] == b"BZh" or data[:6] == b"\xfd7zXZ\x00" or data[257:262] == b"ustar":
        reasons += _tar(data, limits, depth)
    elif data[:6] == b"7z\xbc\xaf\x27\x1c" or data[:7] == b"Rar!\x1a\x07":
        reasons.append("is an archive format that cannot be inspected here")
    return reasons


def _read_bounded(stream: io.BufferedIOBase | io.RawIOBase | object, budget: int) -> bytes | None:
    """Read at most `budget` bytes; None when there was more (a bomb, for our purposes)."""
    data = stream.read(budget + 1)  # type: ignore[attr-defined]
    return None if len(data) > budget else data


def _zip(data: bytes, limits: Limits, depth: int) -> list[str]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError):
        return []  # not really a zip: the magic bytes and the name already spoke
    if len(members) > MAX_MEMBERS:
        return [f"is an archive of {len(members)} files, too many to inspect"]
    reasons: list[str] = []
    budget = limits.max_bytes
    if sum(m.file_size for m in members) > budget:
        return ["expands to more than the inspection limit (a possible zip bomb)"]
    for member in members:
        if member.is_dir():
            continue
        if member.flag_bits & 0x1:
            reasons.append("is an encrypted archive, which cannot be inspected")
            break
        inner_reasons_name = member.filename
        if depth + 1 > limits.depth:
            reasons.append("nests archives deeper than the inspection limit")
            break
        try:
            with archive.open(member) as stream:
                inner = _read_bounded(stream, budget)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError):
            reasons.append(f"holds {inner_reasons_name}, which cannot be read")
            continue
        if inner is None:
            return ["expands to more than the inspection limit (a possible zip bomb)"]
        budget -= len(inner)
        found = inspect_bytes(inner_reasons_name, inner, limits, depth + 1)
        reasons += [f"contains {inner_reasons_name}, which {reason}" for reason in found]
    return reasons


def _tar(data: bytes, limits: Limits, depth: int) -> list[str]:
    import gzip

    if data[:2] == b"\x1f\x8b" and data[257:262] != b"ustar":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
                inner = _read_bounded(stream, limits.max_bytes)
        except (OSError, EOFError):
            return []
        if inner is None:
            return ["expands to more than the inspection limit (a possible bomb)"]
        if inner[257:262] != b"ustar":
            return [f"contains a file which {r}" for r in inspect_bytes("", inner, limits, depth + 1)]
        data = inner
    reasons: list[str] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            budget = limits.max_bytes
            for count, member in enumerate(archive):
                if count >= MAX_MEMBERS:
                    return ["is an archive with too many files to inspect"]
                if not member.isfile():
                    continue
                if depth + 1 > limits.depth:
                    return ["nests archives deeper than the inspection limit"]
                stream = archive.extractfile(member)
                inner = _read_bounded(stream, budget) if stream else b""
                if inner is None:
                    return ["expands to more than the inspection limit (a possible bomb)"]
                budget -= len(inner)
                reasons += [
                    f"contains {member.name}, which {r}" for r in inspect_bytes(member.name, inner, limits, depth + 1)
                ]
    except (tarfile.TarError, OSError, EOFError):
        return reasons
    return reasons


def _bounded(function, data: bytes, limits: Limits, what: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Run a document inspection with the time budget; overrunning it counts as dangerous.

    A parser crash does not: everyday PDFs and Office files are often slightly malformed, and
    quarantining them all would teach users to release everything.
    """
    if len(data) > limits.max_bytes:
        return [f"is a {what} too large to inspect"]
    future = _POOL.submit(function, data)
    try:
        return list(future.result(timeout=limits.timeout))
    except concurrent.futures.TimeoutError:
        return [f"is a {what} that could not be inspected in time"]
    except Exception as e:
        log.info("%s inspection failed: %r", what, e)
        return []


_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="arobase-scan")


def _office(data: bytes, limits: Limits) -> list[str]:
    return _bounded(_office_macros, data, limits, "document")


def _office_macros(data: bytes) -> list[str]:
    with warnings.catch_warnings():  # oletools' pyparsing grammar warns about deprecated names at import
        warnings.simplefilter("ignore")
        from oletools.olevba import VBA_Parser

    logging.getLogger("olevba").setLevel(logging.CRITICAL)
    parser = VBA_Parser("attachment", data=data)
    try:
        if parser.detect_vba_macros():
            return ["is an Office document with macros"]
        if parser.detect_xlm_macros():
            return ["is an Office document with Excel 4 macros"]
        return []
    finally:
        parser.close()


def _pdf(data: bytes, limits: Limits) -> list[str]:
    return _bounded(_pdf_actions, data, limits, "PDF")


def _pdf_actions(data: bytes) -> list[str]:
    import pikepdf

    reasons: list[str] = []
    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError:
        return ["is an encrypted PDF, which cannot be inspected"]
    except pikepdf.PdfError:
        return []
    with pdf:
        root = pdf.Root
        names = root.get("/Names")
        if "/OpenAction" in root:
            action = root.OpenAction
            if isinstance(action, pikepdf.Dictionary) and str(action.get("/S", "")) in ("/JavaScript", "/Launch"):
                reasons.append("is a PDF that runs an action when opened")
                if "/JS" in action:
                    reasons.append("is a PDF with JavaScript")
        if "/AA" in root:
            reasons.append("is a PDF with automatic actions")
        if isinstance(names, pikepdf.Dictionary) and "/JavaScript" in names:
            reasons.append("is a PDF with JavaScript")
        for count, obj in enumerate(pdf.objects):
            if count > 100_000:
                reasons.append("is a PDF too large to inspect")
                break
            if not isinstance(obj, pikepdf.Dictionary):
                continue
            kind = str(obj.get("/S", ""))
            if "/JS" in obj or kind == "/JavaScript":
                reasons.append("is a PDF with JavaScript")
            elif kind == "/Launch":
                reasons.append("is a PDF that launches programs")
    return list(dict.fromkeys(reasons))
