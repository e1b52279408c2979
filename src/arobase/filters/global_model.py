"""The global model in memory: its tokens' counts and weights in sorted arrays, probed all at once.

A message has about 1,300 distinct tokens (words, pairs, character grams), most of them never
seen before. Probing a dictionary per token, and asking the store about the ones it had not seen
yet, took half the pipeline's time; a vectorised binary search over sorted arrays answers for all
of them at once, and a token absent from the arrays is simply unknown.

The global model changes only when an administrator trains it (`arobase filter train`, maybe in
another process), so it is read whole once per change: the most seen tokens' counts and the
largest weights, up to bounds that keep memory under about 150 MB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..store import Store

MOST_SEEN_MAX = 4_000_000  # tokens whose counts are kept: a token seen once or twice weighs little
STRONGEST_MAX = 2_000_000  # tokens whose regression weight is kept: the rest weigh little
COUNTS = np.dtype([("token", np.int64), ("spam", np.int64), ("ham", np.int64)])
WEIGHTS = np.dtype([("token", np.int64), ("weight", np.float64)])


@dataclass(frozen=True, slots=True)
class Table:
    """Rows sorted by distinct token; a token that is absent reads as a row of zeros."""

    rows: np.ndarray

    @classmethod
    def of(cls, rows: Sequence[tuple[Any, ...]], dtype: np.dtype) -> Table:
        table = np.array(rows, dtype=dtype)
        return cls(table[np.argsort(table["token"], kind="stable")])

    def lookup(self, tokens: np.ndarray) -> np.ndarray:
        found = np.zeros(len(tokens), self.rows.dtype)
        if len(self.rows):
            at = np.minimum(np.searchsorted(self.rows["token"], tokens), len(self.rows) - 1)
            known = self.rows["token"][at] == tokens
            found[known] = self.rows[at[known]]
        return found


@dataclass(frozen=True, slots=True)
class Probe:
    """What the model knows of one message's tokens, aligned with them (0 where unknown)."""

    spam: np.ndarray
    ham: np.ndarray
    weights: np.ndarray


@dataclass(frozen=True, slots=True)
class GlobalModel:
    counts: Table
    weights: Table

    @classmethod
    def load(cls, store: Store) -> GlobalModel:
        return cls(
            Table.of(store.filter_most_seen(0, MOST_SEEN_MAX), COUNTS),
            Table.of(store.filter_strongest_weights(0, STRONGEST_MAX), WEIGHTS),
        )

    def probe(self, tokens: np.ndarray) -> Probe:
        """Counts and weights of `tokens` (int64)."""
        counts = self.counts.lookup(tokens)
        return Probe(counts["spam"], counts["ham"], self.weights.lookup(tokens)["weight"])
