"""Mail HTML made safe to show: nh3 (ammonia) with a mail-sized allow-list, plus our own URL rules.

Sanitizing is the first wall; the second is where the result is shown: a sandboxed iframe (no
scripts, no same-origin) served with its own strict CSP. Rules enforced here:

* no scripts, event handlers, forms, iframes, objects, SVG, meta/base/link or <style> blocks;
* links keep http/https/mailto only, open in a new tab with rel="noopener noreferrer";
* images: cid: references become data: URLs of the message's own inline image parts (the only
  data: URLs ever emitted); remote images are dropped unless the reader asked to see them;
* style attributes keep a list of harmless properties, and no value with url(), expression(),
  javascript: or @import.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable
from dataclasses import dataclass

import nh3

TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup", "dd", "del",
    "details", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins",
    "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strike", "strong", "sub",
    "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul", "var",
}  # fmt: skip
CLEAN_CONTENT = {"script", "style", "title", "textarea", "select", "noscript", "svg", "math", "template", "iframe"}
_COMMON = {"style", "title", "align", "dir", "lang", "width", "height", "bgcolor", "valign", "class"}
ATTRIBUTES = {
    "*": _COMMON,
    "a": {"href", "name"},
    "img": {"src", "alt", "border", "hspace", "vspace"},
    "font": {"color", "face", "size"},
    "table": {"border", "cellpadding", "cellspacing", "summary"},
    "td": {"colspan", "rowspan", "nowrap"},
    "th": {"colspan", "rowspan", "nowrap", "scope"},
    "col": {"span"},
    "colgroup": {"span"},
    "ol": {"start", "type", "reversed"},
    "ul": {"type"},
    "li": {"value"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "details": {"open"},
}
STYLE_PROPERTIES = {
    "color", "background-color", "font", "font-family", "font-size", "font-style", "font-weight",
    "text-align", "text-decoration", "text-indent", "text-transform", "line-height", "letter-spacing",
    "white-space", "vertical-align", "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
    "padding", "padding-top", "padding-right", "padding-bottom", "padding-left", "border", "border-top",
    "border-right", "border-bottom", "border-left", "border-color", "border-style", "border-width",
    "border-collapse", "border-spacing", "border-radius", "width", "max-width", "min-width", "height",
    "max-height", "min-height", "display", "list-style-type", "table-layout", "direction",
}  # fmt: skip
URL_SCHEMES = {"http", "https", "mailto", "cid"}
_BAD_STYLE = re.compile(r"url\s*\(|expression|javascript:|@import|behavior|-moz-binding|\\", re.I)
_CID_SRC = re.compile(r'src="cid:([^"]*)"')
SAFE_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"}


@dataclass(slots=True)
class Cleaned:
    html: str
    blocked_images: int  # remote images left out (offer "show images" when > 0)


def clean_html(
    source: str,
    inline_image: Callable[[str], tuple[str, bytes] | None],
    *,
    remote_images: bool = False,
    links: bool = True,
) -> Cleaned:
    """Sanitize one HTML body. `inline_image(cid)` returns (content type, bytes) of a cid: part, or None.

    `links=False` (a message flagged as phishing) keeps the link texts but not their targets.
    """
    blocked = 0

    def attribute_filter(tag: str, attribute: str, value: str) -> str | None:
        nonlocal blocked
        if not links and attribute == "href":
            return None
        if attribute == "style":
            return None if _BAD_STYLE.search(value) else value
        if tag == "img" and attribute == "src":
            scheme = value.strip().partition(":")[0].lower()
            if scheme == "cid":
                return value
            if scheme in ("http", "https"):
                if remote_images:
                    return value
                blocked += 1
            return None
        if attribute in ("href", "cite") and value.strip().lower().startswith("cid:"):
            return None
        return value

    cleaned = nh3.clean(
        source,
        tags=TAGS,
        clean_content_tags=CLEAN_CONTENT,
        attributes=ATTRIBUTES,
        attribute_filter=attribute_filter,
        url_schemes=URL_SCHEMES,
        url_relative="deny",
        filter_style_properties=STYLE_PROPERTIES,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )

    def inline(match: re.Match[str]) -> str:
        found = inline_image(html.unescape(match.group(1)))
        if found is None or found[0] not in SAFE_IMAGE_TYPES:
            return 'src=""'
        return f'src="data:{found[0]};base64,{base64.b64encode(found[1]).decode("ascii")}"'

    return Cleaned(_CID_SRC.sub(inline, cleaned), blocked)


FRAME_STYLE = (
    "body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2433;margin:12px;"
    "overflow-wrap:anywhere}img{max-width:100%;height:auto}a{color:#1a56db}pre{white-space:pre-wrap}"
    "blockquote{margin:0 0 0 .5em;padding-left:.8em;border-left:3px solid #c9d1e0;color:#4a5568}"
)


def frame_document(body: str) -> str:
    """The complete document served to the message iframe."""
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<style>{FRAME_STYLE}</style></head><body>{body}</body></html>"
    )


def frame_csp(remote_images: bool) -> str:
    """The message frame's own CSP: nothing runs, nothing is fetched except what the reader allowed."""
    images = "data: https: http:" if remote_images else "data:"
    return (
        f"default-src 'none'; img-src {images}; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none';"
        " frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox"
    )


def defang(url: str) -> str:
    """A link written so that it cannot be followed by a click: hxxp://example[.]com/..."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url.replace(".", "[.]").replace(":", "[:]", 1)
    host, slash, path = rest.partition("/")
    return scheme.replace("t", "x", 2) + "[://]" + host.replace(".", "[.]") + slash + path
