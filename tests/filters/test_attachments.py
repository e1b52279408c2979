"""Dangerous attachments recognised by their bytes, names, macros, PDF actions and archive contents."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pikepdf

from arobase.filters.attachments import Limits, inspect, inspect_bytes
from arobase.filters.content import Attachment

LIMITS = Limits(depth=2, max_bytes=1024 * 1024, timeout=5.0)


def reasons(name: str, data: bytes, limits: Limits = LIMITS) -> list[str]:
    return inspect_bytes(name, data, limits, 0)


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_programs_by_magic_bytes_whatever_the_name() -> None:
    assert "is a Windows program" in reasons("photo.jpg", b"MZ\x90\x00" + b"\0" * 60)
    assert "is a Linux program" in reasons("notes", b"\x7fELF\x02\x01\x01")
    assert "is a macOS program" in reasons("app", b"\xcf\xfa\xed\xfe" + b"\0" * 8)
    assert "is a Windows shortcut" in reasons("doc", b"L\x00\x00\x00\x01\x14\x02\x00" + b"\0" * 60)
    iso = bytearray(0x8010)
    iso[0x8001:0x8006] = b"CD001"
    assert "is a disk image" in reasons("files.bin", bytes(iso))
    assert reasons("photo.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 100) == []


def test_scripts_double_extensions_and_rtl_names() -> None:
    for ext in ("js", "jse", "vbs", "vbe", "ps1", "bat", "cmd", "hta", "wsf", "scr", "lnk", "iso", "img", "vhd"):
        assert f"is a .{ext} file, which can run code" in reasons(f"x.{ext}", b"text")
    assert "pretends to be a .pdf document (double extension)" in reasons("invoice.pdf.exe", b"x")
    rtl = reasons("invoice\u202efdp.exe", b"x")
    assert rtl[0].startswith("has a name that hides its real extension")
    assert "is a .exe file, which can run code" in rtl


def test_archives_nested_encrypted_and_bombs() -> None:
    inner = zipped({"run.vbs": b"CreateObject"})
    assert reasons("a.zip", zipped({"docs/inner.zip": inner})) == [
        "contains docs/inner.zip, which contains run.vbs, which is a .vbs file, which can run code"
    ]
    deep = zipped({"l3.zip": zipped({"l2.zip": zipped({"x.txt": b"hi"})})})
    assert any("deeper than the inspection limit" in r for r in reasons("deep.zip", deep))
    bomb = zipped({"zeros.bin": b"\0" * (2 * 1024 * 1024)})
    assert reasons("bomb.zip", bomb) == ["expands to more than the inspection limit (a possible zip bomb)"]
    encrypted = bytearray(zipped({"secret.doc": b"data"}))
    for signature in (b"PK\x03\x04", b"PK\x01\x02"):  # set the encryption flag in both headers
        pos = encrypted.find(signature)
        flag_at = pos + (6 if signature == b"PK\x03\x04" else 8)
        encrypted[flag_at] |= 1
    assert "is an encrypted archive, which cannot be inspected" in reasons("secret.zip", bytes(encrypted))
    assert reasons("fine.zip", zipped({"a.txt": b"hello", "b.pdf": b"%PDF-1.4 nothing"})) == []
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("setup.exe")
        data = b"MZ" + b"\0" * 10
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    assert any("contains setup.exe" in r for r in reasons("pkg.tar.gz", tar_buffer.getvalue()))


def test_pdf_actions_and_html_forms() -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert(1)"))
    buffer = io.BytesIO()
    pdf.save(buffer)
    found = reasons("report.pdf", buffer.getvalue())
    assert "is a PDF that runs an action when opened" in found and "is a PDF with JavaScript" in found
    clean = pikepdf.new()
    clean.add_blank_page()
    buffer = io.BytesIO()
    clean.save(buffer)
    assert reasons("clean.pdf", buffer.getvalue()) == []
    page = Attachment("2", "login.html", "text/html", b"<html><form action='https://x'><input name=p></form></html>")
    assert [f.reason for f in inspect(page, LIMITS)] == ["is a web page with a form or script"]


def test_office_documents_without_macros_are_fine() -> None:
    docx = zipped({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
    assert reasons("letter.docx", docx) == []
    vba = zipped({"[Content_Types].xml": b"<Types/>", "xl/vbaProject.bin": b"not ole"})
    assert isinstance(reasons("sheet.xlsm", vba), list)  # unreadable macro storage must not crash the scan


def test_ordinary_attachments_are_not_dangerous() -> None:
    """Images, invitations, documents and zips of documents: what people send every day passes."""
    pdf = pikepdf.new()
    pdf.add_blank_page()
    buffer = io.BytesIO()
    pdf.save(buffer)
    docx = zipped({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
    invitation = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:Lunch\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ordinary = [
        Attachment("2", "photo.jpg", "image/jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\0" * 200),
        Attachment("3", "chart.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"\0" * 200),
        Attachment("4", "smile.gif", "image/gif", b"GIF89a" + b"\0" * 100),
        Attachment("5", "invite.ics", "text/calendar", invitation),
        Attachment("6", "report.pdf", "application/pdf", buffer.getvalue()),
        Attachment("7", "letter.docx", "application/vnd.openxmlformats-officedocument", docx),
        Attachment("8", "minutes.zip", "application/zip", zipped({"a.pdf": buffer.getvalue(), "b.docx": docx})),
        Attachment("9", "notes.txt", "text/plain", b"#! not a script, just notes\n"),
        Attachment("10", "figures.csv", "text/csv", b"a,b\n1,2\n"),
    ]
    assert {a.filename: inspect(a, LIMITS) for a in ordinary} == {a.filename: [] for a in ordinary}
