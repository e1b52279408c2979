"""The pipeline on its own: signals, verdicts, headers, lists, correspondents, blocklists, quarantine."""

from __future__ import annotations

import asyncio
import io
import zipfile

from tests.dnsserver import DNSServer

from arobase.app import App
from arobase.filters import Action, Outcome
from arobase.filters.verdict import strip_our_headers
from arobase.services.mailauth import AuthResults
from arobase.store import Account

from .conftest import ARTHUR, PIERRE, message, open_app

SPAMMY = "WIN MONEY NOW!!! Click here to claim your prize, cheap viagra, casino bonus, act now.\n"


def check(app: App, raw: bytes, *accounts: Account, auth: AuthResults | None = None, ip: str = "192.0.2.7") -> Outcome:
    return asyncio.run(
        app.filters.check_mx(
            raw,
            accounts=list(accounts),
            sender="pierre@friends.example",
            client_ip=ip,
            helo="mx.friends.example",
            auth=auth,
        )
    )


def names(outcome: Outcome, account: Account) -> set[str]:
    return {s.name for s in outcome.verdicts[account.id].signals}


def train(app: App, count: int = 12) -> None:
    from arobase.filters.content import extract
    from arobase.filters.tokens import counted, tokens
    from arobase.mime import parse_message

    for i in range(count):
        spam = message(SPAMMY + f" offer {i}", subject="WIN MONEY NOW", sender=f"Promo <promo{i}@casino.example>")
        ham = message(f"Hi Arthur, the meeting notes for project {i} are attached to the wiki. Cheers, Pierre\n")
        for raw, is_spam in ((spam, True), (ham, False)):
            tokens_ = tokens(extract(raw, parse_message(raw)))
            app.store.filter_learn(0, f"{i}-{is_spam}", counted(tokens_), is_spam).wait()


def test_clean_message_is_delivered_with_headers(app: App) -> None:
    arthur = app.accounts.get(ARTHUR)
    outcome = check(app, message(), arthur)
    assert not outcome.reject
    assert outcome.mailboxes == {arthur.id: "INBOX"}
    assert outcome.verdicts[arthur.id].action is Action.DELIVER
    assert b"X-Arobase-Spam: No, score=" in outcome.prepend
    assert b"X-Arobase-Verdict: deliver" in outcome.prepend


def test_foreign_arobase_headers_are_stripped() -> None:
    raw = b"X-Arobase-Spam: No\r\nX-Arobase-Reasons: A,\r\n\tB\r\nSubject: hi\r\n\r\nX-Arobase-Spam: body stays\r\n"
    assert strip_our_headers(raw) == b"Subject: hi\r\n\r\nX-Arobase-Spam: body stays\r\n"


def test_header_anomalies(app: App) -> None:
    arthur = app.accounts.get(ARTHUR)
    raw = message(date=False, message_id=False)
    outcome = asyncio.run(
        app.filters.check_mx(raw, accounts=[arthur], sender="", client_ip="192.0.2.7", helo="10.0.0.1", auth=None)
    )
    assert {"MISSING_DATE", "MISSING_MESSAGE_ID", "HELO_IP_MISMATCH"} <= names(outcome, arthur)
    future = message(headers={}).replace(b"Date: ", b"Date: Mon, 1 Jan 2035 00:00:00 +0000\r\nX-Old-Date: ", 1)
    assert "FUTURE_DATE" in names(check(app, future, arthur), arthur)
    forged = asyncio.run(
        app.filters.check_mx(
            message(), accounts=[arthur], sender="", client_ip="192.0.2.7", helo="example.test", auth=None
        )
    )
    assert "HELO_FORGED" in names(forged, arthur)


def test_content_tricks(app: App) -> None:
    arthur = app.accounts.get(ARTHUR)
    html = (
        '<p>Your parcel is waiting: <a href="https://bit.ly/x1">track it</a></p>'
        '<div style="display:none">lorem ipsum dolor sit amet consectetur</div>'
        "<p>P\u200ba\u200by now, \u0440ayment due</p>"
    )
    outcome = check(app, message("", html=html), arthur)
    assert {"HTML_ONLY", "INVISIBLE_TEXT", "URL_SHORTENER", "ZERO_WIDTH_CHARS", "MIXED_SCRIPTS"} <= names(
        outcome, arthur
    )


