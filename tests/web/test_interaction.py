"""Route tests for the list, compose and reading additions: drag-and-drop moves, forwarding
inline or as an attachment, attachment previews, remote images per sender, the shortcuts help."""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.policy import SMTP

from starlette.testclient import TestClient
from tests.web.conftest import ARTHUR, PIERRE, PNG, deliver, login, rich, simple

from arobase.app import App
from arobase.mime import parse_message


def _inbox(app: App) -> int:
    box = app.store.get_mailbox(app.accounts.get(ARTHUR[0]).id, "INBOX")
    assert box is not None
    return box.id


def test_rows_are_draggable_and_a_fetched_move_answers_no_content(
    client: TestClient, mail_app: App, arthur: str
) -> None:
    a = deliver(mail_app, ARTHUR[0], simple("First"))
    b = deliver(mail_app, ARTHUR[0], simple("Second"))
    box = _inbox(mail_app)
    listing = client.get("/mail/INBOX").text
    assert listing.count('<tr draggable="true"') == 2 and 'data-box="' in listing
    archive = mail_app.store.get_mailbox(mail_app.accounts.get(ARTHUR[0]).id, "Archive")
    assert archive is not None
    headers = {"X-Requested-With": "fetch", "X-CSRF-Token": arthur}
    moved = client.post(
        "/actions",
        data={"action": "move", "target": str(archive.id), "m": [f"{box}:{a}", f"{box}:{b}"]},
        headers=headers,
    )
    assert moved.status_code == 204
    assert not mail_app.store.list_messages(box) and len(mail_app.store.list_messages(archive.id)) == 2
    assert "Moved to" in client.get("/mail/INBOX").text
    refused = client.post("/actions", data={"action": "move", "target": str(box), "m": f"{archive.id}:1"})
    assert refused.status_code == 403


def test_forward_inline_carries_the_attachments_and_as_attachment_the_whole_message(
    client: TestClient, mail_app: App, arthur: str
) -> None:
    uid = deliver(mail_app, ARTHUR[0], rich())
    box = _inbox(mail_app)
    page = client.get(f"/msg/{box}/{uid}").text
    assert f"mode=inline&amp;ref={box}:{uid}" in page and f"mode=forward&amp;ref={box}:{uid}" in page
    inline = client.get(f"/compose?mode=inline&ref={box}:{uid}").text
    assert "Forwarded message" in inline and "Look at this picture" in inline
    assert f'name="carried" value="{box}:{uid}"' in inline and "report.pdf" in inline
    keep = re.search(r'name="keep" value="([0-9.]+)"', inline).group(1)  # type: ignore[union-attr]
    form = {"csrf": arthur, "to": PIERRE[0], "subject": "Fwd: Holiday pictures", "action": "send"}
    sent = client.post("/compose", data={**form, "body": "See below.", "carried": f"{box}:{uid}", "keep": keep})
    assert "Message sent." in sent.text
    attached = client.get(f"/compose?mode=forward&ref={box}:{uid}").text
    assert "Forwarded message" not in attached and "Forwarded as an attachment" in attached
    client.post("/compose", data={**form, "subject": "As file", "body": "Attached.", "forward": f"{box}:{uid}"})
    pierre = mail_app.store.get_mailbox(mail_app.accounts.get(PIERRE[0]).id, "INBOX")
    first, second = (parse_message(mail_app.store.read_blob(m.blob)) for m in mail_app.store.list_messages(pierre.id))
    assert first.attachment_names == ["report.pdf"]
    assert second.attachment_names == ["Holiday pictures.eml"]


def test_a_fetched_send_answers_where_to_go(client: TestClient, mail_app: App, arthur: str) -> None:
    headers = {"X-Requested-With": "fetch"}
    form = {"csrf": arthur, "subject": "Progress", "body": "Files.", "action": "send"}
    files = [("files", ("a.txt", b"aaa", "text/plain"))]
    sent = client.post("/compose", data={**form, "to": PIERRE[0]}, files=files, headers=headers)
    assert sent.status_code == 200 and sent.json() == {"location": "/mail/INBOX"}
    assert "Message sent." in client.get("/mail/INBOX").text
    failed = client.post("/compose", data={**form, "to": "nobody@example.test"}, files=files, headers=headers)
    assert failed.status_code == 400 and failed.json()["location"].startswith("/compose?mode=draft&ref=")
    again = client.get(failed.json()["location"]).text
    assert "was not sent" in again and "a.txt" in again


