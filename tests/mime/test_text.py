"""HTML to text, charset guessing, previews and search text."""

from __future__ import annotations

from arobase.mime import html_to_text, make_preview, parse_message
from arobase.mime.text import decode_bytes


def test_html_to_text_drops_markup_scripts_and_styles() -> None:
    html = (
        "<html><head><title>T</title><style>p {color: red}</style></head>"
        "<body><script>alert('x')</script><h1>Hello&nbsp;&amp; welcome</h1>"
        "<p>First&#32;para &lt;3</p><div>Second<br>line</div>"
        "<ul><li>one</li><li>two</li></ul><!-- hidden --></body></html>"
    )
    text = html_to_text(html)
    assert text == "Hello & welcome\n\nFirst para <3\n\nSecond\nline\n\none\n\ntwo"
    assert "alert" not in text and "color" not in text and "<" not in text.replace("<3", "")


def test_html_to_text_survives_garbage() -> None:
    assert html_to_text("<<<>>> <a href='x>y</a> &bogus; </p></div>") is not None
    assert html_to_text("<![CDATA[x]]><!DOCTYPE html><?php ?>ok") .endswith("ok")
    assert html_to_text("") == ""


def test_preview_truncation() -> None:
    assert make_preview("  short \r\n\t text ") == "short text"
    long = ("word " * 100).strip()
    preview = make_preview(long)
    assert len(preview) <= 200
    assert preview.endswith("word") and "  " not in preview
    unbroken = "x" * 500
    assert make_preview(unbroken) == "x" * 200


def test_preview_prefers_plain_then_html() -> None:
    html_only = (
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>Hello <b>there</b></p><p>" + b"a " * 300 + b"</p>"
    )
    m = parse_message(html_only)
    assert m.preview.startswith("Hello there a a")
    assert len(m.preview) <= 200
    alt = (
        b"Content-Type: multipart/alternative; boundary=x\r\n\r\n"
        b"--x\r\nContent-Type: text/html\r\n\r\n<p>the html</p>\r\n"
        b"--x\r\nContent-Type: text/plain\r\n\r\nthe plain\r\n--x--\r\n"
    )
    m = parse_message(alt)
    assert m.preview == "the plain"
    assert "the plain" in m.body_text and "the html" not in m.body_text


def test_body_text_decodes_transfer_and_charset() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nd=E9j=E0 vu=\r\n!\r\n"
        b"--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"PHA+U2Now7ZuPC9wPg==\r\n"
        b"--b\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\nna\xc3\xafve\r\n"
        b"--b--\r\n"
    )
    m = parse_message(raw)
    assert "d\u00e9j\u00e0 vu!" in m.body_text
    assert "Sch\u00f6n" in m.body_text
    assert "na\u00efve" in m.body_text


def test_decode_bytes_guesses() -> None:
    assert decode_bytes(b"caf\xc3\xa9", None) == "caf\u00e9"  # 8-bit without charset: UTF-8
    assert decode_bytes(b"caf\xe9", "us-ascii") == "caf\u00e9"  # mislabelled Latin-1
    assert decode_bytes(b"\x93q\x94", "iso-8859-1") == "\u201cq\u201d"  # really cp1252
    assert decode_bytes(b"+AOk-", "utf-7") == "\u00e9"
    assert decode_bytes(b"\x1b$B$3$s$K$A$O\x1b(B", "ISO-2022-JP") == "\u3053\u3093\u306b\u3061\u306f"
    assert decode_bytes(b"abc", "no-such-charset") == "abc"


def test_header_text_for_search() -> None:
    m = parse_message(b"Subject: =?utf-8?b?w6l0w6k=?=\r\nX-Tag: plain\r\n\r\n")
    assert "Subject: \u00e9t\u00e9" in m.header_text
    assert "X-Tag: plain" in m.header_text


def test_preview_uses_first_body_not_a_later_footer() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=m\r\n\r\n"
        b"--m\r\nContent-Type: text/html\r\n\r\n<p>real body</p>\r\n"
        b"--m\r\nContent-Type: text/plain\r\n\r\n-- list footer\r\n--m--\r\n"
    )
    m = parse_message(raw)
    assert m.preview == "real body"
    assert "list footer" in m.body_text


def test_preview_skips_attachments_and_attached_messages() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=m\r\n\r\n"
        b"--m\r\nContent-Type: text/plain; name=notes.txt\r\n"
        b"Content-Disposition: attachment; filename=notes.txt\r\n\r\nattached notes\r\n"
        b"--m\r\nContent-Type: message/rfc822\r\n\r\nSubject: fwd\r\n\r\nforwarded text\r\n"
        b"--m--\r\n"
    )
    m = parse_message(raw)
    assert m.preview == ""
    assert "attached notes" in m.body_text and "forwarded text" in m.body_text
    assert m.has_attachments and m.attachment_names == ["notes.txt"]


def test_a_charset_that_is_not_a_name_decodes_as_undeclared() -> None:
    """Found by the fuzz test: codecs.lookup raises ValueError, not LookupError, on a NUL."""
    assert decode_bytes(b"caf\xc3\xa9", "\x00") == "café"
    assert parse_message(b"Content-Type: text/plain; charset=\x00\r\n\r\nhello").body_text.strip() == "hello"
