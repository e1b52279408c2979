"""Writing: rich text as multipart/alternative, signature, automatic drafts, autocomplete, size limit."""

from __future__ import annotations

import asyncio
import json
from email import message_from_bytes
from email.policy import default

from starlette.testclient import TestClient
from tests.web.conftest import ARTHUR, PIERRE, deliver, simple

from arobase.app import App
from arobase.web import richtext

FETCH = {"X-Requested-With": "fetch"}


def only_message(app: App, address: str, mailbox: str = "INBOX") -> bytes:
    box = app.store.get_mailbox(app.accounts.get(address).id, mailbox)
    (message,) = app.store.list_messages(box.id)
    return app.store.read_blob(message.blob)


def test_rich_text_goes_out_as_alternative_with_a_plain_part_written_by_the_server(
    client: TestClient, mail_app: App, arthur: str
) -> None:
    html = (
        '<div>Hello <b>Pierre</b>, <i>see</i> <a href="https://example.org/plan" onclick="x()">the plan</a>'
        '<img src="https://tracker.test/p.gif"></div><ul><li>one</li><li>two</li></ul>'
        "<blockquote>earlier words</blockquote><script>alert(1)</script>"
    )
    response = client.post(
        "/compose",
        data={"csrf": arthur, "to": PIERRE[0], "subject": "Rich", "body": "ignored", "html": html, "action": "send"},
    )
    assert "Message sent." in response.text
    message = message_from_bytes(only_message(mail_app, PIERRE[0]), policy=default)
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    sent_html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Hello *Pierre*, /see/ the plan <https://example.org/plan>" in plain
    assert "- one\n- two" in plain and "> earlier words" in plain and "ignored" not in plain
    assert "<b>Pierre</b>" in sent_html and 'href="https://example.org/plan"' in sent_html
    for banned in ("onclick", "<img", "tracker.test", "<script", "alert"):
        assert banned not in sent_html


def test_plain_text_when_the_editor_sent_nothing(client: TestClient, mail_app: App, arthur: str) -> None:
    client.post("/compose", data={"csrf": arthur, "to": PIERRE[0], "subject": "Plain", "body": "just text", "html": ""})
    message = message_from_bytes(only_message(mail_app, PIERRE[0]), policy=default)
    assert message.get_content_type() == "text/plain" and message.get_content().strip() == "just text"


def test_plain_rendering_of_editor_html() -> None:
    html = richtext.clean(
        '<ol><li>first</li><li>second</li></ol><div><a href="mailto:a@b.test">a@b.test</a></div>'
        "<blockquote><blockquote>deep</blockquote></blockquote>"
    )
    assert richtext.to_plain(html) == "1. first\n2. second\n\na@b.test\n> > deep"  # a blank line ends a list


def test_signature_is_added_to_new_messages_replies_and_forwards(
    client: TestClient, mail_app: App, arthur: str
) -> None:
    assert "Signature" in client.get("/settings").text
    client.post("/settings", data={"csrf": arthur, "signature": "Arthur\r\nExample Corp"})
    assert "Example Corp" in client.get("/settings").text
    assert "\n\n-- \nArthur\nExample Corp</textarea>" in client.get("/compose").text
    uid = deliver(mail_app, ARTHUR[0], simple("Question", "How are you?"))
    box = mail_app.store.get_mailbox(mail_app.accounts.get(ARTHUR[0]).id, "INBOX")
    reply = client.get(f"/compose?mode=reply&ref={box.id}:{uid}").text
    assert reply.index("-- \nArthur") < reply.index("&gt; How are you?")
    assert "-- \nArthur" in client.get(f"/compose?mode=forward&ref={box.id}:{uid}").text
    # Pierre has none.
    other = TestClient(client.app)
    from tests.web.conftest import login

    login(other, *PIERRE)
    assert "-- \n" not in other.get("/compose").text


def test_automatic_draft_save_answers_json_and_replaces_the_previous_one(
    client: TestClient, mail_app: App, arthur: str
) -> None:
    first = client.post(
        "/compose",
        data={"csrf": arthur, "to": PIERRE[0], "subject": "Work in progress", "html": "<b>v1</b>", "action": "draft"},
        files=[("files", ("a.txt", b"aaa", "text/plain"))],
        headers=FETCH,
    )
    assert first.status_code == 200
    saved = first.json()
    assert saved["kept"] == [["2", "a.txt"]]
    second = client.post(
        "/compose",
        data={
            "csrf": arthur,
            "to": PIERRE[0],
            "subject": "Work in progress",
            "html": "<b>v2</b>",
            "action": "draft",
            "draft": saved["draft"],
            "keep": "2",
        },
        headers=FETCH,
    ).json()
    assert second["kept"] == [["2", "a.txt"]] and second["draft"] != saved["draft"]
    drafts = mail_app.store.get_mailbox(mail_app.accounts.get(ARTHUR[0]).id, "Drafts")
    (only,) = mail_app.store.list_messages(drafts.id)
    assert f"{drafts.id}:{only.uid}" == second["draft"]
    # Resuming it: the editor gets the rich text back, the plain fallback its text.
    page = client.get(f"/compose?mode=draft&ref={second['draft']}").text
    assert 'id="draft-html" value="&lt;b&gt;v2&lt;/b&gt;"' in page and ">*v2*</textarea>" in page
    assert 'name="html" value=""' in page  # without JS, the textarea is what gets sent
    assert "a.txt" in page


