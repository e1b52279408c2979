"""The global model in memory: its tokens' counts and weights in sorted arrays, probed all at once.

A message has about 1,300 distinct tokens (words, pairs, character grams), most of them never
seen before. Probing a dictionary per token, and asking the store about the ones it had not seen
yet, took half the pipeline's time; one vectorised binary search over sorted arrays answers for
all of them, counts and weights together, and a token absent from the arrays is simply unknown.

The global model changes only when an administrator trains it (`arobase filter train`, maybe in
another process), so it is read whole once per change: the most seen tokens' counts and the
largest weights, up to bounds that keep memory at about 150 MB at most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..store import Store

MOST_SEEN_MAX = 4_000_000  # tokens whose counts are kept: a token seen once or twice weighs little
STRONGEST_MAX = 2_000_000  # tokens whose regression weight is kept: the rest weigh little


@dataclass(frozen=True, slots=True)
class Probe:
    """What the model knows of one message's tokens, aligned with them (0 where unknown)."""

    spam: np.ndarray
    ham: np.ndarray
    weights: np.ndarray


@dataclass(frozen=True, slots=True)
class GlobalModel:
    tokens: np.ndarray  # int64, sorted, distinct
    spam: np.ndarray  # int64 counts, aligned with tokens
    ham: np.ndarray
    weights: np.ndarray  # float64

    @classmethod
    def load(cls, store: Store) -> GlobalModel:
        counted = np.array(store.filter_most_seen(0, MOST_SEEN_MAX), dtype=np.int64).reshape(-1, 3)
        weighted = store.filter_strongest_weights(0, STRONGEST_MAX)
        weighted_tokens = np.fromiter((t for t, _ in weighted), np.int64, len(weighted))
        tokens = np.union1d(counted[:, 0], weighted_tokens)
        spam, ham = np.zeros(len(tokens), np.int64), np.zeros(len(tokens), np.int64)
        at = np.searchsorted(tokens, counted[:, 0])
        spam[at], ham[at] = counted[:, 1], counted[:, 2]
        weights = np.zeros(len(tokens), np.float64)
        weights[np.searchsorted(tokens, weighted_tokens)] = np.fromiter((w for _, w in weighted), np.float64)
        return cls(tokens, spam, ham, weights)

    def probe(self, tokens: np.ndarray) -> Probe:
        """Counts and weights of `tokens` (int64), one vectorised binary search for them all."""
        if not len(self.tokens):
            zeros = np.zeros(len(tokens), np.int64)
            return Probe(zeros, zeros.copy(), np.zeros(len(tokens), np.float64))
        at = np.minimum(np.searchsorted(self.tokens, tokens), len(self.tokens) - 1)
        known = self.tokens[at] == tokens
        return Probe(
            np.where(known, self.spam[at], 0), np.where(known, self.ham[at], 0), np.where(known, self.weights[at], 0.0)
        )
