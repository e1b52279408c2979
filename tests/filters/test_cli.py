"""`arobase filter ...` and `arobase quarantine ...` on a data directory."""

from __future__ import annotations

import asyncio
import json
import mailbox
import random
from pathlib import Path

import pytest

from arobase.cli.main import main
from arobase.filters.tokens import is_char_gram

from .conftest import ARTHUR, message, open_app
from .samples import phishing
from .test_pipeline import SPAMMY, check


def run(data: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["--data", str(data), *args]) == 0
    return capsys.readouterr().out


def test_train_from_maildir_and_mbox_counts_each_message_once(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spam_dir = tmp_path / "spam"
    for sub in ("cur", "new", "tmp"):
        (spam_dir / sub).mkdir(parents=True)
    for i in range(12):
        (spam_dir / "cur" / f"{i}:2,S").write_bytes(message(SPAMMY + str(i), subject="WIN MONEY NOW"))
    ham_mbox = mailbox.mbox(tmp_path / "ham.mbox")
    for i in range(12):
        ham_mbox.add(message(f"Minutes of meeting {i} are on the wiki, Pierre").replace(b"\r\n", b"\n"))
    ham_mbox.close()
    out = run(data, "filter", "train", "--spam", str(spam_dir), "--ham", str(tmp_path / "ham.mbox"), capsys=capsys)
    assert "learnt 24 messages" in out and "12 spam and 12 ham" in out
    out = run(data, "filter", "train", "--spam", str(spam_dir), capsys=capsys)
    assert "learnt 0 messages (0 moved, 12 already known)" in out
    app = open_app(data)
    try:  # the character grams train the regression only: Bayes counts none of them
        most_seen = app.store.filter_most_seen(0, 1_000_000)
        weighted = app.store.filter_strongest_weights(0, 1_000_000)
        assert most_seen and not any(is_char_gram(token) for token, _, _ in most_seen)
        assert any(is_char_gram(token) for token, _ in weighted)
    finally:
        app.close()
    sample = tmp_path / "sample.eml"
    sample.write_bytes(message(SPAMMY, subject="WIN MONEY NOW"))
    report = json.loads(run(data, "filter", "check", str(sample), "--json", capsys=capsys))
    assert report["action"] in ("junk", "reject") and report["reasons"][0][0] == "BAYES"


def test_lists(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(data, "filter", "allow", ARTHUR, "Friends.Example", capsys=capsys)
    run(data, "filter", "block", ARTHUR, "Spammer@Casino.example", capsys=capsys)
    rows = json.loads(run(data, "filter", "lists", ARTHUR, "--json", capsys=capsys))
    assert rows == [{"entry": "friends.example", "list": "allow"}, {"entry": "spammer@casino.example", "list": "block"}]
    run(data, "filter", "unlist", ARTHUR, "friends.example", capsys=capsys)
    with pytest.raises(SystemExit) as missing:
        main(["--data", str(data), "filter", "unlist", ARTHUR, "friends.example"])
    assert missing.value.code == 1


def test_quarantine_list_show_release_delete(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = open_app(data)
    try:
        arthur = app.accounts.get(ARTHUR)
        raw = message("Invoice.\n", attachments=[("invoice.exe", b"MZ" + b"\0" * 40, "application/octet-stream")])
        outcome = check(app, raw, arthur)
        asyncio.run(app.filters.record(outcome, "f" * 64, [arthur]))
        asyncio.run(app.filters.record(outcome, "e" * 64, [arthur]))
    finally:
        app.close()
    entries = json.loads(run(data, "quarantine", "list", "--json", capsys=capsys))
    assert [e["account"] for e in entries] == [ARTHUR, ARTHUR]
    first = entries[-1]["id"]
    assert "invoice.exe is a Windows program" in run(data, "quarantine", "show", str(first), capsys=capsys)
    assert run(data, "quarantine", "show", str(first), "--raw", capsys=capsys).startswith("From: ")
    assert "released entry" in run(data, "quarantine", "release", str(first), capsys=capsys)
    with pytest.raises(SystemExit):
        main(["--data", str(data), "quarantine", "release", str(first)])
    run(data, "quarantine", "delete", str(entries[0]["id"]), capsys=capsys)
    assert len(json.loads(run(data, "quarantine", "list", "--json", capsys=capsys))) == 1
    app = open_app(data)
    try:
        inbox = app.store.get_mailbox(app.accounts.get(ARTHUR).id, "INBOX")
        assert inbox is not None
        [released] = app.store.list_messages(inbox.id)
        assert app.store.read_blob(released.blob) == raw
    finally:
        app.close()


def test_eval_reports_spam_and_phishing_rates_on_a_held_out_part(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(5)
    kinds = {
        "ham": ["meeting", "minutes", "wiki", "lunch", "draft", "review", "budget", "tomorrow"],
        "spam": ["winner", "casino", "cheap", "pills", "prize", "unsubscribe", "offer", "bonus"],
    }
    for kind, vocabulary in kinds.items():
        (tmp_path / kind).mkdir()
        for i in range(30):
            body = " ".join(rng.choice(vocabulary) for _ in range(40)) + f" {i}"
            (tmp_path / kind / f"{i}.eml").write_bytes(message(body, subject=rng.choice(vocabulary)))
    (tmp_path / "ham" / "copy.eml").write_bytes((tmp_path / "ham" / "0.eml").read_bytes())
    (tmp_path / "phish").mkdir()
    for i, raw in enumerate(phishing(20)):
        (tmp_path / "phish" / f"{i}.eml").write_bytes(raw)
    args = ["--ham", str(tmp_path / "ham"), "--spam", str(tmp_path / "spam"), "--phish", str(tmp_path / "phish")]
    report = json.loads(run(data, "filter", "eval", *args, "--json", capsys=capsys))
    assert report["duplicates_removed"] == 1 and report["trained_ham"] == 15 and report["trained_spam"] == 25
    spam, phish = report["results"]
    assert spam["detector"] == "spam (Junk)" and spam["recall"] == "100.00%" and spam["false positives"] == 0
    assert phish["detector"] == "phishing (warning)" and phish["caught"] >= 9 and phish["false positives"] == 0
    out = run(data, "filter", "eval", *args, "--train-fraction", "0.3", capsys=capsys)
    assert "learnt 15 spam and 9 ham (1 duplicate messages removed)" in out and "phishing (warning)" in out