def test_bayes_sends_spam_to_junk_and_rejects_over_the_threshold(data) -> None:  # type: ignore[no-untyped-def]
    app = open_app(data, reject_score=30)
    try:
        arthur = app.accounts.get(ARTHUR)
        train(app)
        spam = check(app, message(SPAMMY, subject="WIN MONEY NOW", sender="Promo <x@casino.example>"), arthur)
        verdict = spam.verdicts[arthur.id]
        assert verdict.bayes is not None and verdict.bayes > 0.9
        assert spam.mailboxes == {arthur.id: "Junk"}
        assert b"X-Arobase-Spam: Yes" in spam.prepend and b"BAYES(+" in spam.prepend
        ham = check(
            app, message("Hi Arthur, the meeting notes for project 99 are on the wiki. Cheers, Pierre\n"), arthur
        )
        assert ham.verdicts[arthur.id].bayes < 0.1  # type: ignore[operator]
        assert ham.mailboxes == {arthur.id: "INBOX"}
    finally:
        app.close()
    app = open_app(data, reject_score=5)
    try:
        arthur = app.accounts.get(ARTHUR)
        refused = check(app, message(SPAMMY, subject="WIN MONEY NOW", sender="Promo <x@casino.example>"), arthur)
        assert refused.reject == "Message refused as spam"
    finally:
        app.close()


def test_lists_and_correspondents(app: App) -> None:
    arthur, pierre = app.accounts.get(ARTHUR), app.accounts.get(PIERRE)
    train(app)
    spam = message(SPAMMY, subject="WIN MONEY NOW", sender="Promo <deals@casino.example>")
    app.store.filter_list_set(arthur.id, "casino.example", "allow").wait()
    outcome = check(app, spam, arthur, pierre)
    assert outcome.mailboxes == {arthur.id: "INBOX", pierre.id: "Junk"}
    assert outcome.verdicts[arthur.id].allowed
    app.store.filter_list_set(arthur.id, "pierre@friends.example", "block").wait()
    assert check(app, message(), arthur).mailboxes == {arthur.id: "Junk"}
    asyncio.run(app.filters.check_submission(message(), account=pierre, recipients=["Friend@Other.example"]))
    friendly = check(app, message(sender="Friend <friend@other.example>"), pierre)
    assert "KNOWN_CORRESPONDENT" in names(friendly, pierre)


def test_dmarc_failure_is_phishing_and_defeats_the_allow_list(app: App) -> None:
    arthur = app.accounts.get(ARTHUR)
    app.store.filter_list_set(arthur.id, "friends.example", "allow").wait()
    auth = AuthResults("mail.example.test", "fail", "friends.example", dmarc="fail", dmarc_policy="reject")
    auth.from_domain = "friends.example"
    outcome = check(app, message(), arthur, auth=auth)
    verdict = outcome.verdicts[arthur.id]
    assert not verdict.allowed
    assert {"DMARC_FAIL", "SPF_FAIL"} <= names(outcome, arthur)


def test_dnsbl_for_client_ip_and_link_domains(data, dns: DNSServer) -> None:  # type: ignore[no-untyped-def]
    dns.add("7.2.0.192.bl.test", "A", "127.0.0.2")
    dns.add("evil.example.uribl.test", "A", "127.0.0.2")
    app = open_app(data, dnsbl_zones="bl.test=4", uribl_zones="uribl.test")
    app.filters.resolver = type(app.resolver)(dns.host, dns.port)
    try:
        arthur = app.accounts.get(ARTHUR)
        raw = message("Visit https://www.evil.example/deal today\n")
        outcome = check(app, raw, arthur)
        signals = {s.name: s.score for s in outcome.verdicts[arthur.id].signals}
        assert signals["DNSBL_BL_TEST"] == 4.0
        assert signals["DNSBL_URIBL_TEST"] == 3.0
        clean = check(app, message(), arthur, ip="192.0.2.8")
        assert not any(s.name.startswith("DNSBL") for s in clean.verdicts[arthur.id].signals)
    finally:
        app.close()


