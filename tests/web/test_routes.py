"""Route-level tests of the webmail with Starlette's TestClient: sign-in, CSRF, isolation, reading,
sanitizing, actions, folders, compose through the submission service, search, contacts."""

from __future__ import annotations

import re

from starlette.routing import Route
from starlette.testclient import TestClient
from tests.web.conftest import ARTHUR, PIERRE, csrf_of, deliver, login, rich, simple

from arobase.app import App
from arobase.mime import parse_message
from arobase.web.app import create_app
from arobase.web.contacts import parse_vcards
from arobase.web.i18n import negotiate

HOSTILE = """<html><head><meta http-equiv="refresh" content="0;url=http://127.0.0.1:9/refresh">
<style>body{background:url(http://127.0.0.1:9/css)}</style><base href="http://127.0.0.1:9/"></head><body>
<script>alert(1)</script><img src="x" onerror="alert(2)"><a href="javascript:alert(3)">js</a>
<svg onload="alert(4)"><script>alert(5)</script></svg><div style="width:expression(alert(6));color:red">css</div>
<form action="http://127.0.0.1:9/form"><input name="p"><button>go</button></form>
<iframe src="http://127.0.0.1:9/frame"></iframe><object data="http://127.0.0.1:9/obj"></object>
<img src="http://127.0.0.1:9/remote.png"><a href="https://example.org/ok">fine link</a>
<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4="></body></html>"""


def hostile_message() -> bytes:
    return (
        "From: evil@elsewhere.test\r\nTo: arthur.dupont@example.test\r\nSubject: Hostile\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + HOSTILE.replace("\n", "\r\n")
    ).encode()


def inbox_id(app: App, address: str) -> int:
    box = app.store.get_mailbox(app.accounts.get(address).id, "INBOX")
    assert box is not None
    return box.id


def test_login_any_case_logout_and_cookie_flags(client: TestClient) -> None:
    assert client.get("/mail/INBOX", follow_redirects=False).headers["location"].startswith("/login?next=")
    page = client.get("/login")
    token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    bad = client.post("/login", data={"token": token, "address": ARTHUR[0], "password": "wrong"})
    assert bad.status_code == 401 and "Wrong address or password" in bad.text
    ok = client.post(
        "/login", data={"token": token, "address": ARTHUR[0].upper(), "password": ARTHUR[1]}, follow_redirects=False
    )
    assert ok.status_code == 303
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    inbox = client.get("/mail/INBOX")
    assert inbox.status_code == 200 and "Inbox" in inbox.text
    csrf = csrf_of(inbox.text)
    client.post("/logout", data={"csrf": csrf})
    assert client.get("/mail/INBOX", follow_redirects=False).status_code == 303


def test_login_needs_the_form_token(client: TestClient) -> None:
    client.get("/login")
    response = client.post("/login", data={"token": "forged", "address": ARTHUR[0], "password": ARTHUR[1]})
    assert response.status_code == 403
    assert client.get("/mail/INBOX", follow_redirects=False).status_code == 303


def test_secure_cookie_under_https(mail_app: App) -> None:
    asgi, _ = create_app(mail_app, secure=True)
    with TestClient(asgi, base_url="https://testserver") as secure:
        page = secure.get("/login")
        assert "Secure" in page.headers["set-cookie"] and "__Host-" in page.headers["set-cookie"]
        assert "strict-transport-security" in page.headers


def test_session_expires_when_idle(client: TestClient, mail_app: App, arthur: str) -> None:
    web = client.app.state.web  # type: ignore[attr-defined]
    now = [web.clock()]
    web.clock = lambda: now[0]
    assert client.get("/mail/INBOX").status_code == 200
    now[0] += web.idle + 1
    assert client.get("/mail/INBOX", follow_redirects=False).status_code == 303
    assert not web.sessions


def test_every_post_route_refuses_a_missing_or_wrong_csrf_token(client: TestClient, arthur: str) -> None:
    posts = [
        r.path
        for r in client.app.routes
        if isinstance(r, Route) and "POST" in (r.methods or set())  # type: ignore[attr-defined]
    ]
    assert len(posts) >= 10
    for path in posts:
        if path == "/login":
            continue
        assert client.post(path, data={}).status_code == 403, path
        assert client.post(path, data={"csrf": "wrong"}).status_code == 403, path
    # The right token from another site's page is refused too.
    evil = client.post("/folders/create", data={"csrf": arthur, "name": "X"}, headers={"Origin": "http://evil.test"})
    assert evil.status_code == 403


