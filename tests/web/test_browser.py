"""End to end in Debian's Chromium driven by Playwright: the real uvicorn listener, the real store.

Covers signing in, reading a multipart message (inline image, attachment), composing to another
local account with an attachment, creating a folder, moving a message, searching, and a hostile
HTML message that must run nothing, navigate nowhere and fetch nothing from the server it points
at. Also writes the screenshots in docs/screenshots/ (desktop and phone sizes).
"""

from __future__ import annotations

import asyncio
import http.server
import shutil
import struct
import threading
import zlib
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP, default
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from tests.web.conftest import ARTHUR, PIERRE, deliver, rich, simple

from arobase.app import App
from arobase.mime import parse_message
from arobase.web.server import WebListener, start_web

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TIMEOUT_MS = 10_000

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian's chromium (make debian)")


class Sink(http.server.BaseHTTPRequestHandler):
    """The server a hostile message points at: it must never be asked for anything."""

    hits: list[str] = []  # noqa: RUF012

    def do_GET(self) -> None:
        Sink.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def sink() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    Sink.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def live(mail_app: App) -> Iterator[str]:
    """The webmail on a free loopback port, served by uvicorn on a loop in a background thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    listener: WebListener = asyncio.run_coroutine_threadsafe(
        start_web(mail_app, "127.0.0.1", 0, secure=False), loop
    ).result(15)
    port = listener.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(listener.close)
    asyncio.run_coroutine_threadsafe(listener.wait_closed(), loop).result(15)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS, timeout=30_000)
        yield browser
        browser.close()


def sign_in(page: Page, base: str, address: str, password: str) -> None:
    page.goto(base + "/login")
    page.fill("#address", address)
    page.fill("#password", password)
    page.click("button[type=submit].primary")
    try:
        page.wait_for_url(base + "/mail/INBOX", timeout=TIMEOUT_MS)
    except Exception:
        print(page.url, page.content()[:3000])
        raise


def test_read_compose_folders_search(browser: Browser, live: str, mail_app: App) -> None:
    deliver(mail_app, ARTHUR[0], simple("Weekly report", "All good this week."))
    uid = deliver(mail_app, ARTHUR[0], rich())
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(live + "/login")
    page.screenshot(path=str(SHOTS / "login-desktop.png"))
    sign_in(page, live, ARTHUR[0].upper(), ARTHUR[1])
    assert page.title().startswith("(2) ")
    page.screenshot(path=str(SHOTS / "inbox-desktop.png"))

    # Reading: the HTML part in the frame with its inline image, the attachment listed.
    page.click("text=Holiday pictures")
    page.wait_for_selector("iframe.body")
    frame = page.frame_locator("iframe.body")
    frame.locator("text=picture").first.wait_for()
    width = frame.locator("img").evaluate("img => img.complete ? img.naturalWidth : -1")
    assert width == 1
    assert page.locator(".attachments a", has_text="report.pdf").count() == 1
    page.screenshot(path=str(SHOTS / "message-desktop.png"))

    # Composing to Pierre with an attachment.
    page.goto(live + "/compose")
    page.fill("#to", PIERRE[0])
    page.fill("#subject", "Browser hello")
    page.click("#editor")
    page.keyboard.type("Sent from ")
    page.click("button[data-command=bold]")
    page.keyboard.type("Chromium")
    page.click("button[data-command=bold]")
    page.keyboard.type(".")
    page.set_input_files("#files", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"some notes"}])
    page.screenshot(path=str(SHOTS / "compose-desktop.png"))
    page.click("button[value=send]")
    page.wait_for_selector("text=Message sent.")
    pierre_inbox = mail_app.store.get_mailbox(mail_app.accounts.get(PIERRE[0]).id, "INBOX")
    (got,) = mail_app.store.list_messages(pierre_inbox.id)
    parsed = parse_message(mail_app.store.read_blob(got.blob))
    assert parsed.subject == "Browser hello" and parsed.attachment_names == ["notes.txt"]
    sent = message_from_bytes(mail_app.store.read_blob(got.blob), policy=default)
    assert "<b>Chromium</b>" in sent.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Sent from *Chromium*." in sent.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    # A new folder, then move the report into it.
    page.goto(live + "/folders")
    page.fill("#newname", "Reports")
    page.click("form[action='/folders/create'] button")
    page.wait_for_url(live + "/mail/Reports")
    page.goto(live + "/mail/INBOX")
    page.locator("tr", has_text="Weekly report").locator("input[type=checkbox]").check()
    reports = mail_app.store.get_mailbox(mail_app.accounts.get(ARTHUR[0]).id, "Reports")
    page.select_option("#target", str(reports.id))
    page.click("button[value=move]")
    page.wait_for_selector("text=Moved to Reports.")
    assert len(mail_app.store.list_messages(reports.id)) == 1

    # Search everywhere finds the moved message, with its folder.
    page.fill("#q", "good this week")
    page.press("#q", "Enter")
    page.wait_for_selector(".messages >> text=Weekly report")
    assert page.locator(".messages .tag", has_text="Reports").count() == 1
    page.screenshot(path=str(SHOTS / "search-desktop.png"))

    # Phone size: the same screens, folder list behind the menu button.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone.add_cookies(context.cookies())
    small = phone.new_page()
    small.goto(live + "/mail/INBOX")
    small.screenshot(path=str(SHOTS / "inbox-phone.png"))
    box = mail_app.store.get_mailbox(mail_app.accounts.get(ARTHUR[0]).id, "INBOX")
    small.goto(f"{live}/msg/{box.id}/{uid}")
    small.screenshot(path=str(SHOTS / "message-phone.png"))
    small.goto(live + "/mail/INBOX")
    small.click("button.menu")
    small.wait_for_timeout(300)
    small.screenshot(path=str(SHOTS / "folders-phone.png"))
    phone.close()
    context.close()


def test_hostile_html_runs_nothing(browser: Browser, live: str, mail_app: App, sink: int) -> None:
    target = f"http://127.0.0.1:{sink}"
    html = f"""<html><head><meta http-equiv="refresh" content="0;url={target}/refresh">
