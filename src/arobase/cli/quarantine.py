"""`arobase quarantine list|show|release|delete`: originals of messages whose attachments were taken out."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC

from ..config import Config
from ..services.accounts import Accounts
from ..store import QuarantineEntry, Store, open_store
from .output import fail, print_json, print_table


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("quarantine", help="messages held for dangerous attachments")
    actions = parser.add_subparsers(dest="action", required=True)
    lst = actions.add_parser("list", help="held originals, newest first")
    lst.add_argument("address", nargs="?", help="only this account")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=list_command)
    show = actions.add_parser("show", help="details of one entry; --raw prints the original message")
    show.add_argument("id", type=int)
    show.add_argument("--raw", action="store_true")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_command)
    release = actions.add_parser("release", help="deliver the original, attachments included, to the INBOX")
    release.add_argument("id", type=int)
    release.set_defaults(handler=release_command)
    delete = actions.add_parser("delete", help="forget the original")
    delete.add_argument("id", type=int)
    delete.set_defaults(handler=delete_command)


def _row(entry: QuarantineEntry, store: Store) -> dict[str, object]:
    return {
        "id": entry.id,
        "account": store.get_account(entry.account_id).address,
        "from": entry.sender,
        "subject": entry.subject,
        "held": entry.created.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "released": entry.released.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if entry.released else None,
        "size": entry.size,
        "reasons": list(entry.reasons),
    }


def list_command(args: argparse.Namespace, config: Config) -> int:
    with open_store(config) as store:
        account_id = Accounts(store).get(args.address).id if args.address else None
        rows = [_row(entry, store) for entry in store.quarantine_list(account_id)]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["id", "account", "from", "subject", "held", "released"])
    return 0


def _get(store: Store, entry_id: int) -> tuple[QuarantineEntry, bytes]:
    found = store.quarantine_get(entry_id)
    if found is None:
        fail(f"no quarantine entry {entry_id}")
    return found


def show_command(args: argparse.Namespace, config: Config) -> int:
    with open_store(config) as store:
        entry, data = _get(store, args.id)
        row = _row(entry, store)
    if args.raw:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    elif args.json:
        print_json(row)
    else:
        for key, value in row.items():
            print(f"{key}: {'; '.join(value) if isinstance(value, list) else value}")
    return 0


def release_command(args: argparse.Namespace, config: Config) -> int:
    with open_store(config) as store:
        entry, data = _get(store, args.id)
        if entry.released is not None:
            fail(f"quarantine entry {entry.id} was already released")
        blob = store.put_message(data)
        store.deliver(blob, [(entry.account_id, "INBOX")], enforce_quota=False).wait()
        store.quarantine_released(entry.id).wait()
        address = store.get_account(entry.account_id).address
    print(f"released entry {entry.id} to {address}'s INBOX")
    return 0


def delete_command(args: argparse.Namespace, config: Config) -> int:
    with open_store(config) as store:
        if not store.quarantine_delete(args.id).wait():
            fail(f"no quarantine entry {args.id}")
    print(f"deleted quarantine entry {args.id}")
    return 0