def test_security_headers(client: TestClient, arthur: str) -> None:
    headers = client.get("/mail/INBOX").headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"


def test_another_accounts_message_is_not_found(client: TestClient, mail_app: App, arthur: str) -> None:
    uid = deliver(mail_app, PIERRE[0], simple("Pierre's secret"))
    theirs = inbox_id(mail_app, PIERRE[0])
    for path in ("", "/frame", "/original", "/part/1"):
        assert client.get(f"/msg/{theirs}/{uid}{path}").status_code == 404
    moved = client.post("/actions", data={"csrf": arthur, "action": "delete", "m": f"{theirs}:{uid}"})
    assert moved.status_code == 404
    assert mail_app.store.get_message(theirs, uid) is not None


def test_hostile_html_is_sanitized(client: TestClient, mail_app: App, arthur: str) -> None:
    uid = deliver(mail_app, ARTHUR[0], hostile_message())
    box = inbox_id(mail_app, ARTHUR[0])
    page = client.get(f"/msg/{box}/{uid}")
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in page.text
    assert "Show images" in page.text
    frame = client.get(f"/msg/{box}/{uid}/frame")
    body = frame.text.lower().split("<body>", 1)[1]
    for bad in ("<script", "onerror", "onload", "javascript:", "<svg", "expression", "<form", "<iframe", "<object",
                "<meta", "<base", "127.0.0.1:9", "data:image/svg"):  # fmt: skip
        assert bad not in body, bad
    assert 'href="https://example.org/ok" target="_blank" rel="noopener noreferrer"' in frame.text
    csp = frame.headers["content-security-policy"]
    assert "sandbox" in csp and "script-src" not in csp and "default-src 'none'" in csp and "img-src data:;" in csp
    shown = client.get(f"/msg/{box}/{uid}/frame?images=1")
    assert "http://127.0.0.1:9/remote.png" in shown.text and "https:" in shown.headers["content-security-policy"]


def test_reading_multipart_inline_image_attachment_and_original(client: TestClient, mail_app: App, arthur: str) -> None:
    uid = deliver(mail_app, ARTHUR[0], rich())
    box = inbox_id(mail_app, ARTHUR[0])
    listing = client.get("/mail/INBOX")
    assert "Holiday pictures" in listing.text and 'class="unread"' in listing.text and "❏" in listing.text
    page = client.get(f"/msg/{box}/{uid}")
    assert "report.pdf" in page.text
    assert "\\Seen" in mail_app.store.get_message(box, uid).flags  # type: ignore[union-attr]
    frame = client.get(f"/msg/{box}/{uid}/frame")
    assert 'src="data:image/png;base64,' in frame.text
    number = re.search(r'/part/([0-9.]+)" download>report.pdf', page.text).group(1)  # type: ignore[union-attr]
    pdf = client.get(f"/msg/{box}/{uid}/part/{number}")
    assert pdf.content == b"%PDF-1.4 fake" and "attachment" in pdf.headers["content-disposition"]
    original = client.get(f"/msg/{box}/{uid}/original")
    assert original.headers["content-type"].startswith("text/plain") and b"Holiday pictures" in original.content


def test_plain_text_links_and_folded_quotes(client: TestClient, mail_app: App, arthur: str) -> None:
    uid = deliver(mail_app, ARTHUR[0], simple("Plain", "Hi <b>\nsee https://example.org/a?b=1.\n> old words\n"))
    page = client.get(f"/msg/{inbox_id(mail_app, ARTHUR[0])}/{uid}")
    assert '<a href="https://example.org/a?b=1" target="_blank" rel="noopener noreferrer">' in page.text
    assert '<details class="quote">' in page.text and "&lt;b&gt;" in page.text


def test_verified_sender_badge_only_from_our_own_results(client: TestClient, mail_app: App, arthur: str) -> None:
    host = mail_app.config.server.hostname
    ours = f"Authentication-Results: {host}; dmarc=pass header.from=elsewhere.test\r\n".encode()
    forged = b"Authentication-Results: other.test; dmarc=pass header.from=elsewhere.test\r\n"
    good = deliver(mail_app, ARTHUR[0], ours + simple("Signed"))
    fake = deliver(mail_app, ARTHUR[0], forged + simple("Forged"))
    box = inbox_id(mail_app, ARTHUR[0])
    assert "Verified sender" in client.get(f"/msg/{box}/{good}").text
    assert "Verified sender" not in client.get(f"/msg/{box}/{fake}").text