<link rel="stylesheet" href="{target}/link.css"><style>body{{background:url({target}/style)}}</style></head><body>
<script>alert('script')</script><img src="x" onerror="alert('onerror')">
<a id="js" href="javascript:alert('link')">js</a>
<svg onload="alert('svg')"><script>alert('svg-script')</script><image href="{target}/svg-image"/></svg>
<div style="width:expression(alert('css'));background-image:url({target}/bg)">css</div>
<form action="{target}/form" method="post"><input name="p" value="x"><button id="go">go</button></form>
<iframe src="{target}/iframe"></iframe><object data="{target}/object"></object><embed src="{target}/embed">
<img src="{target}/remote.png"><video poster="{target}/poster"></video>
<body onload="alert('body')"><p>Hostile text</p></body></html>"""
    raw = (
        "From: evil@elsewhere.test\r\nTo: arthur.dupont@example.test\r\nSubject: Hostile\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n" + html.replace("\n", "\r\n")
    ).encode()
    uid = deliver(mail_app, ARTHUR[0], raw)
    box = mail_app.store.get_mailbox(mail_app.accounts.get(ARTHUR[0]).id, "INBOX")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    sign_in(page, live, ARTHUR[0], ARTHUR[1])
    url = f"{live}/msg/{box.id}/{uid}"
    page.goto(url)
    frame = page.frame_locator("iframe.body")
    frame.locator("text=Hostile text").wait_for()
    frame.locator("text=js").click()
    page.wait_for_timeout(1500)
    assert dialogs == []
    assert page.url == url
    assert Sink.hits == []
    assert not [r for r in requests if str(sink) in r]
    # Even with remote images allowed, only the image is fetched: nothing runs, nothing else loads.
    page.click("text=Show images")
    frame.locator("text=Hostile text").wait_for()
    page.wait_for_timeout(1000)
    assert dialogs == []
    assert set(Sink.hits) <= {"/remote.png"}
    context.close()


def test_drafts_save_themselves_and_resume(browser: Browser, live: str, mail_app: App) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    sign_in(page, live, ARTHUR[0], ARTHUR[1])
    page.goto(live + "/compose")
    assert "at most in all" in page.inner_text("#files-limit")
    page.fill("#to", PIERRE[0])
    page.fill("#subject", "Unfinished")
    page.click("#editor")
    page.click("button[data-command=insertUnorderedList]")
    page.keyboard.type("first point")
    page.wait_for_selector("text=Draft saved at", timeout=15_000)
    drafts = mail_app.store.get_mailbox(mail_app.accounts.get(ARTHUR[0]).id, "Drafts")
    (draft,) = mail_app.store.list_messages(drafts.id)
    saved = message_from_bytes(mail_app.store.read_blob(draft.blob), policy=default)
    assert "<li>first point</li>" in saved.get_body(("html",)).get_content()  # type: ignore[union-attr]
    # Leaving and coming back through Drafts: the list is still a list in the editor.
    page.goto(f"{live}/compose?mode=draft&ref={drafts.id}:{draft.uid}")
    assert page.locator("#editor li", has_text="first point").count() == 1
    page.click("button[value=send]")
    page.wait_for_selector("text=Message sent.")
    assert not mail_app.store.list_messages(drafts.id)
    context.close()


def test_new_mail_appears_in_the_open_list(browser: Browser, live: str, mail_app: App) -> None:
    deliver(mail_app, ARTHUR[0], simple("Older news"))
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    sign_in(page, live, ARTHUR[0], ARTHUR[1])
    page.wait_for_function("document.title.startsWith('(1) ')")  # the stream is open
    deliver(mail_app, ARTHUR[0], simple("Breaking news"))
    page.wait_for_selector(".messages tbody tr.arrived >> text=Breaking news")
    assert page.locator(".messages tbody tr").first.inner_text().count("Breaking news") == 1
    assert page.locator(".messages tbody tr").count() == 2
    page.wait_for_function("document.title.startsWith('(2) ')")
    context.close()


def test_junk_reasons_and_not_spam(browser: Browser, live: str, mail_app: App) -> None:
    from datetime import UTC, datetime

    from arobase.store import FilterVerdict

    account = mail_app.accounts.get(ARTHUR[0])
    blob = mail_app.store.put_message(simple("You won a prize", "Claim your prize now", sender="win@prize.test"))
    junk, uid = mail_app.store.append(account.id, "Junk", blob).wait()
    reasons = (
        ("BAYES_99", 5.5, "Reads like the spam this account received before"),
        ("SPF_FAIL", 2.0, "The sending server is not allowed to send for prize.test"),
        ("KNOWN_SENDER", 0.0, ""),
    )
    verdict = FilterVerdict(account.id, blob.hash, "junk", 7.5, reasons, datetime.now(UTC))
    mail_app.store.record_verdicts([verdict]).wait()
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    sign_in(page, live, ARTHUR[0], ARTHUR[1])
    page.goto(f"{live}/msg/{junk.id}/{uid}")
    banner = page.locator("details.banner.junk")
    assert banner.locator("li").count() == 2 and "7.5 points" in banner.inner_text()
    page.screenshot(path=str(SHOTS / "junk-desktop.png"))
    banner.locator("button[value=ham]").click()
    page.wait_for_selector("text=Marked as not spam and moved to Inbox.")
    inbox = mail_app.store.get_mailbox(account.id, "INBOX")
    assert [m.blob for m in mail_app.store.list_messages(inbox.id)] == [blob.hash]
    context.close()


def test_writing_without_javascript_sends_plain_text(browser: Browser, live: str, mail_app: App) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    sign_in(page, live, ARTHUR[0], ARTHUR[1])
    page.goto(live + "/compose")
    assert page.locator(".toolbar").is_hidden() and page.locator("#editor").count() == 0
    page.fill("#to", PIERRE[0])
    page.fill("#subject", "No script")
    page.fill("#body", "Typed in the plain box.")
    page.click("button[value=send]")
    page.wait_for_selector("text=Message sent.")
    inbox = mail_app.store.get_mailbox(mail_app.accounts.get(PIERRE[0]).id, "INBOX")
    (got,) = mail_app.store.list_messages(inbox.id)
    sent = message_from_bytes(mail_app.store.read_blob(got.blob), policy=default)
    assert sent.get_content_type() == "text/plain" and sent.get_content().strip() == "Typed in the plain box."
    context.close()


def test_shift_click_range_then_drag_onto_a_folder(browser: Browser, live: str, mail_app: App) -> None:
    for n in range(5):
        deliver(mail_app, ARTHUR[0], simple(f"Batch {n}"))
    account = mail_app.accounts.get(ARTHUR[0])
    archive = mail_app.store.get_mailbox(account.id, "Archive")
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    sign_in(page, live, ARTHUR[0], ARTHUR[1])
    boxes = page.locator(".messages tbody input[name=m]")
    boxes.nth(1).click()
    boxes.nth(3).click(modifiers=["Shift"])
    assert [boxes.nth(i).is_checked() for i in range(5)] == [False, True, True, True, False]
    page.locator(".messages tbody tr").nth(2).drag_to(page.locator(f".folders a[data-box='{archive.id}']"))
    page.wait_for_selector("text=Moved to Archive.")
    assert sorted(m.uid for m in mail_app.store.list_messages(archive.id)) == [1, 2, 3]
    assert page.locator(".messages tbody tr").count() == 2
    context.close()


def test_files_dropped_on_compose_are_sent_with_progress(browser: Browser, live: str, mail_app: App) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    sign_in(page, live, ARTHUR[0], ARTHUR[1])
    page.goto(live + "/compose")
    page.fill("#to", PIERRE[0])
    page.fill("#subject", "Dropped")
    page.set_input_files("#files", files=[{"name": "picked.txt", "mimeType": "text/plain", "buffer": b"picked"}])
    # What a file dragged from the desktop delivers: a drop event whose DataTransfer holds files.
    page.evaluate(
        """() => {
        const dt = new DataTransfer();
        dt.items.add(new File(["x".repeat(300000)], "dropped.txt", { type: "text/plain" }));
        const form = document.querySelector("form[data-compose]");
        form.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
        form.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    }"""
    )
    assert page.locator("ul.chosen li").all_inner_texts() == ["picked.txt (1 KiB)", "dropped.txt (293 KiB)"]
    held = []
    page.route("**/compose", lambda route: held.append(route) if route.request.method == "POST" else route.continue_())
    page.click("button[value=send]")
    page.wait_for_selector("progress.upload:visible")
    while not held:
        page.wait_for_timeout(50)
    assert held[0].request.headers.get("x-requested-with") == "fetch"
    # Refused (as when the session has ended): the form stays with what was written, and says so.
    held[0].fulfill(status=401, content_type="application/json", body='{"error": "login required"}')
    page.wait_for_selector("text=login required")
    assert page.input_value("#subject") == "Dropped" and page.locator("progress.upload").is_hidden()
    held.clear()
    page.click("button[value=send]")
    while not held:
        page.wait_for_timeout(50)
    held[0].continue_()
    page.wait_for_selector("text=Message sent.")
    inbox = mail_app.store.get_mailbox(mail_app.accounts.get(PIERRE[0]).id, "INBOX")
    (got,) = mail_app.store.list_messages(inbox.id)
    assert parse_message(mail_app.store.read_blob(got.blob)).attachment_names == ["picked.txt", "dropped.txt"]
    context.close()


# A one-page PDF that Chromium's viewer can draw, for the previews test and its screenshot.
HELLO_PDF = b"""%PDF-1.1
1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj
2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj
3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 144]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>endobj
4 0 obj<</Length 44>>stream
BT /F1 24 Tf 30 60 Td (Hello PDF) Tj ET
endstream endobj
5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj
trailer<</Root 1 0 R>>
%%EOF"""


def _png(width: int, height: int) -> bytes:
    """A plain blue picture, big enough to be seen in a screenshot."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x1a\x56\xdb" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_previews_and_images_always_for_a_sender(browser: Browser, live: str, mail_app: App, sink: int) -> None:
    msg = EmailMessage(policy=SMTP)
    msg["From"], msg["To"], msg["Subject"] = "alice@elsewhere.test", ARTHUR[0], "Files and pictures"
    msg.set_content(f"<p>Hello</p><img alt='remote' src='http://127.0.0.1:{sink}/pixel.png'>", subtype="html")
    msg.add_attachment(_png(160, 90), maintype="image", subtype="png", filename="dot.png")
    msg.add_attachment(HELLO_PDF, maintype="application", subtype="pdf", filename="report.pdf")
    uid = deliver(mail_app, ARTHUR[0], msg.as_bytes())
    box = mail_app.store.get_mailbox(mail_app.accounts.get(ARTHUR[0]).id, "INBOX")
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    sign_in(page, live, ARTHUR[0], ARTHUR[1])
    page.goto(f"{live}/msg/{box.id}/{uid}")
    page.locator("details.preview summary", has_text="dot.png").click()
    image = page.locator("details.preview img[alt='dot.png']")
    image.wait_for()
    page.wait_for_function('() => document.querySelector("details.preview img").complete')
    assert image.evaluate("img => img.naturalWidth") == 160
    page.locator("details.preview summary", has_text="report.pdf").click()
    assert page.locator("details.preview iframe.pdf").is_visible()
    # Shown by Chromium's PDF viewer, which lives in its own extension origin; the framed document
    # of ours holds nothing but the viewer's embed, and no script of the PDF may run in it.
    for _ in range(40):
        if any(f.url.startswith("chrome-extension://") for f in page.frames):
            break
        page.wait_for_timeout(50)
    assert any(f.url.startswith("chrome-extension://") for f in page.frames)
    framed = next(f for f in page.frames if f.url.endswith(f"/{uid}/part/3/view"))
    assert framed.evaluate("document.scripts.length") == 0
    page.locator(".attachments").scroll_into_view_if_needed()
    page.wait_for_timeout(1500)  # the viewer draws the page a moment after it appears
    page.screenshot(path=str(SHOTS / "previews-desktop.png"))
    assert Sink.hits == []
    page.click("text=Always for this sender")
    page.wait_for_selector("text=Images from alice@elsewhere.test will always be shown.")
    page.frame_locator("iframe.body").locator("text=Hello").wait_for()
    page.wait_for_timeout(300)
    assert Sink.hits == ["/pixel.png"]
    page.click("text=Change")
    page.locator("li", has_text="alice@elsewhere.test").locator("button").click()
    page.wait_for_selector("text=Settings saved.")
    assert page.locator(".image-senders li").count() == 0
    context.close()


