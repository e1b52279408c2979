"""Every sample message parses, and our byte-level view agrees with the stdlib's."""

from __future__ import annotations

import email
import email.utils
import re
from email import policy
from email.message import Message
from email.policy import Policy
from pathlib import Path

import pytest

from arobase.mime import ParsedMessage, Part
from arobase.mime.parse import _parse
from arobase.mime.structure import ENCAPSULATING, IDENTITY_ENCODINGS

from .imap_sexp import check_body, check_envelope, parse_sexp


def _corpus_dir() -> Path:
    here = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "mime"
    return here if here.is_dir() else Path("/work/shared/corpus/mime")


CORPUS = _corpus_dir()
_SKIP_PREFIXES = ("LICENSE", "NOTICE", "README", "SOURCES")


def _corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        p
        for p in CORPUS.rglob("*")
        if p.is_file()
        and p.suffix in (".eml", ".txt", ".msg")
        and not p.name.startswith(_SKIP_PREFIXES)
    )


FILES = _corpus_files()


def crlf(raw: bytes) -> bytes:
    """Normalise bare LF to CRLF, as the server does before parsing."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", raw)


def _stdlib_leaves(msg: Message, out: list[tuple[str, Message, bool]]) -> None:
    """Leaves as IMAP sees them: (content type, stdlib part, demoted multipart?)."""
    ctype = msg.get_content_type()
    if ctype.startswith("multipart/"):
        if msg.is_multipart():
            for sub in msg.get_payload():
                _stdlib_leaves(sub, out)
        else:  # no usable boundary: we describe it as text/plain
            out.append(("text/plain", msg, True))
        return
    cte = str(msg.get("content-transfer-encoding", "")).strip().lower()
    if ctype in ENCAPSULATING and msg.is_multipart() and cte in IDENTITY_ENCODINGS:
        _stdlib_leaves(msg.get_payload(0), out)
        return
    # Other message/* types (delivery-status, partial...) are opaque leaves for IMAP.
    out.append((ctype, msg, False))


def _stdlib_view(raw: bytes, pol: Policy) -> list[tuple[str, Message, bool]]:
    out: list[tuple[str, Message, bool]] = []
    _stdlib_leaves(email.message_from_bytes(raw, policy=pol), out)
    return out


def _stdlib_text(msg: Message) -> str:
    """What ``get_content()`` returns for text (compat32 messages lack it)."""
    charset = msg.get_param("charset", "ASCII")
    if isinstance(charset, tuple):
        charset = email.utils.collapse_rfc2231_value(charset)
    return msg.get_payload(decode=True).decode(str(charset), errors="replace")


def _our_leaves(parsed: ParsedMessage) -> list[Part]:
    parts = parsed.parts
    leaves = []
    for i, p in enumerate(parts):
        if p.is_multipart:
            continue
        nxt = parts[i + 1] if i + 1 < len(parts) else None
        if nxt is not None and nxt.number.startswith(p.number + "."):
            continue  # encapsulated message: its contents follow
        leaves.append(p)
    return leaves


def _flat(text: str) -> str:
    return " ".join(text.split())


def _decode_like_stdlib(cte: str, body: bytes) -> bytes:
    m = Message()
    if cte:
        m["Content-Transfer-Encoding"] = cte
    m.set_payload(body.decode("ascii", "surrogateescape"))
    return m.get_payload(decode=True)


@pytest.mark.skipif(not FILES, reason="MIME corpus not available")
@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_message(path: Path) -> None:
    raw = crlf(path.read_bytes())
    parsed = _parse(raw)  # the real parser, not the never-fail fallback

    # IMAP forms are well-formed and have the right shape.
    check_envelope(parse_sexp(parsed.imap_envelope))
    sizes: list[int] = []
    check_body(parse_sexp(parsed.imap_bodystructure), True, sizes)
    check_body(parse_sexp(parsed.imap_body), False, [])
    assert sizes == [p.size for p in parsed.parts if not p.is_multipart]

    # Offsets are consistent.
    for p in parsed.parts:
        assert 0 <= p.header_start <= p.body_start <= p.body_end <= len(raw)
        assert p.size == p.body_end - p.body_start

    # Same leaves, same types as the stdlib's own tree.  policy.default cannot
    # read unquoted boundaries such as ``boundary=----=_Part_1`` (we can, like
    # other mail software); for those few, the stdlib's compat32 view must agree.
    expected = _stdlib_view(raw, policy.default)
    ours = _our_leaves(parsed)
    if [p.content_type for p in ours] != [ct for ct, _, _ in expected]:
        compat = _stdlib_view(raw, policy.compat32)
        assert [ct for ct, _, _ in compat] != [ct for ct, _, _ in expected]
        expected = compat
    assert [p.content_type for p in ours] == [ct for ct, _, _ in expected]

    flat_body = _flat(parsed.body_text)
    for part, (ctype, smsg, demoted) in zip(ours, expected, strict=True):
        if demoted:
            continue  # stdlib keeps only the preamble here; we keep the whole body
        body = raw[part.body_start : part.body_end]
        payload = smsg._payload  # raw str (get_payload() would "fix" 8-bit bytes)
        if not isinstance(payload, str):
            continue  # delivery-status and friends: stdlib splits them further
        # The slice is exactly the stdlib's payload, so it decodes the same way.
        assert body == payload.encode("ascii", "surrogateescape")
        cte = str(smsg.get("content-transfer-encoding", ""))
        assert _decode_like_stdlib(cte, body) == smsg.get_payload(decode=True)
        if ctype == "text/plain":
            try:
                text = _stdlib_text(smsg)
            except LookupError:
                continue  # unknown charset: the stdlib cannot decode it
            flat = _flat(text)
            if flat in flat_body:
                continue
            # We guess better than "replace" for mislabelled 8-bit text; the
            # plain-ASCII words must still all be there.
            words = [w for w in flat.split() if w.isascii()]
            missing = [w for w in words if w not in flat_body]
            assert not missing, missing[:10]
