"""The classifier's second opinion: a logistic regression over the same hashed tokens.

Naive Bayes counts each token on its own; on the SpamAssassin corpus it misses spam that reads like
a commercial newsletter, because such spam shares most of its words with the newsletters people do
want. A discriminative model learns weights for tokens *together* (as the TREC spam track winners
did, Goodman & Yih, Sculley & Wachman): a word that only ever appears next to clear spam clues gets
little weight of its own. Features are binary (present or not); the score is the sum of the present
tokens' weights, turned into a probability by the logistic function.

Learning is online gradient descent on the log loss, so it is incremental: each message a user moves
to or out of Junk nudges the account's weights until that message is judged right with a margin;
learning it the other way nudges them back past the middle. Seeding (`arobase filter train`, the
evaluation) may go over the training set several times, as TONE training does.
Each account's weights are added to the global ones, like the Bayes counts.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from ..store import Store

RATE = 0.03  # step of one update, per present token (0.1 overshot once character grams came in)
PASSES = 5  # rounds over a seeding set: 10 measured the same on the corpus, in twice the time
MARGIN = 0.2  # a learnt message is nudged until its probability is within this of its label
MAX_STEPS = 10  # nudges of one message learnt by a user


def probability(score: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(score, 50.0), -50.0)))


def _models(account_id: int) -> list[int]:
    return [0] if account_id == 0 else [0, account_id]


def _read(store: Store, account_id: int, tokens: Sequence[int]) -> dict[int, float]:
    """The weights in force for `account_id` (global plus its own), summed per token."""
    summed: dict[int, float] = {}
    for weights in store.filter_weights(_models(account_id), tokens).values():
        for token, weight in weights.items():
            summed[token] = summed.get(token, 0.0) + weight
    return summed


def train(store: Store, account_id: int, examples: Sequence[tuple[Sequence[int], bool]], seed: int = 0) -> None:
    """Seed one model (0 = global) from labelled token lists: PASSES shuffled rounds of gradient steps."""
    if not examples:
        return
    weights = _read(store, account_id, [t for tokens, _ in examples for t in tokens])
    start = dict(weights)
    order = [(list(dict.fromkeys(tokens)), 1.0 if is_spam else 0.0) for tokens, is_spam in examples]
    shuffle = random.Random(seed).shuffle
    get = weights.get
    for _ in range(PASSES):
        shuffle(order)
        for tokens, label in order:
            step = RATE * (label - probability(sum(get(t, 0.0) for t in tokens)))
            for t in tokens:
                weights[t] = get(t, 0.0) + step
    store.filter_adjust_weights(account_id, {t: w - start.get(t, 0.0) for t, w in weights.items()}).wait()


def learn(store: Store, account_id: int, tokens: Sequence[int], is_spam: bool) -> None:
    """One message learnt by a user: nudge the account's weights until it is judged right with MARGIN."""
    unique = list(dict.fromkeys(tokens))
    if not unique:
        return
    label = 1.0 if is_spam else 0.0
    score = sum(_read(store, account_id, unique).values())
    total = 0.0
    for _ in range(MAX_STEPS):
        error = label - probability(score + total * len(unique))
        if abs(error) < MARGIN:
            break
        total += RATE * error
    if total:
        store.filter_adjust_weights(account_id, dict.fromkeys(unique, total)).wait()
