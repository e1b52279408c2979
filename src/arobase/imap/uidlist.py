"""A session's UIDs as runs of consecutive values: sequence numbers by bisection, a few bytes a run.

UIDs are handed out in order and most mailboxes have few gaps, so 100,000 messages are usually a
handful of runs instead of 400 KB of array('I') in every session that has the mailbox selected
(500 clients in IDLE on a big INBOX is the case that matters). Three parallel arrays hold each
run's first UID, last UID and the position of its first UID; lookups bisect them.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator


class UidList:
    """Ascending, distinct UIDs; positions are 0-based (sequence number - 1)."""

    __slots__ = ("_count", "_ends", "_offsets", "_starts")

    def __init__(self, uids: Iterable[int] = ()) -> None:
        self._starts = array("I")
        self._ends = array("I")
        self._offsets = array("I")
        self._count = 0
        self.extend(uids)

    @classmethod
    def from_runs(cls, runs: Iterable[tuple[int, int]]) -> UidList:
        """From ascending (first, last) runs, as the store computes them."""
        out = cls()
        for first, last in runs:
            out._add_run(first, last)
        return out

    def _add_run(self, first: int, last: int) -> None:
        if self._ends and first == self._ends[-1] + 1:
            self._ends[-1] = last
        else:
            self._starts.append(first)
            self._ends.append(last)
            self._offsets.append(self._count)
        self._count += last - first + 1

    def extend(self, uids: Iterable[int]) -> None:
        """Append ascending UIDs, all above the last one."""
        for uid in uids:
            self._add_run(uid, uid)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        for first, last in zip(self._starts, self._ends, strict=True):
            yield from range(first, last + 1)

    def __getitem__(self, index: int) -> int:
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        run = bisect_right(self._offsets, index) - 1
        return self._starts[run] + index - self._offsets[run]

    def __repr__(self) -> str:
        runs = ", ".join(f"{a}:{b}" for a, b in zip(self._starts, self._ends, strict=True))
        return f"UidList({runs})"

    @property
    def last(self) -> int:
        """The highest UID, 0 when empty."""
        return self._ends[-1] if self._count else 0

    @property
    def runs(self) -> int:
        return len(self._starts)

    def spans(self) -> list[tuple[int, int]]:
        """The runs themselves, as ascending (first, last) pairs."""
        return list(zip(self._starts, self._ends, strict=True))

    def rank(self, uid: int) -> int:
        """How many UIDs are below `uid` (bisect_left)."""
        run = bisect_right(self._starts, uid) - 1
        if run < 0:
            return 0
        start = self._starts[run]
        return self._offsets[run] + min(uid - start, self._ends[run] - start + 1)

    def seq(self, uid: int) -> int:
        """The 1-based position of `uid`, 0 when absent."""
        run = bisect_right(self._starts, uid) - 1
        if run >= 0 and uid <= self._ends[run]:
            return self._offsets[run] + uid - self._starts[run] + 1
        return 0

    def __contains__(self, uid: object) -> bool:
        return isinstance(uid, int) and self.seq(uid) > 0

    def among(self, ordered: list[int]) -> list[int]:
        """The UIDs of ascending `ordered` that are in this list: slices by run, no per-UID lookup."""
        if len(self._starts) > len(ordered):  # more runs than candidates: look each one up
            return [uid for uid in ordered if self.seq(uid)]
        out: list[int] = []
        for first, last in zip(self._starts, self._ends, strict=True):
            out.extend(ordered[bisect_left(ordered, first) : bisect_right(ordered, last)])
        return out

    def seqs(self, ordered: list[int]) -> list[int]:
        """The 1-based positions of ascending `ordered`, all in this list (e.g. from `among`)."""
        if len(self._starts) == 1:  # one run: a position is an offset from its first UID
            base = self._starts[0] - 1
            return [uid - base for uid in ordered]
        return [self.seq(uid) for uid in ordered]

    def slice(self, lo: int, hi: int) -> Iterator[int]:
        """The UIDs at positions lo..hi-1."""
        hi = min(hi, self._count)
        if lo >= hi:
            return
        run = bisect_right(self._offsets, lo) - 1
        position = lo
        while position < hi:
            first = self._starts[run] + position - self._offsets[run]
            run_end = self._offsets[run] + self._ends[run] - self._starts[run] + 1
            stop = min(hi, run_end)
            yield from range(first, first + stop - position)
            position = stop
            run += 1

    def without(self, gone: Iterable[int]) -> tuple[UidList, list[int]]:
        """(this list less `gone`, the 1-based positions the removed UIDs had), in one pass over runs."""
        removed = sorted(uid for uid in set(gone) if self.seq(uid))
        positions = [self.seq(uid) for uid in removed]
        out = UidList()
        j = 0
        for first, last in zip(self._starts, self._ends, strict=True):
            current = first
            while j < len(removed) and removed[j] <= last:
                if removed[j] > current:
                    out._add_run(current, removed[j] - 1)
                current = removed[j] + 1
                j += 1
            if current <= last:
                out._add_run(current, last)
        return out, positions
