"""Dangerous attachments recognised by their bytes, names, macros, PDF actions and archive contents."""

from __future__ import annotations

import io
import tarfile
import warnings
import zipfile

import olefile
import pikepdf
import pytest

from arobase.filters.attachments import Limits, inspect, inspect_bytes
from arobase.filters.content import Attachment

from .cfb import Tree, compound_file, vba_storage

with warnings.catch_warnings():  # oletools' pyparsing grammar warns about deprecated names at import
    warnings.simplefilter("ignore")
    from oletools.olevba import VBA_Parser

LIMITS = Limits(depth=2, max_bytes=1024 * 1024, timeout=5.0)
MACRO = 'Sub AutoOpen()\n    Shell "calc.exe", vbHide\nEnd Sub'
MACROS = "is an Office document with macros"


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


MAIN_STREAM_HEADS = {
    "WordDocument": b"\xec\xa5\xc1\x00",  # the FIB: wIdent 0xA5EC, nFib 0x00C1 (Word 97)
    "Workbook": b"\x09\x08\x10\x00\x00\x06\x05\x00",  # BIFF8 BOF record: version 0x0600, workbook globals
}


def legacy(main_stream: str, project_storage: str, *, code: bool = True) -> bytes:
    """A 97-2003 document: its main stream (over 4096 bytes, so in regular sectors), a small table stream in
    the mini stream, and the VBA project where Word ("Macros") or Excel ("_VBA_PROJECT_CUR") keeps it."""
    tree: Tree = {main_stream: MAIN_STREAM_HEADS[main_stream] + bytes(6000), "1Table": bytes(700)}
    tree[project_storage] = project(code=code)
    return compound_file(tree)


def project(*, code: bool = True) -> Tree:
    """The VBA project storage; without code it keeps PROJECT but loses the VBA storage holding the modules."""
    storage = vba_storage(MACRO)
    return storage if code else {name: part for name, part in storage.items() if name != "VBA"}


def ooxml(part: str, *, code: bool = True) -> bytes:
    """A 2007+ document whose vbaProject.bin part sits beside its main part, as in word/ or xl/."""
    body = b'<?xml version="1.0"?><document/>'
    vba = part.rpartition("/")[0] + "/vbaProject.bin"
    return zipped({"[Content_Types].xml": b"<Types/>", part: body, vba: compound_file(project(code=code))})


def test_generated_macro_documents_are_genuine() -> None:
    """The builders write what Office writes: a compound file olefile reads without a single defect, and a VBA
    project oletools decodes down to the module source (in strict mode, so every record is as specified)."""
    doc = legacy("WordDocument", "Macros")
    with olefile.OleFileIO(doc, raise_defects=olefile.DEFECT_UNSURE) as ole:
        assert sorted("/".join(path) for path in ole.listdir()) == [
            "1Table",
            "Macros/PROJECT",
            "Macros/PROJECTwm",
            "Macros/VBA/Module1",
            "Macros/VBA/_VBA_PROJECT",
            "Macros/VBA/dir",
            "WordDocument",
        ]
        assert ole.get_size("WordDocument") == 6004 and ole.openstream("1Table").read() == bytes(700)
    # A long module spans several 4096-byte compression chunks and compresses with copy tokens.
    long = "Sub Fill()\n" + "".join(f"    Cells({i}, 1).Value = {i} * 2\n" for i in range(400)) + "End Sub"
    long_project = compound_file(vba_storage(long))
    for name, data, code in (("invoice.doc", doc, MACRO), ("vbaProject.bin", long_project, long)):
        parser = VBA_Parser(name, data=data, relaxed=False)
        try:
            [(_, stream, module, source)] = parser.extract_macros()
        finally:
            parser.close()
        assert stream.endswith("VBA/Module1") and module == "Module1.bas"
        assert source == 'Attribute VB_Name = "Module1"\r\n' + code.replace("\n", "\r\n") + "\r\n"
    assert len(long_project) < len(long) / 2


@pytest.mark.parametrize(("name", "part"), [("report.docm", "word/document.xml"), ("budget.xlsm", "xl/workbook.xml")])
def test_ooxml_documents_with_a_vba_project_are_caught(name: str, part: str) -> None:
    assert reasons(name, ooxml(part)) == [MACROS]
    assert reasons(name, ooxml(part, code=False)) == []


@pytest.mark.parametrize(
    ("name", "main_stream", "storage"),
    [("invoice.doc", "WordDocument", "Macros"), ("prices.xls", "Workbook", "_VBA_PROJECT_CUR")],
)
def test_legacy_documents_with_macros_are_caught(name: str, main_stream: str, storage: str) -> None:
    assert reasons(name, legacy(main_stream, storage)) == [MACROS]
    assert reasons("photo.jpg", legacy(main_stream, storage)) == [MACROS]  # the bytes speak, not the name
    assert reasons(name, legacy(main_stream, storage, code=False)) == []


def test_macro_documents_inside_archives_are_caught() -> None:
    archive = zipped({"scans/invoice.doc": legacy("WordDocument", "Macros"), "report.docm": ooxml("word/document.xml")})
    assert reasons("documents.zip", archive) == [
        f"contains scans/invoice.doc, which {MACROS}",
        f"contains report.docm, which {MACROS}",
    ]
    clean = zipped({"scans/invoice.doc": legacy("WordDocument", "Macros", code=False)})
    assert reasons("documents.zip", clean) == []


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
