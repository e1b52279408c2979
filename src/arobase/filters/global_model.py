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
    """Distinct tokens in order, and columns of values aligned with them; absent tokens read as 0."""

    tokens: np.ndarray
    columns: dict[str, np.ndarray]

    @classmethod
    def of(cls, rows: Sequence[tuple[Any, ...]], dtype: np.dtype) -> Table:
        table = np.array(rows, dtype=dtype)
        table = table[np.argsort(table["token"], kind="stable")]
        # Contiguous copies: a binary search over a field of the records would stride through them.
        names = dtype.names or ()
        return cls(np.ascontiguousarray(table["token"]), {n: np.ascontiguousarray(table[n]) for n in names[1:]})

    def lookup(self, tokens: np.ndarray) -> dict[str, np.ndarray]:
        if not len(self.tokens):
            return {name: np.zeros(len(tokens), column.dtype) for name, column in self.columns.items()}
        at = np.minimum(np.searchsorted(self.tokens, tokens), len(self.tokens) - 1)
        known = self.tokens[at] == tokens
        return {name: np.where(known, column[at], 0) for name, column in self.columns.items()}


@dataclass(frozen=True, slots=True)
class Probe:
    """What the model knows of one message: counts aligned with its words, weights with all its tokens."""

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

    def probe(self, words: np.ndarray, tokens: np.ndarray) -> Probe:
        """Counts of `words` and weights of `tokens` (int64 arrays): Bayes counts no character grams."""
        counts = self.counts.lookup(words)
        return Probe(counts["spam"], counts["ham"], self.weights.lookup(tokens)["weight"])