def test_automatic_draft_save_refused_without_csrf(client: TestClient, arthur: str) -> None:
    refused = client.post("/compose", data={"subject": "x", "action": "draft"}, headers=FETCH)
    assert refused.status_code == 403


def test_autocomplete_from_contacts_people_written_to_and_recent_senders(
    client: TestClient, mail_app: App, arthur: str
) -> None:
    deliver(mail_app, ARTHUR[0], simple("Hi", sender="Zoe Recent <zoe.recent@elsewhere.test>"))
    client.post("/compose", data={"csrf": arthur, "to": "zoe.written@elsewhere.test", "subject": "x", "body": "y"})
    client.post("/contacts/save", data={"csrf": arthur, "name": "Zoé Card", "email": "zoe.card@elsewhere.test"})
    assert client.get("/contacts/complete?q=zoe").json() == [
        '"Zoé Card" <zoe.card@elsewhere.test>',
        "zoe.written@elsewhere.test",
        '"Zoe Recent" <zoe.recent@elsewhere.test>',
    ]


def test_attachment_limit_is_shown(client: TestClient, mail_app: App, arthur: str) -> None:
    page = client.get("/compose").text
    limit = mail_app.config.web.max_upload
    assert f'data-max="{limit}"' in page and "at most in all" in page


def test_live_stream_sends_new_messages_of_the_open_folder_as_rows(
    client: TestClient, mail_app: App, arthur: str
) -> None:
    deliver(mail_app, ARTHUR[0], simple("Already shown"))
    page = client.get("/mail/INBOX").text
    box = mail_app.store.get_mailbox(mail_app.accounts.get(ARTHUR[0]).id, "INBOX")
    assert f'data-live-box="{box.id}" data-after="1"' in page
    deliver(mail_app, ARTHUR[0], simple("Fresh <news>", sender="Zoe <zoe@elsewhere.test>"))
    with client.stream("GET", f"/events?box={box.id}&after=1") as stream:
        first = next(stream.iter_text())
    assert "event: counts" in first and "event: rows" in first
    data = json.loads(first.split("event: rows\ndata: ", 1)[1].split("\n", 1)[0])
    assert data["count"] == 1 and data["after"] == 2
    assert (
        "Fresh &lt;news&gt;" in data["html"] and f'value="{box.id}:2"' in data["html"] and "Already" not in data["html"]
    )


def test_live_stream_leaves_no_waiting_task_behind_when_the_browser_goes(client: TestClient, arthur: str) -> None:
    async def waiting_tasks() -> list[asyncio.Task[object]]:
        await asyncio.sleep(0.1)  # the stream's cancellation runs its course
        return [t for t in asyncio.all_tasks() if "Event.wait" in repr(t) and not t.done()]

    with client.stream("GET", "/events") as stream:
        next(stream.iter_text())
        assert client.portal is not None
        assert len(client.portal.call(waiting_tasks)) == 2  # the stream waits for a change or for closing
    assert client.portal.call(waiting_tasks) == []


def test_live_stream_refuses_another_accounts_folder(client: TestClient, mail_app: App, arthur: str) -> None:
    pierre_inbox = mail_app.store.get_mailbox(mail_app.accounts.get(PIERRE[0]).id, "INBOX")
    assert client.get(f"/events?box={pierre_inbox.id}&after=0").status_code == 404


def test_sending_runs_the_submission_protection(client: TestClient, mail_app: App, arthur: str) -> None:
    """A dangerous attachment is refused as SMTP submission would refuse it; the draft is kept."""
    mail_app.filters.submission_attachments = "reject"
    response = client.post(
        "/compose",
        data={"csrf": arthur, "to": PIERRE[0], "subject": "Tool", "body": "run this", "action": "send"},
        files=[("files", ("setup.exe", b"MZ\x90\x00" + b"\x00" * 200, "application/octet-stream"))],
    )
    assert response.status_code == 400 and "setup.exe" in response.text
    pierre_inbox = mail_app.store.get_mailbox(mail_app.accounts.get(PIERRE[0]).id, "INBOX")
    assert not mail_app.store.list_messages(pierre_inbox.id)
    drafts = mail_app.store.get_mailbox(mail_app.accounts.get(ARTHUR[0]).id, "Drafts")
    assert len(mail_app.store.list_messages(drafts.id)) == 1