def test_bulk_actions_move_and_delete(client: TestClient, mail_app: App, arthur: str) -> None:
    account = mail_app.accounts.get(ARTHUR[0])
    a = deliver(mail_app, ARTHUR[0], simple("First"))
    b = deliver(mail_app, ARTHUR[0], simple("Second"))
    box = inbox_id(mail_app, ARTHUR[0])
    client.post("/actions", data={"csrf": arthur, "action": "flag", "m": [f"{box}:{a}", f"{box}:{b}"]})
    assert all("\\Flagged" in m.flags for m in mail_app.store.list_messages(box))
    archive = mail_app.store.get_mailbox(account.id, "Archive")
    client.post("/actions", data={"csrf": arthur, "action": "move", "target": str(archive.id), "m": f"{box}:{a}"})
    assert [m.uid for m in mail_app.store.list_messages(box)] == [b]
    assert len(mail_app.store.list_messages(archive.id)) == 1
    client.post("/actions", data={"csrf": arthur, "action": "delete", "m": f"{box}:{b}"})
    trash = mail_app.store.get_mailbox(account.id, "Trash")
    assert not mail_app.store.list_messages(box) and len(mail_app.store.list_messages(trash.id)) == 1
    in_trash = mail_app.store.list_messages(trash.id)[0].uid
    client.post("/actions", data={"csrf": arthur, "action": "delete", "m": f"{trash.id}:{in_trash}"})
    assert not mail_app.store.list_messages(trash.id)


def test_archive_and_emptying_trash_after_confirmation(client: TestClient, mail_app: App, arthur: str) -> None:
    account = mail_app.accounts.get(ARTHUR[0])
    a = deliver(mail_app, ARTHUR[0], simple("Keep for later"))
    b = deliver(mail_app, ARTHUR[0], simple("Not wanted"))
    c = deliver(mail_app, ARTHUR[0], simple("Not wanted either"))
    box = inbox_id(mail_app, ARTHUR[0])
    client.post("/actions", data={"csrf": arthur, "action": "archive", "m": f"{box}:{a}"})
    archive = mail_app.store.get_mailbox(account.id, "Archive")
    assert len(mail_app.store.list_messages(archive.id)) == 1
    client.post("/actions", data={"csrf": arthur, "action": "delete", "m": [f"{box}:{b}", f"{box}:{c}"]})
    trash = mail_app.store.get_mailbox(account.id, "Trash")
    assert len(mail_app.store.list_messages(trash.id)) == 2
    page = client.get("/mail/Trash").text
    assert "/mail/Trash?empty=1" in page and "/folders/empty" not in page  # it asks first
    confirm = client.get("/mail/Trash?empty=1").text
    assert 'action="/folders/empty"' in confirm and "Delete the 2 messages of Trash for good?" in confirm
    for other in ("INBOX", "Archive"):  # only Trash and Junk can be emptied
        assert client.post("/folders/empty", data={"csrf": arthur, "name": other}).status_code == 400
    client.post("/folders/empty", data={"csrf": arthur, "name": "Trash"})
    assert mail_app.store.get_mailbox(account.id, "Trash").messages == 0
    assert mail_app.store.get_mailbox(account.id, "Archive").messages == 1


def test_folders_create_rename_delete(client: TestClient, mail_app: App, arthur: str) -> None:
    account = mail_app.accounts.get(ARTHUR[0])
    client.post("/folders/create", data={"csrf": arthur, "name": "Projects"})
    client.post("/folders/create", data={"csrf": arthur, "name": "Alpha", "parent": "Projects"})
    assert mail_app.store.get_mailbox(account.id, "Projects/Alpha") is not None
    tree = client.get("/mail/INBOX").text
    assert "depth-1" in tree and "Alpha" in tree
    client.post("/folders/rename", data={"csrf": arthur, "name": "Projects/Alpha", "new": "Beta"})
    assert mail_app.store.get_mailbox(account.id, "Projects/Beta") is not None
    confirm = client.get("/folders?delete=Projects/Beta")
    assert "Delete the folder Projects/Beta" in confirm.text
    client.post("/folders/delete", data={"csrf": arthur, "name": "Projects/Beta"})
    assert mail_app.store.get_mailbox(account.id, "Projects/Beta") is None
    client.post("/folders/delete", data={"csrf": arthur, "name": "Trash"})
    assert mail_app.store.get_mailbox(account.id, "Trash") is not None


