"""The rich-text editor's HTML: sanitized on arrival, and turned into the text/plain alternative.

The editor offers bold, italic, lists, links and quotes; the message goes out as
multipart/alternative, and the plain part is written here from the cleaned HTML (not taken from
the browser) so both parts always say the same thing: *bold*, /italic/, "- " and "1. " items,
"> " quotes and "text <url>" links, as people type them in plain mail.
"""

from __future__ import annotations

from html.parser import HTMLParser

import nh3

from .sanitize import CLEAN_CONTENT

TAGS = {"a", "b", "blockquote", "br", "div", "em", "i", "li", "ol", "p", "strong", "u", "ul"}
_BLOCKS = {"div", "p", "ul", "ol", "li", "blockquote"}


def clean(source: str) -> str:
    """What the editor may send: its simple formatting and http/https/mailto links, nothing else.

    The HTML comes from the browser, so it is untrusted like any mail: no styles, classes or images.
    """
    return nh3.clean(
        source,
        tags=TAGS,
        clean_content_tags=CLEAN_CONTENT,
        attributes={"a": {"href"}},
        url_schemes={"http", "https", "mailto"},
        url_relative="deny",
        link_rel="noopener noreferrer",
        strip_comments=True,
    ).strip()


class _Plain(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line = ""
        self.quote = 0
        self.lists: list[list[int]] = []  # per open list: [next number] or [] for bullets
        self.links: list[tuple[str, int]] = []  # (href, length of the line when the link opened)

    def _break(self) -> None:
        if self.line.strip() or (self.lines and self.lines[-1].strip("> ")):
            self.lines.append("> " * self.quote + self.line.rstrip() if self.line.strip() else ">" * self.quote)
        self.line = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS and self.line.strip():
            self._break()
        if tag == "br":
            self.lines.append("> " * self.quote + self.line.rstrip() if self.line else ">" * self.quote)
            self.line = ""
        elif tag in ("b", "strong"):
            self.line += "*"
        elif tag in ("i", "em"):
            self.line += "/"
        elif tag == "u":
            self.line += "_"
        elif tag == "blockquote":
            self.quote += 1
        elif tag == "ul":
            self.lists.append([])
        elif tag == "ol":
            self.lists.append([1])
        elif tag == "li":
            depth = "  " * max(0, len(self.lists) - 1)
            counter = self.lists[-1] if self.lists else []
            if counter:
                self.line = f"{depth}{counter[0]}. "
                counter[0] += 1
            else:
                self.line = f"{depth}- "
        elif tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.line)))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("b", "strong"):
            self.line += "*"
        elif tag in ("i", "em"):
            self.line += "/"
        elif tag == "u":
            self.line += "_"
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            shown = self.line[start:].strip()
            target = href.removeprefix("mailto:")
            if href and shown != target and shown != href:
                self.line += f" <{href}>"
        if tag in _BLOCKS:
            self._break()
            if tag == "blockquote":
                self.quote = max(0, self.quote - 1)
            elif tag in ("ul", "ol") and self.lists:
                self.lists.pop()

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if data[:1].isspace() and self.line and not self.line.endswith(" "):
            text = " " + text
        if data[-1:].isspace() and text and not text.endswith(" "):
            text += " "
        self.line += text


def to_plain(html: str) -> str:
    """The text/plain alternative of cleaned editor HTML."""
    parser = _Plain()
    parser.feed(html)
    parser.close()
    parser._break()
    lines = parser.lines
    while lines and not lines[-1].strip("> "):
        lines.pop()
    out: list[str] = []
    for line in lines:
        if not line.strip("> ") and out and not out[-1].strip("> "):
            continue
        out.append(line)
    return "\n".join(out).strip("\n")