def test_dangerous_attachment_is_quarantined(app: App) -> None:
    arthur = app.accounts.get(ARTHUR)
    raw = message(
        "See the invoice.\n", attachments=[("invoice.pdf.exe", b"MZ\x90\x00" + b"\0" * 64, "application/pdf")]
    )
    outcome = check(app, raw, arthur)
    assert outcome.verdicts[arthur.id].action is Action.QUARANTINE
    assert outcome.original == raw
    assert b"MZ\x90" not in outcome.content and b"TVqQ" not in outcome.content
    assert b"was removed by the mail server" in outcome.content
    assert b"See the invoice." in outcome.content
    assert b"X-Arobase-Quarantine: attachments held: invoice.pdf.exe" in outcome.prepend
    asyncio.run(app.filters.record(outcome, "d" * 64, [arthur]))
    [entry] = app.store.quarantine_list(arthur.id)
    assert any("double extension" in r for r in entry.reasons)
    assert app.store.quarantine_get(entry.id)[1] == raw  # type: ignore[index]
    verdict = app.store.get_verdict(arthur.id, "d" * 64)
    assert verdict is not None and verdict.action == "quarantine"


def test_attachment_policy_reject_per_domain(data) -> None:  # type: ignore[no-untyped-def]
    app = open_app(data, domains="example.test: attachments=reject")
    try:
        arthur = app.accounts.get(ARTHUR)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("payload.js", "WScript.Shell")
        raw = message("zip", attachments=[("docs.zip", buffer.getvalue(), "application/zip")])
        outcome = check(app, raw, arthur)
        assert outcome.reject.startswith("Dangerous attachment refused: docs.zip contains payload.js")
    finally:
        app.close()


def test_phishing_warning_and_subject_tag(data) -> None:  # type: ignore[no-untyped-def]
    app = open_app(data, subject_tag="[Suspicious]")
    try:
        arthur = app.accounts.get(ARTHUR)
        html = (
            '<p>Dear customer, verify your account: <a href="http://198.51.100.4/login">https://www.paypal.com</a></p>'
        )
        raw = message("", html=html, sender="PayPal <service@paypa1-secure.example>", subject="Account notice")
        outcome = check(app, raw, arthur)
        verdict = outcome.verdicts[arthur.id]
        assert verdict.warning.startswith("Possible phishing:")
        assert {"DISPLAY_NAME_BRAND", "LINK_TEXT_MISMATCH", "LINK_TO_IP", "ASKS_CREDENTIALS"} <= names(outcome, arthur)
        assert b"X-Arobase-Warning: Possible phishing:" in outcome.prepend
        assert b"Subject: [Suspicious] Account notice" in outcome.content
    finally:
        app.close()


def test_disabled_filters_only_strip_headers(data) -> None:  # type: ignore[no-untyped-def]
    app = open_app(data, enabled=False)
    try:
        arthur = app.accounts.get(ARTHUR)
        outcome = check(app, b"X-Arobase-Spam: No\r\n" + message(SPAMMY), arthur)
        assert outcome.prepend == b"" and outcome.mailboxes == {arthur.id: "INBOX"}
        assert not outcome.content.startswith(b"X-Arobase")
    finally:
        app.close()


def test_learning_moves_the_verdict_for_that_account_only_and_relearning_moves_it_back(data) -> None:  # type: ignore[no-untyped-def]
    from arobase.filters import learn

    app = open_app(data)
    try:
        app.filters.trainer.close()  # learning here is explicit, as the webmail buttons do it
        arthur, pierre = app.accounts.get(ARTHUR), app.accounts.get(PIERRE)
        train(app)
        raw = message("Dear reader, the spring catalogue of garden furniture is out: tables, chairs, parasols.\n")
        before = check(app, raw, arthur, pierre)
        assert before.mailboxes == {arthur.id: "INBOX", pierre.id: "INBOX"}
        blob = app.store.put_message(raw)
        app.store.deliver(blob, [(arthur.id, "INBOX")]).wait()
        assert learn(app.store, arthur.id, blob.hash, True) == "learnt"
        spam = check(app, raw, arthur, pierre)
        assert spam.mailboxes == {arthur.id: "Junk", pierre.id: "INBOX"}
        assert learn(app.store, arthur.id, blob.hash, False) == "moved"
        ham = check(app, raw, arthur, pierre)
        assert ham.mailboxes == {arthur.id: "INBOX", pierre.id: "INBOX"}
        assert ham.verdicts[arthur.id].bayes < 0.5 < spam.verdicts[arthur.id].bayes  # type: ignore[operator]
    finally:
        app.close()
