"""IMAP wire forms: string quoting, ENVELOPE and BODY/BODYSTRUCTURE shapes (RFC 3501)."""

from __future__ import annotations

from arobase.mime import imap_nstring, imap_string, parse_message

from .imap_sexp import check_body, check_envelope, parse_sexp


def body_of(size: int, lines: int, final_eol: bool) -> bytes:
    """A body of exactly ``size`` octets and ``lines`` CRLF-separated lines."""
    eols = lines if final_eol else lines - 1
    chars = size - 2 * eols
    base, extra = divmod(chars, lines)
    rows = [b"x" * (base + (1 if i < extra else 0)) for i in range(lines)]
    return b"\r\n".join(rows) + (b"\r\n" if final_eol else b"")


RFC3501_HEADER = (
    b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
    b"From: Terry Gray <gray@cac.washington.edu>\r\n"
    b"Subject: IMAP4rev1 WG mtg summary and minutes\r\n"
    b"To: imap@cac.washington.edu\r\n"
    b"cc: minutes@CNRI.Reston.VA.US,\r\n"
    b"    John Klensin <KLENSIN@MIT.EDU>\r\n"
    b"Message-Id: <B27397-0100000@cac.washington.edu>\r\n"
    b"MIME-Version: 1.0\r\n"
)


def test_imap_string_quoted() -> None:
    assert imap_string("hello") == b'"hello"'
    assert imap_string(b"") == b'""'
    assert imap_string('say "hi" \\o/') == b'"say \\"hi\\" \\\\o/"'
    assert imap_string("tab\there") == b'"tab\there"'
    assert parse_sexp(imap_string('a"b\\c')) == b'a"b\\c'


def test_imap_string_literal() -> None:
    assert imap_string("line1\r\nline2") == b"{12}\r\nline1\r\nline2"
    assert imap_string("caf\u00e9") == b"{5}\r\ncaf\xc3\xa9"
    assert imap_string(b"\xff") == b"{1}\r\n\xff"
    assert imap_string(b"lf\nonly") == b"{7}\r\nlf\nonly"
    assert parse_sexp(imap_string("\u00fcber \"x\"")) == "\u00fcber \"x\"".encode()


def test_imap_string_drops_nul() -> None:
    assert imap_string(b"a\x00b") == b'"ab"'
    assert imap_nstring(None) == b"NIL"
    assert imap_nstring("x") == b'"x"'


def test_rfc3501_envelope_and_body() -> None:
    raw = (
        RFC3501_HEADER
        + b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n"
        + body_of(3028, 92, final_eol=True)
    )
    m = parse_message(raw)
    assert m.imap_envelope == (
        b'("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" '
        b'"IMAP4rev1 WG mtg summary and minutes" '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'((NIL NIL "imap" "cac.washington.edu")) '
        b'((NIL NIL "minutes" "CNRI.Reston.VA.US")'
        b'("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL '
        b'"<B27397-0100000@cac.washington.edu>")'
    )
    assert m.imap_body == b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92)'
    assert m.imap_bodystructure == (
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92 NIL NIL NIL NIL)'
    )


def test_rfc3501_multipart_body() -> None:
    raw = (
        RFC3501_HEADER
        + b'Content-Type: MULTIPART/MIXED; BOUNDARY="--B--"\r\n\r\n'
        + b"preamble\r\n----B--\r\n"
        + b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n"
        + body_of(1152, 23, final_eol=False)
        + b"\r\n----B--\r\n"
        + b'Content-Type: TEXT/PLAIN; CHARSET=US-ASCII; NAME="cc.diff"\r\n'
        + b"Content-ID: <960723163407.20117h@cac.washington.edu>\r\n"
        + b"Content-Description: Compiler diff\r\n"
        + b"Content-Transfer-Encoding: BASE64\r\n\r\n"
        + body_of(4554, 73, final_eol=False)
        + b"\r\n----B----\r\nepilogue\r\n"
    )
    m = parse_message(raw)
    assert m.imap_body == (
        b'(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23)'
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII" "NAME" "cc.diff") '
        b'"<960723163407.20117h@cac.washington.edu>" "Compiler diff" "BASE64" 4554 73) '
        b'"MIXED")'
    )
    assert m.imap_bodystructure == (
        b'(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23 NIL NIL NIL NIL)'
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII" "NAME" "cc.diff") '
        b'"<960723163407.20117h@cac.washington.edu>" "Compiler diff" "BASE64" 4554 73 '
        b'NIL NIL NIL NIL) "MIXED" ("BOUNDARY" "--B--") NIL NIL NIL)'
    )
    assert [p.number for p in m.parts] == ["", "1", "2"]


def test_bodystructure_extension_data() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=b\r\n"
        b"Content-Language: en\r\n\r\n"
        b"--b\r\n"
        b"Content-Type: application/pdf; name*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n"
        b'Content-Disposition: attachment; filename="cv.pdf"; size=3\r\n'
        b"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
        b"Content-Language: en, fr\r\n"
        b"Content-Location: http://example.com/cv.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        b"YWJj\r\n"
        b"--b--\r\n"
    )
    m = parse_message(raw)
    assert m.imap_bodystructure == (
        b'(("APPLICATION" "PDF" ("NAME*" "utf-8\'\'r%C3%A9sum%C3%A9.pdf") NIL NIL "BASE64" 4 '
        b'"Q2hlY2sgSW50ZWdyaXR5IQ==" ("ATTACHMENT" ("FILENAME" "cv.pdf" "SIZE" "3")) '
        b'("en" "fr") "http://example.com/cv.pdf") "MIXED" ("BOUNDARY" "b") NIL "en" NIL)'
    )
    pdf = m.part("1")
    assert pdf is not None
    assert pdf.params == {"name": "r\u00e9sum\u00e9.pdf"}
    assert pdf.filename == "cv.pdf"
    assert pdf.disposition == "attachment"
    assert pdf.md5 == "Q2hlY2sgSW50ZWdyaXR5IQ=="
    assert m.has_attachments
    assert m.attachment_names == ["cv.pdf"]


