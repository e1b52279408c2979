"""Measuring the filters on labelled mail: train on one part, judge the rest, count the mistakes.

Used by `arobase filter eval` and bench/filters.py. The corpus is first rid of byte-identical
copies (the SpamAssassin corpus has some), so no message is both learnt and judged. The split is a
seeded shuffle of each kind. Training and judging run on a throwaway store: the server's own
model is never touched, but the thresholds are the configured ones. Messages are judged as MX
mail from an unknown server for one account, with no SPF/DKIM/DMARC results and no DNS lookups,
so the figures measure the content checks and the classifier alone.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import random
import re
import secrets
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..config import CONFIG_NAME, Config, load, render
from ..mime import parse_message
from ..services.accounts import Accounts
from ..services.dns import Resolver
from ..store import Account, migrate_store, open_store
from . import linear
from .content import extract
from .pipeline import Pipeline
from .tokens import counted, tokens

EVAL_DOMAIN = "evaluation.example"
CONCURRENCY = 16  # messages judged at once, as concurrent SMTP sessions would
_DATE = re.compile(rb"^Date:[ \t]*([^\r\n]*)", re.IGNORECASE | re.MULTILINE)


@dataclass(slots=True)
class Rates:
    """One detector's confusion counts and the rates derived from them."""

    true_positives: int = 0
    false_positives: int = 0
    positives: int = 0  # messages that should be caught
    negatives: int = 0  # messages that should not

    @property
    def recall(self) -> float:
        return self.true_positives / self.positives if self.positives else 0.0

    @property
    def precision(self) -> float:
        caught = self.true_positives + self.false_positives
        return self.true_positives / caught if caught else 0.0

    @property
    def false_positive_rate(self) -> float:
        return self.false_positives / self.negatives if self.negatives else 0.0


@dataclass(slots=True)
class Report:
    trained_spam: int = 0
    trained_ham: int = 0
    duplicates: int = 0
    spam: Rates = field(default_factory=Rates)  # Junk: spam against ham
    phishing: Rates = field(default_factory=Rates)  # warnings: phishing against ham
    judged: int = 0
    seconds: float = 0.0  # wall time judging
    cpu_seconds: float = 0.0  # process CPU time judging
    training_seconds: float = 0.0  # wall time seeding the logistic model

    @property
    def per_second(self) -> float:
        return self.judged / self.seconds if self.seconds else 0.0


def dedupe(*kinds: Iterable[bytes]) -> tuple[list[list[bytes]], int]:
    """Each kind without byte-identical copies of any message seen before (in any kind); and how many went."""
    seen: set[bytes] = set()
    out: list[list[bytes]] = []
    dropped = 0
    for messages in kinds:
        kept = []
        for raw in messages:
            digest = hashlib.sha256(raw).digest()
            if digest in seen:
                dropped += 1
                continue
            seen.add(digest)
            kept.append(raw)
        out.append(kept)
    return out, dropped


def split(messages: list[bytes], fraction: float, seed: int) -> tuple[list[bytes], list[bytes]]:
    """A seeded shuffle cut in two: (`fraction` to learn, the rest to judge)."""
    shuffled = list(messages)
    random.Random(seed).shuffle(shuffled)
    cut = round(len(shuffled) * fraction)
    return shuffled[:cut], shuffled[cut:]


def evaluate(
    config: Config,
    resolver: Resolver,
    ham: list[bytes],
    spam: list[bytes],
    phish: list[bytes] = (),  # type: ignore[assignment]
    train_fraction: float = 0.5,
    seed: int = 1,
) -> Report:
    """Train a fresh model on `train_fraction` of each kind, judge the rest with `config`'s thresholds.

    Phishing samples are learnt as spam in the same proportion; the rest count for both reports
    (they should go to Junk and carry a warning).
    """
    (ham, spam, phish), duplicates = dedupe(ham, spam, phish)
    report = Report(duplicates=duplicates)
    ham_train, ham_test = split(ham, train_fraction, seed)
    spam_train, spam_test = split(spam, train_fraction, seed + 1)
    phish_train, phish_test = split(phish, train_fraction, seed + 2)
    with tempfile.TemporaryDirectory(prefix="arobase-eval-") as tmp:
        data = Path(tmp)
        (data / CONFIG_NAME).write_text(render({"server": {"hostname": config.server.hostname}}), encoding="utf-8")
        migrate_store(data)
        store = open_store(load(data, environ={"AROBASE_STORE_FSYNC": "false"}))
        pipeline = Pipeline(store, config, resolver)
        pipeline.ip_zones, pipeline.uri_zones = [], []  # no DNS: the figures are about content
        try:
            # One recipient, as most mail has: its lists and correspondents are looked up as in service.
            accounts = Accounts(store)
            accounts.add_domain(EVAL_DOMAIN, dkim=False)
            account = accounts.add_user(f"reader@{EVAL_DOMAIN}", secrets.token_urlsafe(24))
            pending, examples = [], []
            for raw, is_spam in [(m, False) for m in ham_train] + [(m, True) for m in spam_train + phish_train]:
                message_tokens = tokens(extract(raw, parse_message(raw)))
                examples.append((message_tokens, is_spam))
                pending.append(store.filter_learn(0, hashlib.sha256(raw).hexdigest(), counted(message_tokens), is_spam))
            for item in pending:
                item.wait()
            started = time.perf_counter()
            linear.train(store, 0, examples, seed)
            report.training_seconds = time.perf_counter() - started
            report.trained_ham, report.trained_spam = len(ham_train), len(spam_train) + len(phish_train)
            tests = [(m, "ham") for m in ham_test] + [(m, "spam") for m in spam_test]
            tests += [(m, "phish") for m in phish_test]
            started, cpu = time.perf_counter(), time.process_time()
            asyncio.run(_judge(pipeline, account, tests, report))
            report.seconds, report.cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
            report.judged = len(tests)
        finally:
            pipeline.close()
            store.close()
    return report


def _arrival(raw: bytes) -> datetime | None:
    """When the message was sent: a corpus from 2002 is judged as if it arrived then, not as ancient mail."""
    end = raw.find(b"\r\n\r\n")
    found = _DATE.search(raw, 0, len(raw) if end < 0 else end)
    if found is None:
        return None
    try:
        date = email.utils.parsedate_to_datetime(found.group(1).decode("latin-1").strip())
    except (TypeError, ValueError, IndexError):
        return None
    return (date if date.tzinfo else date.replace(tzinfo=UTC)) + timedelta(hours=1)


async def _judge(pipeline: Pipeline, account: Account, tests: list[tuple[bytes, str]], report: Report) -> None:
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(raw: bytes, kind: str) -> None:
        async with semaphore:
            outcome = await pipeline.check_mx(
                raw, accounts=[account], sender="", client_ip="192.0.2.1", helo="", auth=None, now=_arrival(raw)
            )
        verdict = outcome.verdicts.get(account.id)
        assert verdict is not None
        junk, warned = verdict.junk or bool(outcome.reject), bool(verdict.warning)
        if kind == "ham":
            report.spam.negatives += 1
            report.phishing.negatives += 1
            report.spam.false_positives += junk
            report.phishing.false_positives += warned
        elif kind == "spam":
            report.spam.positives += 1
            report.spam.true_positives += junk
        else:
            report.phishing.positives += 1
            report.phishing.true_positives += warned

    await asyncio.gather(*(one(raw, kind) for raw, kind in tests))
