"""Protection on the message page: Junk reasons, phishing banner with de-fanged links, quarantine
release, and the Spam / Not spam buttons that teach the classifier and move the message."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.testclient import TestClient
from tests.web.conftest import ARTHUR, deliver, simple

from arobase.app import App
from arobase.filters import learn
from arobase.store import FilterVerdict

PHISH = (
    b"From: Bank <security@bank-example.test>\r\nTo: arthur.dupont@example.test\r\nSubject: Verify your account\r\n"
    b"X-Arobase-Warning: Possible phishing: link text shows bank.example but goes to evil.test\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b'<p>Please <a href="https://login.evil.test/bank">log in at https://bank.example</a> today.</p>\r\n'
)


def place(app: App, raw: bytes, mailbox: str = "INBOX") -> tuple[int, int, str]:
    """(mailbox id, uid, blob hash) of a message put in one of Arthur's mailboxes."""
    account = app.accounts.get(ARTHUR[0])
    blob = app.store.put_message(raw)
    box, uid = app.store.append(account.id, mailbox, blob).wait()
    return box.id, uid, blob.hash


def verdict(app: App, digest: str, action: str, score: float = 0.0, reasons=()) -> None:
    account = app.accounts.get(ARTHUR[0])
    app.store.record_verdicts(
        [FilterVerdict(account.id, digest, action, score, tuple(reasons), datetime.now(UTC))]
    ).wait()


def test_why_is_this_in_junk_lists_the_filters_reasons(client: TestClient, mail_app: App, arthur: str) -> None:
    box, uid, digest = place(mail_app, simple("Cheap pills"), "Junk")
    verdict(
        mail_app, digest, "junk", 9.5, [("BAYES_99", 6.0, "Looks like spam you received before"), ("NO_DKIM", 0.0, "")]
    )
    page = client.get(f"/msg/{box}/{uid}").text
    assert "Why is this in Junk?" in page and "9.5 points" in page
    assert "Looks like spam you received before" in page and "(+6.0)" in page and "NO_DKIM" not in page
    assert 'value="ham"' in page and 'value="spam"' not in page
    moved_by_hand_box, moved_uid, _ = place(mail_app, simple("Moved by me"), "Junk")
    assert "moved here by you" in client.get(f"/msg/{moved_by_hand_box}/{moved_uid}").text


def test_phishing_banner_shows_links_defanged_and_disables_them(client: TestClient, mail_app: App, arthur: str) -> None:
    box, uid, digest = place(mail_app, PHISH)
    verdict(mail_app, digest, "warn", 2.0, [("PHISH_LINK_MISMATCH", 2.0, "link text and target differ")])
    page = client.get(f"/msg/{box}/{uid}").text
    assert "may be phishing" in page and "link text shows bank.example but goes to evil.test" in page
    assert "hxxps[://]login[.]evil[.]test/bank" in page
    frame = client.get(f"/msg/{box}/{uid}/frame").text
    assert "log in at" in frame and "href" not in frame
    # A text/plain phishing message: its URLs are shown de-fanged, not as links.
    text = PHISH.replace(b"text/html", b"text/plain").replace(b'<a href="https://login.evil.test/bank">', b"")
    text = text.replace(b"</a>", b" https://login.evil.test/bank").replace(b"<p>", b"").replace(b"</p>", b"")
    box, uid, _ = place(mail_app, text)
    page = client.get(f"/msg/{box}/{uid}").text
    assert '<span class="defanged">hxxps[://]login[.]evil[.]test/bank</span>' in page
    assert 'href="https://login.evil.test' not in page


def test_ordinary_message_has_no_banner_and_links_work(client: TestClient, mail_app: App, arthur: str) -> None:
    uid = deliver(mail_app, ARTHUR[0], simple("Hello", "see https://example.org/page"))
    box = mail_app.store.get_mailbox(mail_app.accounts.get(ARTHUR[0]).id, "INBOX")
    page = client.get(f"/msg/{box.id}/{uid}").text
    assert "phishing" not in page and "Why is this in Junk?" not in page
    assert 'href="https://example.org/page"' in page and 'value="spam"' in page


