"""Arbitrary input never crashes the parser (and never needs the fallback)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arobase.mime import ParsedMessage, parse_message
from arobase.mime.parse import _parse

from .imap_sexp import check_body, check_envelope, parse_sexp

FRAGMENTS = [
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"--b\r\n",
    b"--b--\r\n",
    b"--c\r\n",
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"Content-Type: multipart/alternative; boundary=c\r\n",
    b"Content-Type: multipart/digest; boundary=c\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Type: message/delivery-status\r\n",
    b"Content-Type: text/html; charset=utf-8\r\n",
    b"Content-Type: text/plain; charset=\"x\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Disposition: attachment; filename*0*=utf-8''%C3; filename*1=x\r\n",
    b"From: \"a\\\" <b@c>, (x <y>), g: h@i;\r\n",
    b"Subject: =?utf-8?q?=C3?= =?bogus?b?###?=\r\n",
    b"Date: Mon, 32 Foo 99999 99:99 +9999\r\n",
    b"\xff\xfe\x00",
    b"<p>&amp;<script>",
    b"aGVsbG8=\r\n",
    b"From nobody\r\n",
    b": empty name\r\n",
]

messages = st.one_of(
    st.binary(max_size=2000),
    st.lists(st.sampled_from(FRAGMENTS), max_size=40).map(b"".join),
    st.lists(
        st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=20)), max_size=40
    ).map(b"".join),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages)
def test_never_crashes(raw: bytes) -> None:
    m = _parse(raw)  # the real parser must cope without the fallback
    check_envelope(parse_sexp(m.imap_envelope))
    sizes: list[int] = []
    check_body(parse_sexp(m.imap_bodystructure), True, sizes)
    check_body(parse_sexp(m.imap_body), False, [])
    assert sizes == [p.size for p in m.parts if not p.is_multipart]
    for p in m.parts:
        assert 0 <= p.header_start <= p.body_start <= p.body_end <= len(raw)
    assert parse_message(raw) == m
    record = json.dumps(m.to_record(), ensure_ascii=False).encode("utf-8")  # no lone surrogates
    assert ParsedMessage.from_record(json.loads(record)) == m