def test_shortcuts_help_opens_traps_focus_and_gives_it_back(browser: Browser, live: str, mail_app: App) -> None:
    deliver(mail_app, ARTHUR[0], simple("Something"))
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    sign_in(page, live, ARTHUR[0], ARTHUR[1])
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.className") == "open"
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    assert dialog.is_visible() and "Next message in the list" in dialog.inner_text()
    page.screenshot(path=str(SHOTS / "shortcuts-desktop.png"))
    for key in ("Tab", "Tab", "Shift+Tab"):
        page.keyboard.press(key)
        assert page.evaluate("document.activeElement.closest('dialog') !== null")
    page.keyboard.press("Escape")
    assert not dialog.is_visible()
    assert page.evaluate("document.activeElement.className") == "open"
    page.get_by_role("button", name="Keyboard shortcuts").click()
    assert dialog.is_visible()
    page.get_by_role("button", name="Close").click()
    assert not dialog.is_visible()
    assert page.evaluate("document.activeElement.classList.contains('help-open')")
    context.close()


# Accessibility: computed by Chromium itself (names from its accessibility tree), focus styles seen
# while tabbing, and WCAG AA contrast of the text actually shown.
NAMED_ROLES = {
    "button",
    "textbox",
    "searchbox",
    "checkbox",
    "combobox",
    "link",
    "radio",
    "listbox",
    "spinbutton",
    "img",
    "dialog",
}
FOCUS_STYLE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el.tagName === "IFRAME") return null;
  const s = getComputedStyle(el);
  const outlined = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0;
  return { what: el.outerHTML.slice(0, 120), visible: outlined || s.boxShadow !== "none", tabindex: el.tabIndex };
}"""
CONTRAST = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const bad = [];
  for (const el of document.querySelectorAll("body *")) {
    if (!Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    if (r.width <= 1 || r.height <= 1 || s.visibility === "hidden") continue;
    if (el.closest("[hidden], dialog:not([open])")) continue;
    let alpha = 1;
    for (let e = el; e; e = e.parentElement) alpha *= parseFloat(getComputedStyle(e).opacity);
    const bg = background(el), fg = rgb(s.color).slice(0, 3).map((v, i) => alpha * v + (1 - alpha) * bg[i]);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const large = parseFloat(s.fontSize) >= 24 || (parseFloat(s.fontSize) >= 18.66 && parseInt(s.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      bad.push(`${el.tagName}.${el.className} ${ratio.toFixed(2)} ${el.textContent.trim().slice(0, 30)}`);
    }
  }
  return bad;
}"""


