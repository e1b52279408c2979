"""UidList behaves exactly like a sorted list of UIDs, whatever the runs."""

from __future__ import annotations

from bisect import bisect_left

from hypothesis import given
from hypothesis import strategies as st

from arobase.imap.uidlist import UidList

uid_sets = st.sets(st.integers(min_value=1, max_value=300), max_size=120)


@given(
    uid_sets, st.sets(st.integers(min_value=1, max_value=310), max_size=40), st.integers(0, 130), st.integers(0, 130)
)
def test_like_a_sorted_list(uids: set[int], probes: set[int], lo: int, hi: int) -> None:
    model = sorted(uids)
    ul = UidList(model)
    assert list(ul) == model
    assert len(ul) == len(model)
    assert ul.last == (model[-1] if model else 0)
    assert [ul[i] for i in range(len(model))] == model
    if model:
        assert ul[-1] == model[-1]
    assert list(ul.slice(lo, hi)) == model[lo:hi]
    for uid in probes:
        assert ul.rank(uid) == bisect_left(model, uid)
        assert ul.seq(uid) == (model.index(uid) + 1 if uid in uids else 0)
        assert (uid in ul) == (uid in uids)
    present = ul.among(sorted(probes))
    assert present == sorted(probes & uids)
    assert ul.seqs(present) == [model.index(uid) + 1 for uid in present]


@given(uid_sets, st.sets(st.integers(min_value=1, max_value=310), max_size=60))
def test_without_reports_positions_before_removal(uids: set[int], gone: set[int]) -> None:
    model = sorted(uids)
    rest, positions = UidList(model).without(gone)
    assert list(rest) == [u for u in model if u not in gone]
    assert positions == [model.index(u) + 1 for u in sorted(gone & uids)]


@given(uid_sets, st.lists(st.integers(min_value=1, max_value=20), max_size=30))
def test_extend_and_runs(uids: set[int], steps: list[int]) -> None:
    model = sorted(uids)
    ul = UidList(model)
    last = model[-1] if model else 0
    for step in steps:
        last += step
        ul.extend([last])
        model.append(last)
    assert list(ul) == model
    assert UidList.from_runs([(1, 5), (6, 9), (20, 20)]).runs == 2


def test_a_contiguous_mailbox_is_one_run() -> None:
    ul = UidList.from_runs([(1, 100_000)])
    assert ul.runs == 1 and len(ul) == 100_000
    assert ul.seq(77_777) == 77_777 and ul[99_999] == 100_000
