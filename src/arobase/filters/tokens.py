"""Tokens the statistical classifier counts: words, word pairs, header facts and URL domains.

Tokens are hashed to signed 64-bit integers before they reach the store: fixed size, fast to look
up, and the database never holds readable text from anyone's mail. Headers written by other filters
(X-Spam-*, X-Barracuda-*, ...) are ignored, so the classifier learns what senders write and not
what somebody else's filter thought of it.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
from collections.abc import Sequence

import numpy as np

from ..services.mailauth import organizational_domain
from .content import Content, url_host

_IDEOGRAPHIC = "\u2e80"  # first code point of the CJK blocks
_RUNS = re.compile("[\u2e80-\U0010ffff]+|[^\u2e80-\U0010ffff]+")
MAX_WORDS = 3000  # words of body text considered: spam tells early, and time per message stays bounded
_WORD = re.compile(r"[^\W_][\w'$€£%-]*[^\W_]|[$€£]\d+", re.UNICODE)
# Relays a message passed: the /24 of bracketed IPv4 addresses and the domains of from/by names.
_RECEIVED_IP = re.compile(r"\[(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}\]")
_RECEIVED_HOST = re.compile(r"\b(?:from|by)\s+([\w-]+(?:\.[\w-]+)+)", re.IGNORECASE)
MAX_RECEIVED = 6  # the last relays; older ones are the sender's own plumbing
_HASHES: dict[str, int] = {}  # token -> hash: words repeat across messages, blake2b costs ~1 µs
_HASHES_MAX = 200_000
_MASK = (1 << 64) - 1
CHAR_GRAM_BYTES = 1000  # bytes of the raw message cut into 4-grams: ranked better than 500, 700, 1,500 or 3,000
CHAR_GRAM_TAG = 0x5A17  # top 16 bits of a 4-gram's token: the gram's 32 bits below, so no collisions
_HEADER_NAME = re.compile(rb"^([^:\s]+)\s*:", re.MULTILINE)
_OWN_TRACE = frozenset({b"return-path", b"delivered-to", b"authentication-results"})
_OWN_TRACE_FIELDS = 12  # at most this many fields of ours above our Received
# Prefixes of headers other filters add; their content must not train or sway ours.
FOREIGN_FILTER_PREFIXES = (
    "x-spam",
    "x-barracuda",
    "x-bitdefender",
    "x-amavis",
    "x-virus",
    "x-ham-report",
    "x-proofpoint",
    "x-mimecast",
    "x-forefront-antispam",
    "x-microsoft-antispam",
    "x-ms-exchange-organization-scl",
    "x-sophos",
    "x-ironport",
    "x-rspamd",
    "x-dspam",
    "x-bogosity",
    "x-crm114",
    "x-mailscanner",
    "x-pmx",
    "x-cloudmark",
    "x-quarantine",
    "x-policyd",
    "x-arobase",
    "x-sa-",
    "x-eset",
    "x-kaspersky",
    "x-avast",
    "x-trend",
    "x-tm-as",
    "x-fortinet",
    "x-halon",
    "x-greylist",
    "x-antiabuse",
    "x-cmae",
    "x-filter",
)
# Headers whose value says something about the sender's software or habits.
_VALUE_HEADERS = ("x-mailer", "user-agent", "content-type", "mime-version", "precedence", "list-id", "x-priority")
# Headers whose mere presence is telling.
_PRESENCE_HEADERS = (
    "list-unsubscribe",
    "in-reply-to",
    "references",
    "reply-to",
    "organization",
    "x-mailer",
    "user-agent",
    "message-id",
    "date",
    "dkim-signature",
    "mime-version",
    "cc",
)


def is_foreign_filter_header(name: str) -> bool:
    return name.startswith(FOREIGN_FILTER_PREFIXES)


def words(text: str, limit: int = MAX_WORDS) -> list[str]:
    """Lower-case words of 2 to 30 characters, numbers as written (folding them lost spam on the corpus).

    Scripts written without spaces (Chinese, Japanese, Korean: from U+2E80) come as runs of one
    "word" each, too long to count; they are cut into overlapping character pairs instead.
    """
    out = []
    for w in _WORD.findall(text[: limit * 40].lower()):
        if max(w) >= _IDEOGRAPHIC:
            for run in _RUNS.findall(w):
                if run[0] >= _IDEOGRAPHIC:
                    out += [run[i : i + 2] for i in range(max(len(run) - 1, 1))]
                elif len(run) > 1:
                    out.append(run)
        elif len(w) <= 30:
            out.append(w)
    return out[:limit]


def token_strings(content: Content) -> list[str]:
    """Every token of a message, as readable strings (what `tokens` hashes)."""
    body = words(content.text)
    return body + [f"{a} {b}" for a, b in itertools.pairwise(body)] + _other_tokens(content)


def _other_tokens(content: Content) -> list[str]:
    """Tokens other than body words and pairs: subject, sender, headers, links, attachments."""
    parsed = content.parsed
    out = ["subject:" + word for word in words(parsed.subject, 50)]
    for address in parsed.from_:
        if address.host is not None:
            out.append("from:" + (address.email or "").lower())
            out.append("from-domain:" + address.host.lower())
        if address.name:
            out += ["from-name:" + w for w in words(address.name, 10)]
    for name, value in content.headers:
        if is_foreign_filter_header(name) or name in ("received", "authentication-results", "dkim-signature"):
            continue
        if name in _VALUE_HEADERS:
            out += [f"h:{name}:{w}" for w in words(value, 8)]
    present = {name for name, _ in content.headers}
    out += [f"has:{name}={name in present}" for name in _PRESENCE_HEADERS]
    out += _relay_tokens(content.header_all("received")[:MAX_RECEIVED])
    out += [f"to-count:{min(len(parsed.to), 5)}", f"cc-count:{min(len(parsed.cc), 5)}"]
    for address in (parsed.to + parsed.cc)[:6]:  # mailing lists and aliases one is reached by
        if address.host:
            out += ["to:" + (address.email or "").lower(), "to-domain:" + address.host.lower()]
    out += ["reply-to-domain:" + a.host.lower() for a in parsed.reply_to if a.host]
    out.append("message-id-domain:" + (parsed.message_id or "").rpartition("@")[2].strip(">").lower())
    out.append("subject-start:" + " ".join(parsed.subject.split()[:3]))
    for url in content.urls:
        host = url_host(url)
        if host:
            out.append("url:" + host)
            labels = host.split(".")
            if len(labels) > 2:
                out.append("url:" + ".".join(labels[-2:]))
    for attachment in content.attachments:
        out.append("attach-type:" + attachment.content_type)
        ext = attachment.filename.rpartition(".")[2].lower() if "." in attachment.filename else ""
        out.append("attach-ext:" + ext)
    out.append(f"html-only:{bool(content.html) and not content.has_plain}")
    return out


def _relay_tokens(received: list[str]) -> list[str]:
    """Where the message came through: networks and domains of the relays named in Received."""
    out = []
    for value in received:
        out += ["received-net:" + net for net in _RECEIVED_IP.findall(value)]
        out += ["received-domain:" + _domain(host) for host in _RECEIVED_HOST.findall(value)]
    return out


@functools.lru_cache(maxsize=8192)
def _domain(host: str) -> str:
    return organizational_domain(host.lower().rstrip("."))


def hash_token(token: str) -> int:
    """A stable signed 64-bit hash (the same in every process, unlike `hash`)."""
    found = _HASHES.get(token)
    if found is None:
        found = int.from_bytes(
            hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big", signed=True
        )
        if len(_HASHES) >= _HASHES_MAX:
            _HASHES.clear()
        _HASHES[token] = found
    return found


def pair_hash(first: int, second: int) -> int:
    """The hash of a word pair from its words' hashes: a multiply-xor mix, no second blake2b per pair."""
    mixed = ((first * 0x9E3779B97F4A7C15) ^ (second & _MASK) ^ 0x5BD1E995) & _MASK
    return mixed - (1 << 64) if mixed >= 1 << 63 else mixed


