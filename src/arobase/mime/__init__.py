"""Parse a message once at ingest into everything IMAP, POP3 and webmail need.

``parse_message(raw)`` never raises; the resulting :class:`ParsedMessage` carries
byte offsets of every MIME part, ready-made IMAP ENVELOPE/BODY/BODYSTRUCTURE
forms, decoded headers and addresses, threading keys and search text, and
round-trips through ``to_record``/``from_record`` for storage.
"""

from arobase.mime.imapforms import imap_nstring, imap_string
from arobase.mime.model import Address, ParsedMessage, Part
from arobase.mime.parse import parse_message
from arobase.mime.subject import base_subject
from arobase.mime.text import html_to_text, make_preview

__all__ = [
    "Address",
    "ParsedMessage",
    "Part",
    "base_subject",
    "html_to_text",
    "imap_nstring",
    "imap_string",
    "make_preview",
    "parse_message",
]
