"""Delivery status notifications (RFC 3464) in a multipart/report (RFC 6522): bounces and delay warnings.

A DSN goes to the envelope sender with a null sender itself, so it can never cause another bounce. It
has three parts: words for people (which recipient, what the remote server said), the
message/delivery-status part for programs, and the original header block (text/rfc822-headers), not
the body: enough to recognise the message without sending its content back.
"""

from __future__ import annotations

import email.header
import email.utils
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ..services.delivery import header_fields

MAX_HEADER_BYTES = 64 * 1024  # an absurd header block is cut, the DSN stays small


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    """What happened to one recipient: the RFC 3463 status, and the reply (or our reason) behind it."""

    recipient: str
    status: str  # "5.1.1", "4.4.1"
    diagnostic: str  # "550 5.1.1 <x@y>: no such user" as the remote said it, or our own words
    remote_mta: str | None = None  # host name that answered, when one did
    smtp_reply: bool = True  # False when `diagnostic` is our own explanation, not a remote reply


def build_dsn(
    *,
    hostname: str,
    sender: str,
    original: bytes,
    statuses: Sequence[RecipientStatus],
    delayed: bool,
    arrival: datetime,
    retry_until: datetime | None = None,
    now: datetime | None = None,
) -> bytes:
    """The DSN message for `sender` about `original` (bytes with CRLF line ends)."""
    now = now or datetime.now(UTC)
    boundary = "=_dsn_" + secrets.token_hex(12)
    action = "delayed" if delayed else "failed"
    subject = "Delivery delayed: message not yet delivered" if delayed else "Undelivered Mail Returned to Sender"
    original_subject = _original_subject(original)
    if original_subject:
        subject += f" ({original_subject})"

    lines = [
        f"From: Mail Delivery System <MAILER-DAEMON@{hostname}>",
        f"To: <{sender}>",
        f"Subject: {_encode_header(_one_line(subject))}",
        f"Date: {email.utils.format_datetime(now)}",
        f"Message-ID: <{secrets.token_hex(16)}@{hostname}>",
        "Auto-Submitted: auto-replied",  # RFC 3834: autoresponders must not answer this
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        "This is a MIME-formatted delivery status notification.",
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        *_human_text(hostname, statuses, delayed, retry_until),
        "",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        f"Reporting-MTA: dns; {hostname}",
        f"Arrival-Date: {email.utils.format_datetime(arrival)}",
    ]
    for status in statuses:
        lines += [
            "",
            f"Final-Recipient: {_address_type(status.recipient)}; {status.recipient}",
            f"Action: {action}",
            f"Status: {status.status}",
        ]
        if status.remote_mta:
            lines.append(f"Remote-MTA: dns; {status.remote_mta}")
        kind = "smtp" if status.smtp_reply else "x-arobase"
        lines.append(f"Diagnostic-Code: {kind}; {_one_line(status.diagnostic)}")
        lines.append(f"Last-Attempt-Date: {email.utils.format_datetime(now)}")
        if delayed and retry_until is not None:
            lines.append(f"Will-Retry-Until: {email.utils.format_datetime(retry_until)}")
    lines += [
        "",
        f"--{boundary}",
        "Content-Type: text/rfc822-headers",
        "Content-Transfer-Encoding: 8bit",
        "",
    ]
    head = "\r\n".join(lines).encode("utf-8") + b"\r\n"
    return head + _original_headers(original) + f"\r\n--{boundary}--\r\n".encode("ascii")


def _human_text(
    hostname: str, statuses: Sequence[RecipientStatus], delayed: bool, retry_until: datetime | None
) -> list[str]:
    if delayed:
        until = f" until {email.utils.format_datetime(retry_until)}" if retry_until else ""
        text = [
            f"This is the mail system at {hostname}.",
            "",
            "Your message has not been delivered yet to the recipients below.",
            f"Nothing needs to be done: delivery will be tried again{until}.",
        ]
    else:
        text = [
            f"This is the mail system at {hostname}.",
            "",
            "Your message could not be delivered to the recipients below.",
            "The original message's header is attached.",
        ]
    text.append("")
    for status in statuses:
        where = f"{status.remote_mta} said" if status.remote_mta and status.smtp_reply else "reason"
        text.append(f"<{status.recipient}>: {where}: {_one_line(status.diagnostic)}")
    return text


def _original_headers(original: bytes) -> bytes:
    _, end = header_fields(original)
    block = original[: min(end, MAX_HEADER_BYTES)]
    if not block.endswith(b"\r\n"):
        block = block[: block.rfind(b"\r\n") + 2] if b"\r\n" in block else b""
    return block


def _original_subject(original: bytes) -> str:
    for name, value in header_fields(original)[0]:
        if name == "subject":
            text = value.decode("utf-8", "replace")
            return text if len(text) <= 80 else text[:77] + "..."
    return ""


def _address_type(address: str) -> str:
    """rfc822 for ASCII addresses; utf-8 (RFC 6533) for internationalised ones."""
    return "rfc822" if address.isascii() else "utf-8"


def _encode_header(text: str) -> str:
    """ASCII as is, anything else as RFC 2047 encoded words."""
    return text if text.isascii() else email.header.Header(text, "utf-8").encode()


def _one_line(text: str) -> str:
    return " ".join(text.split())