def is_char_gram(token: int) -> bool:
    return token >> 48 == CHAR_GRAM_TAG


def counted(message_tokens: Sequence[int]) -> list[int]:
    """The tokens Bayes counts: all but the character grams, which only the regression reads."""
    return [t for t in message_tokens if not is_char_gram(t)]


def char_grams(raw: bytes) -> list[int]:
    """The distinct overlapping byte 4-grams of the message's first CHAR_GRAM_BYTES, as tokens.

    As in the TREC 2007 spam track (Sculley & Wachman), raw bytes catch what word tokens lose:
    markup, encodings, header layout. Header lines (and their continuations) written by other
    filters are left out. Only the logistic model uses them: in Bayes they ranked worse.
    """
    end = raw.find(b"\r\n\r\n")
    if end >= 0:
        kept, keep = [], True
        lines = raw[:end].split(b"\r\n")
        for line in lines[_own_trace_lines(lines) :]:
            if line[:1] not in (b" ", b"\t"):
                name = _HEADER_NAME.match(line)
                keep = name is None or not is_foreign_filter_header(name.group(1).lower().decode("latin-1"))
            if keep:
                kept.append(line)
        raw = b"\r\n".join(kept) + raw[end : end + CHAR_GRAM_BYTES]
    data = np.frombuffer(raw[:CHAR_GRAM_BYTES], np.uint8).astype(np.int64)
    if len(data) < 4:
        return []
    grams = data[:-3] << 24 | data[1:-2] << 16 | data[2:-1] << 8 | data[3:]
    return (sorted_distinct(grams) | (CHAR_GRAM_TAG << 48)).tolist()


def sorted_distinct(values: np.ndarray) -> np.ndarray:
    """np.unique by sorting: numpy 2's np.unique hashes first, four times slower on a message's tokens."""
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if len(values) else values


def _own_trace_lines(lines: list[bytes]) -> int:
    """How many header lines on top are the trace fields our own delivery added (0 when none).

    A message learnt from a mailbox carries them (Return-Path, Delivered-To, Authentication-Results,
    X-Arobase-*, then our Received); the same message judged at the door did not, and they would
    fill a good part of the bytes cut into grams.
    """
    index = 0
    for _ in range(_OWN_TRACE_FIELDS):
        name = _HEADER_NAME.match(lines[index]) if index < len(lines) else None
        if name is None:
            return 0
        field_end = index + 1
        while field_end < len(lines) and lines[field_end][:1] in (b" ", b"\t"):
            field_end += 1
        key = name.group(1).lower()
        if key == b"received":
            return field_end if b" (Arobase) with " in b" ".join(lines[index:field_end]) else 0
        if key not in _OWN_TRACE and not key.startswith(b"x-arobase"):
            return 0
        index = field_end
    return 0


def tokens(content: Content) -> list[int]:
    """The distinct hashed tokens of a message: words, pairs and other tokens, then its character 4-grams."""
    body = [hash_token(w) for w in words(content.text)]
    pairs = [pair_hash(a, b) for a, b in itertools.pairwise(body)]
    found = body + pairs + [hash_token(t) for t in _other_tokens(content)]
    return list(dict.fromkeys(found)) + char_grams(content.raw)
