"""A tiny, strict reader for IMAP response s-expressions (test helper).

Checks what a client parser relies on: balanced parentheses, well-formed quoted
strings (7-bit, no CR/LF/NUL, only \\\\ and \\" escapes), exact literal lengths,
and single spaces between items (none needed between adjacent lists).
"""

from __future__ import annotations

Value = bytes | int | None | list["Value"]


class SexpError(ValueError):
    pass


def parse_sexp(data: bytes) -> Value:
    """Parse exactly one value covering all of ``data``."""
    value, pos = _value(data, 0)
    if pos != len(data):
        raise SexpError(f"trailing data at {pos}: {data[pos:pos + 20]!r}")
    return value


def _value(data: bytes, pos: int) -> tuple[Value, int]:
    if pos >= len(data):
        raise SexpError("unexpected end")
    c = data[pos]
    if c == ord("("):
        return _list(data, pos + 1)
    if c == ord('"'):
        return _quoted(data, pos + 1)
    if c == ord("{"):
        return _literal(data, pos + 1)
    end = pos
    while end < len(data) and data[end] not in b" ()":
        end += 1
    atom = data[pos:end]
    if atom == b"NIL":
        return None, end
    if atom.isdigit():
        return int(atom), end
    raise SexpError(f"bad atom {atom!r} at {pos}")


def _list(data: bytes, pos: int) -> tuple[Value, int]:
    items: list[Value] = []
    while True:
        if pos >= len(data):
            raise SexpError("unbalanced parentheses")
        if data[pos] == ord(")"):
            return items, pos + 1
        if items:
            if data[pos] == ord(" "):
                pos += 1
                if pos < len(data) and data[pos] in b" )":
                    raise SexpError(f"bad spacing at {pos}")
            elif not (data[pos] == ord("(") and isinstance(items[-1], list)):
                raise SexpError(f"missing space at {pos}")
        item, pos = _value(data, pos)
        items.append(item)


def _quoted(data: bytes, pos: int) -> tuple[Value, int]:
    out = bytearray()
    while True:
        if pos >= len(data):
            raise SexpError("unterminated quoted string")
        c = data[pos]
        if c == ord('"'):
            return bytes(out), pos + 1
        if c == ord("\\"):
            if pos + 1 >= len(data) or data[pos + 1] not in b'"\\':
                raise SexpError(f"bad escape at {pos}")
            out.append(data[pos + 1])
            pos += 2
            continue
        if c in (0, 0x0D, 0x0A) or c > 0x7F:
            raise SexpError(f"invalid byte {c:#x} in quoted string at {pos}")
        out.append(c)
        pos += 1


def _literal(data: bytes, pos: int) -> tuple[Value, int]:
    close = data.find(b"}\r\n", pos)
    if close == -1 or not data[pos:close].isdigit():
        raise SexpError(f"bad literal header at {pos}")
    n = int(data[pos:close])
    start = close + 3
    if start + n > len(data):
        raise SexpError("literal runs past the end")
    body = data[start : start + n]
    if b"\x00" in body:
        raise SexpError("NUL in literal")
    return body, start + n


def check_envelope(env: Value) -> None:
    """ENVELOPE: 10 fields, address lists of 4-tuples of nstrings."""
    assert isinstance(env, list) and len(env) == 10, env
    for i in (0, 1, 8, 9):
        assert env[i] is None or isinstance(env[i], bytes), env[i]
    for addrs in env[2:8]:
        if addrs is None:
            continue
        assert isinstance(addrs, list) and addrs, addrs
        for a in addrs:
            assert isinstance(a, list) and len(a) == 4, a
            assert all(x is None or isinstance(x, bytes) for x in a), a


def check_body(body: Value, extended: bool, sizes: list[int]) -> None:
    """BODY/BODYSTRUCTURE shape per RFC 3501 section 7.4.2; collects leaf sizes."""
    assert isinstance(body, list) and body, body
    if isinstance(body[0], list):
        i = 0
        while i < len(body) and isinstance(body[i], list):
            check_body(body[i], extended, sizes)
            i += 1
        assert isinstance(body[i], bytes), body[i]
        rest = body[i + 1 :]
        assert len(rest) == (4 if extended else 0), rest
        if extended:
            _check_params(rest[0])
            _check_ext(rest[1:])
        return
    mtype, subtype, params, cid, desc, enc, size = body[:7]
    assert isinstance(mtype, bytes) and isinstance(subtype, bytes), body
    _check_params(params)
    for x in (cid, desc):
        assert x is None or isinstance(x, bytes)
    assert isinstance(enc, bytes)
    assert isinstance(size, int)
    sizes.append(size)
    rest = body[7:]
    if mtype.upper() == b"MESSAGE" and subtype.upper() in (b"RFC822", b"GLOBAL"):
        check_envelope(rest[0])
        check_body(rest[1], extended, sizes)
        assert isinstance(rest[2], int)
        rest = rest[3:]
    elif mtype.upper() == b"TEXT":
        assert isinstance(rest[0], int)
        rest = rest[1:]
    assert len(rest) == (4 if extended else 0), rest
    if extended:
        assert rest[0] is None or isinstance(rest[0], bytes)
        _check_ext(rest[1:])


def _check_params(params: Value) -> None:
    if params is None:
        return
    assert isinstance(params, list) and params and len(params) % 2 == 0, params
    assert all(isinstance(x, bytes) for x in params), params


def _check_ext(ext: list[Value]) -> None:
    dsp, lang, loc = ext
    if dsp is not None:
        assert isinstance(dsp, list) and len(dsp) == 2 and isinstance(dsp[0], bytes), dsp
        _check_params(dsp[1])
    if isinstance(lang, list):
        assert lang and all(isinstance(x, bytes) for x in lang)
    else:
        assert lang is None or isinstance(lang, bytes)
    assert loc is None or isinstance(loc, bytes)