def test_paging_newest_first(client: TestClient, mail_app: App, arthur: str) -> None:
    client.app.state.web.page_size = 5  # type: ignore[attr-defined]
    for i in range(12):
        deliver(mail_app, ARTHUR[0], simple(f"Number {i:02d}"))
    first = client.get("/mail/INBOX").text
    assert first.index("Number 11") < first.index("Number 07") and "Number 06" not in first
    assert "Number 01" in client.get("/mail/INBOX?page=2").text


def test_first_inbox_page_is_small(client: TestClient, mail_app: App, arthur: str) -> None:
    for i in range(50):
        deliver(mail_app, ARTHUR[0], simple(f"Message {i}", "word " * 500))
    total = len(client.get("/mail/INBOX").content)
    total += len(client.get("/static/app.css").content) + len(client.get("/static/app.js").content)
    assert total < 150_000


def test_compose_sends_files_in_sent_and_replies_thread(client: TestClient, mail_app: App, arthur: str) -> None:
    response = client.post(
        "/compose",
        data={
            "csrf": arthur,
            "to": "Pierre <PIERRE.DURAND@example.test>",
            "bcc": "",
            "subject": "Plans",
            "body": "See attached.",
            "action": "send",
        },
        files=[("files", ("plan.txt", b"the plan", "text/plain"))],
    )
    assert "Message sent." in response.text
    pierre = mail_app.accounts.get(PIERRE[0])
    box = mail_app.store.get_mailbox(pierre.id, "INBOX")
    (received,) = mail_app.store.list_messages(box.id)
    raw = mail_app.store.read_blob(received.blob)
    parsed = parse_message(raw)
    assert parsed.subject == "Plans" and parsed.attachment_names == ["plan.txt"] and parsed.message_id
    assert b"with HTTP" in raw and b"Arthur Dupont <Arthur.Dupont@example.test>" in raw
    arthur_id = mail_app.accounts.get(ARTHUR[0]).id
    sent = mail_app.store.get_mailbox(arthur_id, "Sent")
    (copy,) = mail_app.store.list_messages(sent.id)
    assert parse_message(mail_app.store.read_blob(copy.blob)).message_id == parsed.message_id
    # Pierre replies; Arthur sees the conversation with his own message from Sent in it.
    pierre_client = TestClient(client.app)
    token = login(pierre_client, *PIERRE)
    form = pierre_client.get(f"/compose?mode=reply&ref={box.id}:{received.uid}").text
    assert "Re: Plans" in form and "Arthur.Dupont@example.test" in form
    in_reply_to = re.search(r'name="in_reply_to" value="([^"]*)"', form).group(1)  # type: ignore[union-attr]
    refs = re.search(r'name="references" value="([^"]*)"', form).group(1)  # type: ignore[union-attr]
    pierre_client.post(
        "/compose",
        data={
            "csrf": token,
            "to": ARTHUR[0],
            "subject": "Re: Plans",
            "body": "Fine",
            "in_reply_to": in_reply_to,
            "references": refs.replace("&lt;", "<").replace("&gt;", ">"),
            "replied": f"{box.id}:{received.uid}",
            "action": "send",
        },
    )
    assert "\\Answered" in mail_app.store.get_message(box.id, received.uid).flags  # type: ignore[union-attr]
    inbox = inbox_id(mail_app, ARTHUR[0])
    (reply,) = mail_app.store.list_messages(inbox)
    page = client.get(f"/msg/{inbox}/{reply.uid}").text
    assert "Conversation (2)" in page and "in Sent" in page


def test_send_error_keeps_the_draft(client: TestClient, mail_app: App, arthur: str) -> None:
    response = client.post(
        "/compose",
        data={"csrf": arthur, "to": "nobody@example.test", "subject": "Lost?", "body": "keep me", "action": "send"},
    )
    assert response.status_code == 400 and "no such local user" in response.text and "keep me" in response.text
    drafts = mail_app.store.get_mailbox(mail_app.accounts.get(ARTHUR[0]).id, "Drafts")
    assert len(mail_app.store.list_messages(drafts.id)) == 1
    throttle = mail_app.throttle
    throttle.messages_per_hour = 1
    throttle.record_message(mail_app.accounts.get(ARTHUR[0]).id, 1)
    limited = client.post("/compose", data={"csrf": arthur, "to": PIERRE[0], "subject": "x", "action": "send"})
    assert "too many messages" in limited.text