def test_image_and_pdf_previews_are_inline_and_inert(client: TestClient, mail_app: App, arthur: str) -> None:
    msg = EmailMessage(policy=SMTP)
    msg["From"], msg["To"], msg["Subject"] = "alice@elsewhere.test", ARTHUR[0], "Files"
    msg.set_content("Two files and a drawing.")
    msg.add_attachment(PNG, maintype="image", subtype="png", filename="dot.png")
    msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="report.pdf")
    msg.add_attachment(b"<svg onload='alert(1)'/>", maintype="image", subtype="svg+xml", filename="x.svg")
    uid = deliver(mail_app, ARTHUR[0], msg.as_bytes())
    box = _inbox(mail_app)
    page = client.get(f"/msg/{box}/{uid}").text
    numbers = dict(re.findall(r'/part/([0-9.]+)" download>([^<]+)</a>', page))
    png, pdf, svg = (n for n, name in numbers.items() if name in ("dot.png", "report.pdf", "x.svg"))
    assert f'<img src="/msg/{box}/{uid}/part/{png}/view" alt="dot.png"' in page
    assert re.search(rf'<iframe class="pdf" title="report.pdf" src="/msg/{box}/{uid}/part/{pdf}/view"', page)
    assert f"/part/{svg}/view" not in page
    image = client.get(f"/msg/{box}/{uid}/part/{png}/view")
    assert image.content == PNG and image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"].startswith("inline;")
    assert image.headers["x-content-type-options"] == "nosniff"
    document = client.get(f"/msg/{box}/{uid}/part/{pdf}/view")
    assert document.headers["content-type"] == "application/pdf"
    csp = document.headers["content-security-policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp and "script-src" not in csp
    assert document.headers["x-frame-options"] == "SAMEORIGIN"
    assert client.get(f"/msg/{box}/{uid}/part/{svg}/view").status_code == 404


def test_remote_images_always_for_a_sender_and_undone_in_settings(
    client: TestClient, mail_app: App, arthur: str
) -> None:
    html = '<p>News</p><img src="https://tracker.example/pixel.png">'
    raw = (
        "From: News <News@Letters.test>\r\nTo: arthur.dupont@example.test\r\nSubject: Letter\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n" + html
    ).encode()
    first = deliver(mail_app, ARTHUR[0], raw)
    box = _inbox(mail_app)
    assert "Always for this sender" in client.get(f"/msg/{box}/{first}").text
    assert "tracker.example" not in client.get(f"/msg/{box}/{first}/frame").text
    allowed = client.post("/images/allow", data={"csrf": arthur, "m": f"{box}:{first}"})
    assert "Images from news@letters.test will always be shown." in allowed.text
    second = deliver(mail_app, ARTHUR[0], raw)
    page = client.get(f"/msg/{box}/{second}").text
    assert "Always for this sender" not in page and f"/msg/{box}/{second}/frame?images=1" in page
    assert "https://tracker.example/pixel.png" in client.get(f"/msg/{box}/{second}/frame").text
    settings = client.get("/settings").text
    assert "news@letters.test" in settings
    client.post("/settings/images/forget", data={"csrf": arthur, "sender": "news@letters.test"})
    assert "news@letters.test" not in client.get("/settings").text
    assert "tracker.example" not in client.get(f"/msg/{box}/{second}/frame").text
    # Another account's choices are its own.
    other = TestClient(client.app)
    login(other, *PIERRE)
    assert "news@letters.test" not in other.get("/settings").text


def test_shortcuts_help_is_on_every_page_and_translated(client: TestClient, arthur: str) -> None:
    page = client.get("/mail/INBOX").text
    assert '<dialog id="shortcuts"' in page and "<kbd>?</kbd>" in page and "Next message in the list" in page
    client.post("/lang", data={"csrf": arthur, "lang": "fr", "next": "/mail/INBOX"})
    french = client.get("/compose").text
    assert "Raccourcis clavier" in french and "Message suivant de la liste" in french and "Fermer" in french


def test_a_forged_sender_does_not_get_the_images_shown(client: TestClient, mail_app: App, arthur: str) -> None:
    host = mail_app.config.server.hostname
    html = '<p>News</p><img src="https://tracker.example/pixel.png">'
    raw = (
        "From: news@letters.test\r\nTo: arthur.dupont@example.test\r\nSubject: Letter\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n" + html
    ).encode()
    forged = f"Authentication-Results: {host}; dmarc=fail header.from=letters.test\r\n".encode() + raw
    uid = deliver(mail_app, ARTHUR[0], raw)
    fake = deliver(mail_app, ARTHUR[0], forged)
    box = _inbox(mail_app)
    client.post("/images/allow", data={"csrf": arthur, "m": f"{box}:{uid}"})
    assert "tracker.example" in client.get(f"/msg/{box}/{uid}/frame").text
    assert "tracker.example" not in client.get(f"/msg/{box}/{fake}/frame").text
    assert "Remote images are hidden" in client.get(f"/msg/{box}/{fake}").text
