"""Robustness, offsets on odd input, and the storage round trip."""

from __future__ import annotations

import json
import re

from arobase.mime import ParsedMessage, parse_message
from arobase.mime.parse import _parse, fallback_message

from .imap_sexp import check_body, check_envelope, parse_sexp

SAMPLE = (
    b"From: A <a@x.test>\r\nTo: b@x.test\r\nSubject: Re: hi\r\n"
    b"Date: Tue, 1 Jul 2003 10:52:37 +0200\r\nMessage-ID: <m1@x.test>\r\n"
    b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n"
    b"--zz\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody \xc3\xa9\r\n"
    b"--zz\r\nContent-Type: image/png; name=a.png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"iVBORw0KGgo=\r\n--zz--\r\n"
)


def well_formed(m: ParsedMessage) -> None:
    check_envelope(parse_sexp(m.imap_envelope))
    check_body(parse_sexp(m.imap_bodystructure), True, [])
    check_body(parse_sexp(m.imap_body), False, [])


def test_record_round_trip_is_json_safe() -> None:
    m = parse_message(SAMPLE.replace(b"Subject: Re: hi", "Subject: Grüße".encode()))
    record = json.loads(json.dumps(m.to_record()))
    back = ParsedMessage.from_record(record)
    assert back == m
    assert back.date == m.date and back.parts[2].params == {"name": "a.png"}


def test_record_round_trip_fallback() -> None:
    m = fallback_message(b"\x00\xff")
    assert ParsedMessage.from_record(json.loads(json.dumps(m.to_record()))) == m
    well_formed(m)


def test_attachments_detected() -> None:
    m = parse_message(SAMPLE)
    assert m.has_attachments and m.attachment_names == ["a.png"]
    assert m.preview == "body \u00e9"
    plain = parse_message(b"Subject: x\r\n\r\nhello\r\n")
    assert not plain.has_attachments and plain.attachment_names == []


def test_bare_lf_offsets() -> None:
    lf = SAMPLE.replace(b"\r\n", b"\n")
    m = parse_message(lf)
    well_formed(m)
    text = m.part("1")
    image = m.part("2")
    assert text is not None and image is not None
    assert lf[text.body_start : text.body_end] == b"body \xc3\xa9"
    assert lf[image.header_start : image.body_start].endswith(b"base64\n\n")
    assert lf[image.body_start : image.body_end] == b"iVBORw0KGgo="
    crlf = parse_message(SAMPLE)
    assert [p.content_type for p in crlf.parts] == [p.content_type for p in m.parts]


def test_multipart_without_boundary_is_text() -> None:
    m = _parse(b"Content-Type: multipart/mixed\r\n\r\nno parts here\r\n")
    assert [(p.number, p.content_type) for p in m.parts] == [("1", "text/plain")]
    assert "no parts here" in m.body_text
    assert m.imap_body.startswith(b'("TEXT" "PLAIN" ("CHARSET" "us-ascii")')
    well_formed(m)


def test_boundary_never_seen_is_text() -> None:
    m = _parse(b"Content-Type: multipart/mixed; boundary=q\r\n\r\n--other\r\nx\r\n")
    assert [p.content_type for p in m.parts] == ["text/plain"]
    assert m.parts[0].params == {"charset": "us-ascii"}
    well_formed(m)


def test_missing_close_boundary_and_empty_parts() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\none\r\n--q\r\n--q\r\n"
    m = _parse(raw)
    assert [p.number for p in m.parts] == ["", "1", "2"]
    assert raw[m.parts[1].body_start : m.parts[1].body_end] == b"one"
    assert m.parts[2].size == 0
    well_formed(m)


def test_no_header_body_separator() -> None:
    m = _parse(b"Subject: hi\r\nthis line is not a header\r\nmore\r\n")
    assert m.subject == "hi"
    (part,) = m.parts
    assert part.body_start == len(b"Subject: hi\r\n")


def test_transfer_encoded_message_rfc822_is_opaque() -> None:
    raw = (
        b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"U3ViamVjdDogeA0KDQpoaQ0K\r\n"
    )
    m = _parse(raw)
    assert [p.content_type for p in m.parts] == ["message/rfc822"]
    assert m.imap_body.startswith(b'("APPLICATION" "OCTET-STREAM" NIL NIL NIL "BASE64" 26)')
    well_formed(m)


def test_deep_nesting_does_not_recurse_forever() -> None:
    depth = 400
    raw = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(depth)
    ) + b"\r\nleaf\r\n"
    m = _parse(raw)
    well_formed(m)
    assert len(m.parts) <= 60


def test_rfc2047_and_rfc2231_filenames() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        b'--b\r\nContent-Type: application/octet-stream; name="=?utf-8?q?r=C3=A9sum=C3=A9.pdf?="\r\n\r\nx\r\n'
        b"--b\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*0*=utf-8''caf%C3%A9;\r\n filename*1=.txt\r\n\r\ny\r\n"
        b"--b--\r\n"
    )
    m = parse_message(raw)
    assert m.attachment_names == ["r\u00e9sum\u00e9.pdf", "caf\u00e9.txt"]
    assert m.part("2").disposition_params == {"filename": "caf\u00e9.txt"}
    well_formed(m)


def test_lines_and_sizes() -> None:
    m = parse_message(b"Subject: x\r\n\r\na\r\nb\r\nc")
    assert (m.parts[0].size, m.parts[0].lines) == (7, 3)
    assert re.search(rb'"7BIT" 7 3\)$', m.imap_body)


def test_part_budget_keeps_the_rest_in_the_last_part() -> None:
    from arobase.mime.structure import MAX_PARTS

    raw = (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        + b"--b\r\n\r\nz\r\n" * (MAX_PARTS + 50)
        + b"--b--\r\n"
    )
    m = _parse(raw)
    assert len(m.parts) == MAX_PARTS
    last = m.parts[-1]
    assert raw[last.body_start : last.body_end].endswith(b"z\r\n--b--")
    well_formed(m)