FOCUS_RULES = """() => {
  const bad = [];
  for (const sheet of document.styleSheets) {
    for (const rule of sheet.cssRules) {
      if (!rule.selectorText || !/:focus/.test(rule.selectorText)) continue;
      const s = rule.style;
      const removed = s.outlineStyle === "none" || s.outlineWidth === "0px" || s.outline === "0px";
      if (removed && !s.boxShadow && !s.borderColor) bad.push(rule.cssText);
    }
  }
  return bad;
}"""


def _unnamed(page: Page) -> list[str]:
    session = page.context.new_cdp_session(page)
    nodes = session.send("Accessibility.getFullAXTree")["nodes"]
    session.detach()
    missing = []
    for node in nodes:
        role = node.get("role", {}).get("value")
        if node.get("ignored") or role not in NAMED_ROLES:
            continue
        if not str(node.get("name", {}).get("value", "")).strip():
            missing.append(f"{role} {node.get('backendDOMNodeId')}")
    return missing


def _check_page(page: Page, url: str) -> list[str]:
    page.goto(url)
    problems = [f"{url}: no accessible name: {m}" for m in _unnamed(page)]
    problems += [f"{url}: contrast {c}" for c in page.evaluate(CONTRAST)]
    problems += [f"{url}: focus outline removed with nothing instead: {r}" for r in page.evaluate(FOCUS_RULES)]
    positive = page.evaluate("Array.from(document.querySelectorAll('[tabindex]')).filter(e => e.tabIndex > 0).length")
    if positive:
        problems.append(f"{url}: {positive} elements with a positive tabindex (tab order out of reading order)")
    page.locator("body").focus()
    seen = set()
    for _ in range(60):
        page.keyboard.press("Tab")
        state = page.evaluate(FOCUS_STYLE)
        if state is None:
            continue
        if state["what"] in seen:
            break
        if not seen and "/login" not in url and 'class="skip"' not in state["what"]:
            problems.append(f"{url}: the first tab stop is not the skip link but {state['what']}")
        seen.add(state["what"])
        if not state["visible"]:
            problems.append(f"{url}: no visible focus on {state['what']}")
    return problems


def test_accessibility_names_focus_order_and_contrast(browser: Browser, live: str, mail_app: App) -> None:
    deliver(mail_app, ARTHUR[0], simple("Weekly report", "All good this week."))
    uid = deliver(mail_app, ARTHUR[0], rich())
    box = mail_app.store.get_mailbox(mail_app.accounts.get(ARTHUR[0]).id, "INBOX")
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems = _check_page(page, live + "/login")
    sign_in(page, live, ARTHUR[0], ARTHUR[1])
    for path in (
        "/mail/INBOX",
        f"/msg/{box.id}/{uid}",
        "/compose",
        "/search?q=report",
        "/folders",
        "/contacts",
        "/settings",
    ):
        problems += _check_page(page, live + path)
    page.set_viewport_size({"width": 390, "height": 844})
    problems += _check_page(page, live + "/mail/INBOX")
    page.keyboard.press("?")
    problems += [f"help: contrast {c}" for c in page.evaluate(CONTRAST)]
    problems += [f"help: no accessible name: {m}" for m in _unnamed(page)]
    assert problems == []
    context.close()
