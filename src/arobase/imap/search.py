"""The work behind SEARCH: every key of RFC 9051 evaluated against the store, as sets of UIDs.

Each leaf is one SQL query over the mailbox (flags, dates and sizes by column, text from the
trigram index, which gives IMAP's case-insensitive substring semantics exactly); AND, OR and
NOT are set operations. Results are limited to the messages the session knows about: mail that
arrived since the last EXISTS is not reported before it has been announced.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterable

from ..store import queries
from .view import MailboxView
from .wire import ast, responses

CHARSETS = ("UTF-8", "US-ASCII")

_HEADER_FOR = {"FROM": "from", "TO": "to", "CC": "cc", "BCC": "bcc", "SUBJECT": "subject"}


def header_contains(headers: str, name: str, needle: str) -> bool:
    """Does a header named `name` (lower case) contain `needle` (case-folded) in `headers`?

    `headers` is the decoded header text kept at ingest: `Name: value` lines.
    """
    current = False
    for line in headers.split("\n"):
        field, sep, value = line.partition(":")
        if sep and field and not field[0].isspace() and " " not in field:
            current = field.strip().lower() == name
            if current and needle in value.lower():
                return True
        elif current and needle in line.lower():
            return True
    return False


class Searcher:
    """Evaluates search keys for one view; `run` gives matching UIDs, ascending."""

    def __init__(self, view: MailboxView) -> None:
        self.view = view
        self.store = view.store
        self.mailbox_id = view.mailbox_id
        self._universe: set[int] | None = None

    @property
    def universe(self) -> set[int]:
        """Every UID the session knows, less those expunged meanwhile: they match nothing, not even ALL."""
        if self._universe is None:
            self._universe = set(self.view.uids) - self.view.pending_expunges
        return self._universe

    def run(self, key: ast.SearchKey) -> list[int]:
        found = self.evaluate(key)
        if self._universe is not None:
            return sorted(found & self._universe)
        # the view's UIDs are a few runs: keep what falls in them, without a set of every UID
        known = self.view.uids.among(sorted(found))
        gone = self.view.pending_expunges
        return [uid for uid in known if uid not in gone] if gone else known

    def evaluate(self, key: ast.SearchKey) -> set[int]:
        if isinstance(key, ast.SearchAnd):
            result: set[int] | None = None
            for sub in sorted(key.keys, key=_cost):
                found = self.evaluate(sub)
                result = found if result is None else result & found
                if not result:
                    return set()
            return set(self.universe) if result is None else result
        if isinstance(key, ast.SearchOr):
            return self.evaluate(key.left) | self.evaluate(key.right)
        if isinstance(key, ast.SearchNot):
            return self.universe - self.evaluate(key.key)
        if isinstance(key, ast.SearchAll):
            return set(self.universe)
        if isinstance(key, ast.SearchFlag):
            return self._flag(key.flag, key.present)
        if isinstance(key, ast.SearchText):
            if key.field == "TEXT":
                return set(queries.uids_containing(self.store, self.mailbox_id, key.value, "text"))
            if key.field == "BODY":
                return set(queries.uids_containing(self.store, self.mailbox_id, key.value, "body"))
            return self._header(_HEADER_FOR[key.field], key.value)
        if isinstance(key, ast.SearchHeader):
            return self._header(key.name.lower(), key.value)
        if isinstance(key, ast.SearchDate):
            return self._date(key)
        if isinstance(key, ast.SearchSize):
            op = ">" if key.larger else "<"
            return set(queries.uids_by_size(self.store, self.mailbox_id, op, key.size))
        if isinstance(key, ast.SearchSequence):
            return {uid for _, uid in self.view.targets(key.sequence, uid=key.uid, strict=False)}
        if isinstance(key, ast.SearchModSeq):
            return set(queries.uids_by_modseq(self.store, self.mailbox_id, key.modseq))
        if isinstance(key, ast.SearchWithin):  # RFC 5032: OLDER n, YOUNGER n (seconds)
            op = "<" if key.older else ">="
            return set(queries.uids_by_internal_time(self.store, self.mailbox_id, op, int(time.time()) - key.seconds))
        if isinstance(key, ast.SearchSaveDate):  # RFC 8514
            op = {"SAVEDBEFORE": "<", "SAVEDON": "=", "SAVEDSINCE": ">="}[key.field]
            day_start = calendar.timegm(key.date.timetuple())
            return set(queries.uids_by_save_day(self.store, self.mailbox_id, op, day_start))
        if isinstance(key, ast.SearchObjectId):  # RFC 8474
            if key.kind == "EMAILID":
                return set(queries.uids_with_email_id(self.store, self.mailbox_id, key.value))
            return set(queries.uids_with_thread_id(self.store, self.mailbox_id, key.value))
        raise ValueError(f"unknown search key {key!r}")

    def _flag(self, flag: str, present: bool) -> set[int]:
        lower = flag.lower()
        if lower == "\\recent":
            return set(self.view.recent) if present else self.universe - self.view.recent
        bit = queries.FLAG_BITS.get(lower)
        if bit is not None:
            return set(queries.uids_with_flag(self.store, self.mailbox_id, bit, present))
        if flag.startswith("\\"):  # a system flag that does not exist is set on no message
            return set() if present else set(self.universe)
        return set(queries.uids_with_keyword(self.store, self.mailbox_id, flag, present))

    def _header(self, name: str, value: str) -> set[int]:
        needle = value.lower()
        return {
            uid
            for uid, headers in queries.header_texts(self.store, self.mailbox_id, value)
            if header_contains(headers, name, needle)
        }

    def _date(self, key: ast.SearchDate) -> set[int]:
        op = {"BEFORE": "<", "ON": "=", "SINCE": ">="}[key.field.removeprefix("SENT")]
        if key.field.startswith("SENT"):
            return set(queries.uids_by_sent_day(self.store, self.mailbox_id, op, key.date.isoformat()))
        day_start = calendar.timegm(key.date.timetuple())
        return set(queries.uids_by_internal_day(self.store, self.mailbox_id, op, day_start))


def _cost(key: ast.SearchKey) -> int:
    """Cheap and selective keys first, so an empty intersection stops early."""
    if isinstance(key, ast.SearchSequence):
        return 0
    if isinstance(key, ast.SearchText) and len(key.value) >= 3:
        return 1
    if isinstance(key, ast.SearchFlag | ast.SearchSize | ast.SearchModSeq | ast.SearchWithin):
        return 2
    if isinstance(key, ast.SearchDate | ast.SearchSaveDate):
        return 3
    return 4


def esearch(tag: str, results: list[int], returns: Iterable[str], *, uid: bool) -> bytes:
    """`ESEARCH (TAG "a1") UID MIN 2 MAX 9 COUNT 3 ALL 2,5,9` (RFC 4731), without `* `.

    `results` are what the response reports: UIDs for UID SEARCH, sequence numbers otherwise.
    MIN, MAX and ALL are left out when nothing matched; COUNT is always given when asked.
    """
    wanted = set(returns) or {"ALL"}
    out = [b'ESEARCH (TAG "' + tag.encode("ascii", "replace") + b'")']
    if uid:
        out.append(b"UID")
    if results:
        if "MIN" in wanted:
            out.append(b"MIN %d" % results[0])
        if "MAX" in wanted:
            out.append(b"MAX %d" % results[-1])
    if "COUNT" in wanted:
        out.append(b"COUNT %d" % len(results))
    if results and "ALL" in wanted:
        out.append(b"ALL " + responses.sequence_set(results))
    return b" ".join(out)
