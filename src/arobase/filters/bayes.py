"""The statistical spam classifier: Robinson's token probabilities, Fisher's chi-square combining.

As in SpamBayes: each token's spam probability is smoothed toward 0.5 when it was seen rarely
(Robinson's f(w)), only tokens that lean clearly one way take part (the 150 strongest), and the
evidence is combined with two chi-square tests, one for "spammy" and one for "hammy". Messages
that look like neither come out near 0.5 ("unsure") instead of being forced to an extreme.

Each account scores with the global model plus its own training (counts are summed).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..store import Store

UNKNOWN_STRENGTH = 0.45  # Robinson's s: weight of the 0.5 prior
UNKNOWN_PROB = 0.5  # Robinson's x
MIN_STRENGTH = 0.1  # tokens with |f - 0.5| below this are ignored
MAX_DISCRIMINATORS = 150


@dataclass(frozen=True, slots=True)
class Classification:
    probability: float  # 0 ham ... 1 spam; 0.5 when the model knows nothing
    trained: bool  # the model has learnt enough of both kinds to be trusted
    used: int  # tokens that took part


def chi2q(x2: float, degrees: int) -> float:
    """P(chi-square with `degrees` (even) degrees of freedom >= x2)."""
    m = x2 / 2.0
    term = total = math.exp(-m)
    for i in range(1, degrees // 2):
        term *= m / i
        total += term
    return min(total, 1.0)


def token_probability(spam: int, ham: int, nspam: int, nham: int) -> float:
    """Robinson's f(w): the token's spamminess, pulled toward 0.5 when it was seen rarely."""
    spam_ratio = spam / nspam if nspam else 0.0
    ham_ratio = ham / nham if nham else 0.0
    if spam_ratio + ham_ratio == 0:
        return UNKNOWN_PROB
    p = spam_ratio / (spam_ratio + ham_ratio)
    n = spam + ham
    return (UNKNOWN_STRENGTH * UNKNOWN_PROB + n * p) / (UNKNOWN_STRENGTH + n)


def combine(probabilities: Sequence[float]) -> float:
    """Fisher-Robinson chi-square combining of token probabilities into one spam probability."""
    if not probabilities:
        return 0.5
    s_sum = h_sum = 0.0
    for p in probabilities:
        p = min(max(p, 1e-6), 1 - 1e-6)
        s_sum += math.log(1.0 - p)
        h_sum += math.log(p)
    n = len(probabilities)
    spam = 1.0 - chi2q(-2.0 * s_sum, 2 * n)
    ham = 1.0 - chi2q(-2.0 * h_sum, 2 * n)
    return (spam - ham + 1.0) / 2.0


class Classifier:
    """Scores and learns messages against the token counts kept in the store."""

    def __init__(self, store: Store, min_messages: int = 10) -> None:
        self.store = store
        self.min_messages = min_messages

    def models(self, account_id: int | None) -> list[int]:
        return [0] if account_id is None else [0, account_id]

    def classify(self, tokens: Sequence[int], account_id: int | None = None) -> Classification:
        return self.classify_all(tokens, [account_id])[account_id]

    def classify_all(
        self, tokens: Sequence[int], account_ids: Sequence[int | None]
    ) -> dict[int | None, Classification]:
        """Score one message for several models at once (None: the global model alone), one store read."""
        models = sorted({0} | {a for a in account_ids if a is not None})
        totals, counts = self.store.filter_model_counts(models, tokens)
        out: dict[int | None, Classification] = {}
        for account_id in account_ids:
            owners = self.models(account_id)
            nspam = sum(totals.get(m, (0, 0))[0] for m in owners)
            nham = sum(totals.get(m, (0, 0))[1] for m in owners)
            if nspam < self.min_messages or nham < self.min_messages:
                out[account_id] = Classification(0.5, False, 0)
                continue
            personal = [m for m in owners[1:] if totals.get(m, (0, 0)) != (0, 0)]
            if not personal and None in out and out[None].trained:
                out[account_id] = out[None]  # nothing learnt of its own: the global model's score
                continue
            summed = dict(counts[0])
            for owner in personal:
                for token, (spam, ham) in counts[owner].items():
                    before = summed.get(token, (0, 0))
                    summed[token] = (before[0] + spam, before[1] + ham)
            out[account_id] = self._score(summed.values(), nspam, nham)
        return out

    @staticmethod
    def _score(counts: Iterable[tuple[int, int]], nspam: int, nham: int) -> Classification:
        clues = []
        for spam, ham in counts:
            f = token_probability(spam, ham, nspam, nham)
            if abs(f - 0.5) >= MIN_STRENGTH:
                clues.append(f)
        clues.sort(key=lambda f: abs(f - 0.5), reverse=True)
        used = clues[:MAX_DISCRIMINATORS]
        return Classification(combine(used), True, len(used))