def test_save_draft_then_edit_replaces_it(client: TestClient, mail_app: App, arthur: str) -> None:
    saved = client.post(
        "/compose",
        data={"csrf": arthur, "to": PIERRE[0], "subject": "Draft one", "body": "v1", "action": "draft"},
        files=[("files", ("a.txt", b"aaa", "text/plain"))],
    )
    assert "Draft saved." in saved.text and "a.txt" in saved.text
    drafts = mail_app.store.get_mailbox(mail_app.accounts.get(ARTHUR[0]).id, "Drafts")
    (first,) = mail_app.store.list_messages(drafts.id)
    client.post(
        "/compose",
        data={
            "csrf": arthur,
            "to": PIERRE[0],
            "subject": "Draft two",
            "body": "v2",
            "action": "send",
            "draft": f"{drafts.id}:{first.uid}",
            "keep": "2",
        },
    )
    assert not mail_app.store.list_messages(drafts.id)
    pierre_inbox = inbox_id(mail_app, PIERRE[0])
    (got,) = mail_app.store.list_messages(pierre_inbox)
    assert parse_message(mail_app.store.read_blob(got.blob)).attachment_names == ["a.txt"]


def test_search_with_filters(client: TestClient, mail_app: App, arthur: str) -> None:
    deliver(mail_app, ARTHUR[0], rich())
    deliver(mail_app, ARTHUR[0], simple("Budget 2025", "numbers inside"), flags=("\\Seen",))
    deliver(mail_app, ARTHUR[0], simple("Other", "nothing"), mailbox="Archive")
    assert "Holiday pictures" in client.get("/search?q=picture").text
    assert "Holiday pictures" in client.get("/search?q=report.pdf&in=attachments").text
    assert "Holiday pictures" in client.get("/search?q=alice&in=from").text
    unread = client.get("/search?q=&unread=1").text
    assert "Holiday pictures" in unread and "Budget 2025" not in unread
    archived = client.get("/search?q=nothing&folder=Archive").text
    assert "Other" in archived and "1 results" in archived
    assert "Budget" not in client.get("/search?q=numbers&folder=Archive").text
    assert "Holiday" in client.get("/search?att=1").text


def test_contacts_crud_vcard_and_autocomplete(client: TestClient, mail_app: App, arthur: str) -> None:
    client.post("/contacts/save", data={"csrf": arthur, "name": "Zoé Martin", "email": "zoe@elsewhere.test"})
    assert "Zoé Martin" in client.get("/contacts").text
    assert client.get("/contacts/complete?q=zo").json() == ['"Zoé Martin" <zoe@elsewhere.test>']
    vcf = client.get("/contacts/export.vcf").text
    assert "FN:Zoé Martin" in vcf and "EMAIL;TYPE=INTERNET:zoe@elsewhere.test" in vcf
    card = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bob\r\n  Smith\r\nEMAIL:bob@elsewhere.test\r\nEND:VCARD\r\n" + vcf
    client.post("/contacts/import", data={"csrf": arthur}, files=[("file", ("c.vcf", card.encode(), "text/vcard"))])
    page = client.get("/contacts").text
    assert "Bob Smith" in page and page.count("zoe@elsewhere.test") >= 1
    assert parse_vcards(card)[0][:2] == ("Bob Smith", "bob@elsewhere.test")
    contact_id = re.search(r"/contacts\?edit=(\d+)", page).group(1)  # type: ignore[union-attr]
    client.post("/contacts/delete", data={"csrf": arthur, "id": contact_id})
    assert len(re.findall(r"/contacts\?edit=", client.get("/contacts").text)) == 1


def test_languages(client: TestClient, arthur: str) -> None:
    assert negotiate("fr-CH, fr;q=0.9, en;q=0.8") == "fr" and negotiate("de, en;q=0.5") == "en"
    assert "Boîte de réception" in client.get("/mail/INBOX", headers={"Accept-Language": "fr"}).text
    client.post("/lang", data={"csrf": arthur, "lang": "fr", "next": "/mail/INBOX"})
    assert "Corbeille" in client.get("/mail/INBOX").text
    client.post("/lang", data={"csrf": arthur, "lang": "en", "next": "/mail/INBOX"})
    assert "Trash" in client.get("/mail/INBOX").text