def test_quarantine_notice_and_release(client: TestClient, mail_app: App, arthur: str) -> None:
    account = mail_app.accounts.get(ARTHUR[0])
    original = simple("Invoice", "see attached", sender="billing@elsewhere.test")
    box, uid, digest = place(mail_app, simple("Invoice", "[attachment removed]", sender="billing@elsewhere.test"))
    verdict(mail_app, digest, "quarantine", 0.0, [("ATTACHMENT_EXECUTABLE", 0.0, "invoice.exe is a program")])
    (entry_id,) = mail_app.store.quarantine_add(
        [account.id], original, "f" * 64, "billing@elsewhere.test", "Invoice", ["invoice.exe is a program (.exe)"]
    ).wait()
    page = client.get(f"/msg/{box}/{uid}").text
    assert "Dangerous attachments were taken out" in page and "invoice.exe is a program (.exe)" in page
    assert f'name="id" value="{entry_id}"' in page
    released = client.post("/protection/release", data={"csrf": arthur, "id": str(entry_id)})
    assert "is in your Inbox" in released.text
    inbox = mail_app.store.get_mailbox(account.id, "INBOX")
    assert any(mail_app.store.read_blob(m.blob) == original for m in mail_app.store.list_messages(inbox.id))
    assert mail_app.store.quarantine_get(entry_id)[0].released is not None  # type: ignore[index]
    assert "was released" in client.get(f"/msg/{box}/{uid}").text
    again = client.post("/protection/release", data={"csrf": arthur, "id": str(entry_id)})
    assert "already released" in again.text


def test_another_accounts_quarantine_cannot_be_released(client: TestClient, mail_app: App, arthur: str) -> None:
    from tests.web.conftest import PIERRE

    pierre = mail_app.accounts.get(PIERRE[0])
    (entry_id,) = mail_app.store.quarantine_add(
        [pierre.id], b"Subject: x\r\n\r\ny\r\n", "e" * 64, "a@b.test", "x", []
    ).wait()
    assert client.post("/protection/release", data={"csrf": arthur, "id": str(entry_id)}).status_code == 404
    assert mail_app.store.quarantine_get(entry_id)[0].released is None  # type: ignore[index]


def test_spam_and_not_spam_teach_and_move(client: TestClient, mail_app: App, arthur: str) -> None:
    account = mail_app.accounts.get(ARTHUR[0])
    box, uid, digest = place(mail_app, simple("Buy now", "limited offer"))
    response = client.post("/protection/judge", data={"csrf": arthur, "m": f"{box}:{uid}", "as": "spam"})
    assert "moved to Junk" in response.text
    junk = next(b for b in mail_app.store.list_mailboxes(account.id) if b.special_use == "\\Junk")
    (moved,) = mail_app.store.list_messages(junk.id)
    assert learn(mail_app.store, account.id, digest, True) == "known"  # already learnt as spam
    response = client.post("/protection/judge", data={"csrf": arthur, "m": f"{junk.id}:{moved.uid}", "as": "ham"})
    assert "moved to Inbox" in response.text
    assert not mail_app.store.list_messages(junk.id)
    assert learn(mail_app.store, account.id, digest, False) == "known"
    assert client.post("/protection/judge", data={"m": f"{box}:{uid}", "as": "spam"}).status_code == 403


def test_spam_button_on_a_selection_of_the_list(client: TestClient, mail_app: App, arthur: str) -> None:
    account = mail_app.accounts.get(ARTHUR[0])
    first = place(mail_app, simple("Offer one"))
    second = place(mail_app, simple("Offer two"))
    page = client.get("/mail/INBOX").text
    assert 'formaction="/protection/judge" name="as" value="spam"' in page
    response = client.post(
        "/protection/judge",
        data={
            "csrf": arthur,
            "as": "spam",
            "back": "/mail/INBOX",
            "m": [f"{first[0]}:{first[1]}", f"{second[0]}:{second[1]}"],
        },
    )
    assert response.url.path == "/mail/INBOX" and "moved to Junk" in response.text
    junk = next(b for b in mail_app.store.list_mailboxes(account.id) if b.special_use == "\\Junk")
    assert len(mail_app.store.list_messages(junk.id)) == 2
    assert 'value="ham"' in client.get("/mail/Junk").text
