"""Text extraction: charset decoding, HTML to plain text, and previews.

Used for full-text search (``body_text``) and RFC 8970 PREVIEW.  Mail lies about
charsets all the time, so decoding never fails: unknown or wrong charsets fall
back to UTF-8 and then Windows-1252.
"""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser

PREVIEW_CHARS = 200

# Labels seen in real mail that Python does not know, or knows too strictly.
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ksc5601": "cp949",
    "euc-kr": "cp949",
    "gb2312": "gbk",
    "x-gbk": "gbk",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "windows-31j": "cp932",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "unicode-1-1-utf-7": "utf-7",
}
_ASCII_LABELS = frozenset({"", "us-ascii", "ascii", "ansi_x3.4-1968", "us_ascii"})


def _codec(charset: str) -> str | None:
    label = charset.strip().strip('"').lower()
    label = _CHARSET_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except (LookupError, ValueError):  # unknown, or not even a name (a NUL in it)
        return None


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode body bytes in their declared charset, guessing when it is absent or wrong."""
    label = (charset or "").strip().strip('"').lower()
    if label in _ASCII_LABELS:
        codec = "ascii" if data.isascii() else None
    else:
        codec = _codec(label)
    if codec is not None:
        try:
            return data.decode(codec, "replace")
        except Exception:  # some stateful codecs raise despite "replace"
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


_BLOCK_TAGS = frozenset(
    "address article aside blockquote br caption dd div dl dt fieldset figcaption figure "
    "footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tbody "
    "tfoot thead tr ul".split()
)
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript", "svg"})
_VOID_TAGS = frozenset(
    "area base br col embed hr img input link meta param source track wbr".split()
)
_SPACES = re.compile(r"[ \t\f\v\r\n\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    """Collects visible text; block elements become line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.skip_depth = 0
        self.pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth += 1
        elif tag == "pre":
            self.pre_depth += 1
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n")
        elif tag in ("td", "th"):
            self.chunks.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag == "pre":
            self.pre_depth = max(0, self.pre_depth - 1)
        if tag in _BLOCK_TAGS and tag not in _VOID_TAGS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.pre_depth:
            self.chunks.append(normalize_newlines(data))
        else:
            self.chunks.append(_SPACES.sub(" ", data))


def html_to_text(html: str) -> str:
    """Visible text of an HTML document: no tags, entities decoded, no script/style."""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
        raw = "".join(parser.chunks)
    except Exception:  # HTMLParser can still trip on pathological markup
        raw = re.sub(r"<[^>]*>", " ", html)
    lines = [" ".join(line.split()) for line in raw.split("\n")]
    text = "\n".join(lines)
    return _BLANK_LINES.sub("\n\n", text).strip()


def make_preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """RFC 8970-style preview: whitespace collapsed, at most ``limit`` characters.

    Cuts at a word boundary when one is reasonably close to the limit.
    """
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit]
    space = cut.rfind(" ")
    if space >= limit * 3 // 4 and flat[limit] != " ":
        cut = cut[:space]
    return cut.rstrip()
