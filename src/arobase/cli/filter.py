"""`arobase filter ...`: seed the spam classifier, manage allow/block lists, explain a verdict, measure.

These commands work on the store directly, so they also work while `arobase serve` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
from pathlib import Path

from ..addressing import AddressError, parse_address
from ..app import make_resolver
from ..config import Config
from ..filters import Pipeline, linear
from ..filters.content import extract
from ..filters.corpus import read_messages
from ..filters.evaluate import evaluate
from ..filters.tokens import counted, tokens
from ..mime import parse_message
from ..services.accounts import Accounts
from ..store import Pending, open_store
from .output import fail, print_json, print_table

BATCH = 256  # training writes in flight at once


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("filter", help="spam filter: training, allow and block lists")
    actions = parser.add_subparsers(dest="action", required=True)
    train = actions.add_parser("train", help="teach the classifier from Maildirs, mbox files or folders of messages")
    train.add_argument("--spam", type=Path, action="append", default=[], help="spam (repeatable)")
    train.add_argument("--ham", type=Path, action="append", default=[], help="wanted mail (repeatable)")
    train.add_argument("--account", help="train this account's own model instead of the global one")
    train.set_defaults(handler=train_command)
    for name, text in [("allow", "always deliver mail from a sender or domain"), ("block", "send it to Junk")]:
        sub = actions.add_parser(name, help=text)
        sub.add_argument("address", help="the account")
        sub.add_argument("entry", help="bob@example.org or example.org")
        sub.set_defaults(handler=list_command, kind=name)
    unlist = actions.add_parser("unlist", help="remove a sender or domain from an account's lists")
    unlist.add_argument("address")
    unlist.add_argument("entry")
    unlist.set_defaults(handler=list_command, kind=None)
    lists = actions.add_parser("lists", help="show an account's allow and block lists")
    lists.add_argument("address")
    lists.add_argument("--json", action="store_true")
    lists.set_defaults(handler=lists_command)
    check = actions.add_parser("check", help="run the pipeline on a message file and explain the verdict")
    check.add_argument("path", type=Path)
    check.add_argument("--account", help="judge it for this account (its lists and model)")
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=check_command)
    evaluate = actions.add_parser(
        "eval", help="train on part of a labelled corpus, judge the rest, print the detection rates"
    )
    evaluate.add_argument("--ham", type=Path, action="append", required=True, help="wanted mail (repeatable)")
    evaluate.add_argument("--spam", type=Path, action="append", required=True, help="spam (repeatable)")
    evaluate.add_argument("--phish", type=Path, action="append", default=[], help="phishing mail (repeatable)")
    evaluate.add_argument("--train-fraction", type=float, default=0.5, help="share of each kind learnt (0.5)")
    evaluate.add_argument("--seed", type=int, default=1, help="shuffle seed of the split")
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(handler=eval_command)


def train_command(args: argparse.Namespace, config: Config) -> int:
    if not args.spam and not args.ham:
        fail("give --spam and/or --ham")
    with open_store(config) as store:
        account_id = Accounts(store).get(args.account).id if args.account else 0
        messages: dict[str, tuple[list[int], bool]] = {}  # digest -> tokens, label (the last one given wins)
        for paths, is_spam in ((args.spam, True), (args.ham, False)):
            for path in paths:
                try:
                    for raw in read_messages(path):
                        messages[hashlib.sha256(raw).hexdigest()] = (tokens(extract(raw, parse_message(raw))), is_spam)
                except OSError as e:
                    fail(f"{path}: {e.strerror or e}")
        # The regression learns what the ledger will take, before the counts change: a running server
        # keeps the global model in memory until its totals change, and must then read the new weights.
        linear.train(
            store,
            account_id,
            [item for digest, item in messages.items() if store.filter_trained(account_id, digest) is not item[1]],
        )
        counts = {"learnt": 0, "moved": 0, "known": 0}
        pending: list[Pending[str]] = []
        for digest, (message_tokens, is_spam) in messages.items():
            pending.append(store.filter_learn(account_id, digest, counted(message_tokens), is_spam))
            if len(pending) >= BATCH:
                _settle(pending, counts)
        _settle(pending, counts)
        spam, ham = store.filter_totals([account_id])
    print(
        f"learnt {counts['learnt']} messages ({counts['moved']} moved, {counts['known']} already known);"
        f" the {'account' if account_id else 'global'} model now knows {spam} spam and {ham} ham"
    )
    return 0


def _settle(pending: list[Pending[str]], counts: dict[str, int]) -> None:
    for item in pending:
        counts[item.wait()] += 1
    pending.clear()


def _entry(text: str) -> str:
    """An address or a domain, normalised as the store keeps it (lower case, A-label domain)."""
    text = text.strip()
    try:
        if "@" in text:
            return parse_address(text).key
        return parse_address(f"x@{text.lstrip('@')}").domain
    except AddressError as e:
        fail(f"{text!r} is not an address or a domain ({e})")


def list_command(args: argparse.Namespace, config: Config) -> int:
    with open_store(config) as store:
        account = Accounts(store).get(args.address)
        entry = _entry(args.entry)
        changed = store.filter_list_set(account.id, entry, args.kind).wait()
    if args.kind is None and not changed:
        fail(f"{entry} is on no list of {account.address}")
    print(f"{entry}: {args.kind + 'ed' if args.kind else 'removed'} for {account.address}")
    return 0


def lists_command(args: argparse.Namespace, config: Config) -> int:
    with open_store(config) as store:
        account = Accounts(store).get(args.address)
        rows = [{"entry": entry, "list": kind} for entry, kind in store.filter_lists(account.id).items()]
    print_json(rows) if args.json else print_table(rows, ["entry", "list"])
    return 0


def check_command(args: argparse.Namespace, config: Config) -> int:
    try:
        raw = next(read_messages(args.path))
    except (OSError, StopIteration) as e:
        fail(f"{args.path}: cannot read a message ({e})")
    with open_store(config) as store:
        accounts = [Accounts(store).get(args.account)] if args.account else []
        pipeline = Pipeline(store, config, make_resolver(config.dns.nameserver))
        try:
            outcome = asyncio.run(
                pipeline.check_mx(raw, accounts=accounts, sender="", client_ip="127.0.0.1", helo="", auth=None)
            )
        finally:
            pipeline.close()
    verdict = outcome.verdicts[accounts[0].id] if accounts else outcome.message
    assert verdict is not None
    action = "reject" if outcome.reject else verdict.action.value
    if args.json:
        print_json({"action": action, "score": verdict.score, "warning": verdict.warning, "reasons": verdict.reasons()})
        return 0
    print(f"{action}, score {verdict.score:.1f}" + (f": {outcome.reject}" if outcome.reject else ""))
    if verdict.warning:
        print(verdict.warning)
    print_table([{"signal": n, "points": p, "why": d} for n, p, d in verdict.reasons()], ["signal", "points", "why"])
    sys.stdout.flush()
    return 0


def _read_all(paths: list[Path]) -> list[bytes]:
    out: list[bytes] = []
    for path in paths:
        try:
            out += read_messages(path)
        except OSError as e:
            fail(f"{path}: {e.strerror or e}")
    return out


def eval_command(args: argparse.Namespace, config: Config) -> int:
    """Measure the configured thresholds on labelled mail, on a throwaway store (the server's model is untouched)."""
    if not 0.0 < args.train_fraction < 1.0:
        fail("--train-fraction must be between 0 and 1")
    ham, spam, phish = _read_all(args.ham), _read_all(args.spam), _read_all(args.phish)
    if not ham or not spam:
        fail("no messages found under --ham or --spam")
    report = evaluate(config, make_resolver(config.dns.nameserver), ham, spam, phish, args.train_fraction, args.seed)
    rows = [
        {
            "detector": name,
            "judged": f"{rates.positives} + {rates.negatives} ham",
            "caught": rates.true_positives,
            "precision": f"{rates.precision:.2%}",
            "recall": f"{rates.recall:.2%}",
            "false positives": rates.false_positives,
            "false-positive rate": f"{rates.false_positive_rate:.2%}",
        }
        for name, rates in (("spam (Junk)", report.spam), ("phishing (warning)", report.phishing))
        if rates.positives
    ]
    if args.json:
        print_json(
            {
                "trained_spam": report.trained_spam,
                "trained_ham": report.trained_ham,
                "duplicates_removed": report.duplicates,
                "messages_per_second": round(report.per_second, 1),
                "results": rows,
            }
        )
        return 0
    print(
        f"learnt {report.trained_spam} spam and {report.trained_ham} ham"
        f" ({report.duplicates} duplicate messages removed); judged {report.judged}"
        f" at {report.per_second:.0f} msgs/s"
    )
    print_table(rows, list(rows[0]))
    return 0