def test_nested_message_rfc822() -> None:
    inner = (
        b"From: Inner <inner@example.org>\r\n"
        b"Subject: =?utf-8?q?inner_caf=C3=A9?=\r\n"
        b"Content-Type: multipart/alternative; boundary=alt\r\n\r\n"
        b"--alt\r\nContent-Type: text/plain\r\n\r\ninner plain\r\n"
        b"--alt\r\nContent-Type: text/html\r\n\r\n<p>inner <b>html</b></p>\r\n"
        b"--alt--\r\n"
    )
    raw = (
        b"From: Outer <outer@example.org>\r\nSubject: outer\r\n"
        b"Content-Type: multipart/mixed; boundary=mix\r\n\r\n"
        b"--mix\r\n\r\nouter text\r\n"
        b"--mix\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--mix--\r\n"
    )
    m = parse_message(raw)
    assert [(p.number, p.content_type) for p in m.parts] == [
        ("", "multipart/mixed"),
        ("1", "text/plain"),
        ("2", "message/rfc822"),
        ("2.TEXT", "multipart/alternative"),
        ("2.1", "text/plain"),
        ("2.2", "text/html"),
    ]
    msg = m.part("2")
    assert msg is not None
    assert raw[msg.body_start : msg.body_end] == inner  # BODY[2] is the whole inner message
    assert raw[msg.header_start : msg.body_start] == b"Content-Type: message/rfc822\r\n\r\n"
    text = m.part("2.TEXT")
    assert text is not None and raw[text.header_start : text.body_start] == inner[: inner.index(
        b"--alt"
    )]
    p21 = m.part("2.1")
    assert p21 is not None and raw[p21.body_start : p21.body_end] == b"inner plain"
    assert raw[p21.header_start : p21.body_start] == b"Content-Type: text/plain\r\n\r\n"
    sizes: list[int] = []
    check_body(parse_sexp(m.imap_bodystructure), True, sizes)
    check_body(parse_sexp(m.imap_body), False, [])
    assert sizes == [p.size for p in m.parts if not p.is_multipart]
    assert b'"MESSAGE" "RFC822" NIL NIL NIL "7BIT" %d (NIL "=?utf-8?q?inner_caf=C3=A9?=" ' % len(
        inner
    ) in m.imap_bodystructure
    assert m.has_attachments  # the attached message
    assert "inner plain" in m.body_text and "outer text" in m.body_text
    assert m.preview == "outer text"


def test_nested_simple_message_numbering() -> None:
    raw = (
        b"Content-Type: message/rfc822\r\n\r\n"
        b"Subject: inner\r\n\r\nbody line\r\n"
    )
    m = parse_message(raw)
    assert [p.number for p in m.parts] == ["1", "1.1"]
    inner = m.parts[1]
    assert raw[inner.header_start : inner.body_start] == b"Subject: inner\r\n\r\n"
    assert raw[inner.body_start : inner.body_end] == b"body line\r\n"
    check_envelope(parse_sexp(m.imap_envelope))


def test_missing_headers() -> None:
    m = parse_message(b"\r\njust a body\r\n")
    assert m.imap_envelope == b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
    assert m.imap_body == b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 13 1)'
    assert m.subject == "" and m.date is None and m.from_ == [] and m.message_id is None
    (part,) = m.parts
    assert part.number == "1" and part.encoding == "7bit" and part.header_start == 0
    assert part.body_start == 2


def test_sender_and_reply_to_default_to_from() -> None:
    m = parse_message(b"From: a@b.example\r\nReply-To:\r\n\r\n")
    env = parse_sexp(m.imap_envelope)
    assert isinstance(env, list)
    assert env[2] == env[3] == env[4] == [[None, None, b"a", b"b.example"]]
    assert m.reply_to == [] and m.sender == []


def test_eight_bit_header_goes_out_as_literal() -> None:
    raw = "Subject: Grüße aus Köln\r\nFrom: Jörg <j@x.example>\r\n\r\nhi\r\n".encode()
    m = parse_message(raw)
    assert m.subject == "Grüße aus Köln"
    assert m.from_[0].name == "Jörg"
    subject = "Grüße aus Köln".encode()
    assert b"{%d}\r\n%s" % (len(subject), subject) in m.imap_envelope
    env = parse_sexp(m.imap_envelope)
    check_envelope(env)
    assert isinstance(env, list) and env[1] == subject


def test_latin1_header_is_decoded_not_dropped() -> None:
    m = parse_message(b"Subject: caf\xe9\r\n\r\n")
    assert m.subject == "caf\u00e9"
    check_envelope(parse_sexp(m.imap_envelope))


def test_quoted_string_needing_escapes_in_envelope() -> None:
    raw = b'From: "Doe, \\"JD\\" \\\\ John" <jd@example.com>\r\nSubject: a "quoted" \\ subject\r\n\r\n'
    m = parse_message(raw)
    env = parse_sexp(m.imap_envelope)
    assert isinstance(env, list)
    assert env[1] == b'a "quoted" \\ subject'
    assert env[2] == [[b'Doe, "JD" \\ John', None, b"jd", b"example.com"]]
    assert m.from_[0].name == 'Doe, "JD" \\ John'
