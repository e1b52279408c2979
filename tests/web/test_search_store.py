"""The webmail's search and list queries (store/webmail.py) against a brute-force reference.

The full-text path reads matches newest content first, a chunk at a time; the chunk and the
other bounds are made tiny here so that a few dozen messages exercise every branch: several
chunks, messages whose date is newer than their content's place in the index, and the exact
fallback queries.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from tests.web.conftest import ARTHUR, PIERRE, simple

from arobase.app import App
from arobase.store import webmail

BASE = datetime(2026, 1, 1, tzinfo=UTC)


def put(app: App, address: str, subject: str, body: str, when: datetime, mailbox: str = "INBOX", flags=()) -> int:
    account = app.accounts.get(address)
    blob = app.store.put_message(simple(subject, body))
    _, uid = app.store.append(account.id, mailbox, blob, flags, when).wait()
    return uid


@pytest.fixture
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webmail, "_CHUNK", 4)
    monkeypatch.setattr(webmail, "_MAX_STREAMED", 40)


def subjects(found: list[webmail.MessageSummary]) -> list[str]:
    return [m.subject for m in found]


def test_common_word_newest_first_across_chunks(mail_app: App, tiny_chunks: None) -> None:
    for i in range(30):
        put(mail_app, ARTHUR[0], f"budget {i:02d}", "the budget review", BASE + timedelta(hours=i))
    arthur = mail_app.accounts.get(ARTHUR[0]).id
    found = webmail.search(mail_app.store, arthur, "budget", limit=5)
    assert subjects(found) == [f"budget {i:02d}" for i in (29, 28, 27, 26, 25)]


def test_newer_date_on_older_content_still_comes_first(mail_app: App, tiny_chunks: None) -> None:
    """Content stored first (lowest id) but dated last: the exactness check must find it."""
    put(mail_app, ARTHUR[0], "late arrival", "budget from the archive", BASE + timedelta(days=30))
    for i in range(20):
        put(mail_app, ARTHUR[0], f"budget {i:02d}", "budget", BASE + timedelta(hours=i))
    arthur = mail_app.accounts.get(ARTHUR[0]).id
    assert subjects(webmail.search(mail_app.store, arthur, "budget", limit=3)) == [
        "late arrival",
        "budget 19",
        "budget 18",
    ]


def test_too_many_late_messages_fall_back_to_the_exact_query(
    mail_app: App, tiny_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webmail, "_MAX_LATE", 0)
    put(mail_app, ARTHUR[0], "late arrival", "budget", BASE + timedelta(days=30))
    for i in range(12):
        put(mail_app, ARTHUR[0], f"budget {i:02d}", "budget", BASE + timedelta(hours=i))
    arthur = mail_app.accounts.get(ARTHUR[0]).id
    assert subjects(webmail.search(mail_app.store, arthur, "budget", limit=2)) == ["late arrival", "budget 11"]


def test_other_accounts_matches_are_streamed_past(mail_app: App, tiny_chunks: None) -> None:
    """Pierre's many newer matches fill the first chunks; Arthur's one match is still found."""
    put(mail_app, ARTHUR[0], "mine", "budget", BASE)
    for i in range(60):
        put(mail_app, PIERRE[0], f"his {i}", "budget", BASE + timedelta(hours=i + 1))
    arthur = mail_app.accounts.get(ARTHUR[0]).id
    assert subjects(webmail.search(mail_app.store, arthur, "budget")) == ["mine"]


def test_search_matches_a_brute_force_reference(mail_app: App, tiny_chunks: None) -> None:
    rng = random.Random(5)
    arthur = mail_app.accounts.get(ARTHUR[0])
    mail_app.store.create_mailbox(arthur.id, "Reports").wait()
    words = ["budget", "invoice", "garden", "travel"]
    stored = []
    for i in range(70):
        subject = f"{rng.choice(words)} note {i}"
        body = " ".join(rng.choice(words) for _ in range(3))
        when = BASE + timedelta(minutes=rng.randint(0, 10_000))
        flags = tuple(f for f in ("\\Seen", "\\Flagged") if rng.random() < 0.5)
        mailbox = rng.choice(["INBOX", "Reports"])
        put(mail_app, ARTHUR[0], subject, body, when, mailbox, flags)
        stored.append((subject, body, when, flags, mailbox))
    boxes = {b.name: b.id for b in mail_app.store.list_mailboxes(arthur.id)}
    for word in words:
        for field in ("all", "subject", "body"):
            for unread in (False, True):
                for folder in (None, "Reports"):
                    expected = [
                        (when, subject)
                        for subject, body, when, flags, mailbox in stored
                        if (
                            (field in ("all", "subject") and word in subject)
                            or (field in ("all", "body") and word in body)
                        )
                        and not (unread and "\\Seen" in flags)
                        and (folder is None or mailbox == folder)
                    ]
                    expected.sort(reverse=True)
                    found = webmail.search(
                        mail_app.store,
                        arthur.id,
                        word,
                        field=field,
                        unread=unread,
                        mailbox_id=boxes[folder] if folder else None,
                        limit=6,
                    )
                    assert [m.subject for m in found] == [s for _, s in expected[:6]], (word, field, unread, folder)


def test_filters_without_text_walk_folders_newest_first(mail_app: App) -> None:
    arthur = mail_app.accounts.get(ARTHUR[0])
    mail_app.store.create_mailbox(arthur.id, "Reports").wait()
    put(mail_app, ARTHUR[0], "old flagged", "x", BASE, flags=("\\Flagged",))
    put(mail_app, ARTHUR[0], "new flagged", "x", BASE + timedelta(days=2), "Reports", ("\\Flagged",))
    put(mail_app, ARTHUR[0], "plain", "x", BASE + timedelta(days=3))
    found = webmail.search(mail_app.store, arthur.id, "", flagged=True)
    assert subjects(found) == ["new flagged", "old flagged"]
    two_chars = webmail.search(mail_app.store, arthur.id, "pl", field="subject")
    assert subjects(two_chars) == ["plain"]


def test_another_accounts_folder_finds_nothing(mail_app: App) -> None:
    put(mail_app, PIERRE[0], "his budget", "budget", BASE)
    pierre_inbox = mail_app.store.get_mailbox(mail_app.accounts.get(PIERRE[0]).id, "INBOX")
    arthur = mail_app.accounts.get(ARTHUR[0]).id
    assert webmail.search(mail_app.store, arthur, "budget", mailbox_id=pierre_inbox.id) == []


def test_message_page_is_newest_first_with_offsets(mail_app: App) -> None:
    for i in range(7):
        put(mail_app, ARTHUR[0], f"m{i}", "x", BASE + timedelta(hours=(i * 5) % 7))
    inbox = mail_app.store.get_mailbox(mail_app.accounts.get(ARTHUR[0]).id, "INBOX")
    order = [f"m{i}" for i in sorted(range(7), key=lambda i: (i * 5) % 7, reverse=True)]
    assert subjects(webmail.message_page(mail_app.store, inbox.id, 0, 3)) == order[:3]
    assert subjects(webmail.message_page(mail_app.store, inbox.id, 3, 10)) == order[3:]


def test_from_search_finds_an_encoded_name(mail_app: App) -> None:
    """From goes through the decoded header index first, then the listed columns."""
    raw = (
        b"From: =?utf-8?q?Zo=C3=A9_Lef=C3=A8vre?= <zoe@elsewhere.test>\r\nTo: arthur.dupont@example.test\r\n"
        b"Subject: hello\r\n\r\nbody\r\n"
    )
    account = mail_app.accounts.get(ARTHUR[0])
    mail_app.store.append(account.id, "INBOX", mail_app.store.put_message(raw)).wait()
    put(mail_app, ARTHUR[0], "not her", "Lefèvre is mentioned in the body only", BASE)
    assert subjects(webmail.search(mail_app.store, account.id, "Lefèvre", field="from")) == ["hello"]
    assert subjects(webmail.search(mail_app.store, account.id, "zoe@else", field="from")) == ["hello"]
