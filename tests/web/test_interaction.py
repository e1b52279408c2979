"""Route tests for the list, compose and reading additions: drag-and-drop moves, forwarding
inline or as an attachment, attachment previews, remote images per sender, the shortcuts help."""

from __future__ import annotations

from starlette.testclient import TestClient
from tests.web.conftest import ARTHUR, deliver, simple

from arobase.app import App


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
