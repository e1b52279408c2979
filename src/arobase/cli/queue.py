"""`arobase queue list|show ID|retry ID|delete ID|flush`: the outbound queue, for the administrator.

A queue ID names one queued message (all its remote recipients). These commands work on the store
directly, so they also work while `arobase serve` runs: a retried or flushed message is picked up by
the running server at its next poll (`outbound.poll_interval_ms`).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from ..config import Config
from ..services.delivery import header_fields
from ..store import OutboundEntry, Store, open_store
from .output import fail, print_json, print_table


def _messages(entries: list[OutboundEntry]) -> dict[int, list[OutboundEntry]]:
    grouped: dict[int, list[OutboundEntry]] = {}
    for entry in entries:
        grouped.setdefault(entry.envelope, []).append(entry)
    return grouped


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _recipient(entry: OutboundEntry) -> dict[str, object]:
    return {
        "recipient": entry.recipient,
        "attempts": entry.attempts,
        "next_attempt": entry.next_attempt,
        "last_error": entry.last_error,
        "last_host": entry.last_host,
        "delivering": entry.claimed,
        "delay_warned": entry.delay_warned,
    }


def _summary(envelope: int, entries: list[OutboundEntry]) -> dict[str, object]:
    first = entries[0]
    return {
        "id": envelope,
        "sender": first.sender or "<>",
        "recipients": [entry.recipient for entry in entries],
        "queued": first.created,
        "attempts": max(entry.attempts for entry in entries),
        "next_attempt": min(entry.next_attempt for entry in entries),
        "last_error": next((entry.last_error for entry in entries if entry.last_error), None),
    }


def queue_list(args: argparse.Namespace, config: Config) -> None:
    with open_store(config) as store:
        messages = [_summary(envelope, entries) for envelope, entries in _messages(store.outbound_entries()).items()]
    if args.json:
        print_json(messages)
        return
    rows = [
        {
            "id": m["id"],
            "sender": m["sender"],
            "recipients": ", ".join(m["recipients"]),  # type: ignore[arg-type]
            "queued": _when(m["queued"]),  # type: ignore[arg-type]
            "attempts": m["attempts"],
            "next attempt": _when(m["next_attempt"]),  # type: ignore[arg-type]
            "last error": m["last_error"] or "",
        }
        for m in messages
    ]
    print_table(rows)


def _find(store: Store, envelope: int) -> list[OutboundEntry]:
    entries = store.outbound_entries(envelope)
    if not entries:
        fail(f"no queued message {envelope} (see `arobase queue list`)")
    return entries


def queue_show(args: argparse.Namespace, config: Config) -> None:
    with open_store(config) as store:
        entries = _find(store, args.id)
        content = store.read_blob(entries[0].blob)
    _, end = header_fields(content)
    headers = content[:end].decode("utf-8", "replace").replace("\r\n", "\n")
    message = _summary(args.id, entries) | {
        "size": len(content),
        "recipients": [_recipient(entry) for entry in entries],
        "headers": headers,
    }
    if args.json:
        print_json(message)
        return
    print(f"queue id:   {args.id}")
    print(f"sender:     {message['sender']}")
    print(f"queued:     {_when(entries[0].created)}")
    print(f"size:       {len(content)} bytes")
    print()
    print_table(
        [
            {
                "recipient": entry.recipient,
                "attempts": entry.attempts,
                "next attempt": "delivering now" if entry.claimed else _when(entry.next_attempt),
                "last error": entry.last_error or "",
            }
            for entry in entries
        ]
    )
    print()
    print(headers.rstrip("\n"))


def queue_retry(args: argparse.Namespace, config: Config) -> None:
    with open_store(config) as store:
        _find(store, args.id)
        count = store.retry_outbound(args.id).wait()
    _done(args, {"id": args.id, "recipients": count}, f"message {args.id}: {count} recipients due now")


def queue_delete(args: argparse.Namespace, config: Config) -> None:
    with open_store(config) as store:
        _find(store, args.id)
        count = store.delete_outbound(args.id).wait()
    _done(args, {"id": args.id, "recipients": count}, f"message {args.id} deleted ({count} recipients, no bounce)")


def queue_flush(args: argparse.Namespace, config: Config) -> None:
    with open_store(config) as store:
        count = store.retry_outbound().wait()
    _done(args, {"recipients": count}, f"{count} queued recipients due now")


def _done(args: argparse.Namespace, result: dict[str, object], text: str) -> None:
    if args.json:
        print_json(result)
    else:
        print(text)


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    queue = commands.add_parser("queue", help="mail waiting for delivery to other servers")
    actions = queue.add_subparsers(dest="action", required=True)
    for name, handler, text, needs_id in [
        ("list", queue_list, "list queued messages", False),
        ("show", queue_show, "show one queued message: recipients, errors, header", True),
        ("retry", queue_retry, "try one message again now", True),
        ("delete", queue_delete, "drop one message from the queue, without a bounce", True),
        ("flush", queue_flush, "try every queued message again now", False),
    ]:
        sub = actions.add_parser(name, help=text)
        if needs_id:
            sub.add_argument("id", type=int, help="queue id, from `arobase queue list`")
        sub.add_argument("--json", action="store_true", help="machine-readable output")
        sub.set_defaults(handler=handler)
