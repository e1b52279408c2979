"""The store: the single source of truth for domains, accounts, mailboxes and messages.

Protocols and services reach mail only through this interface. `open_store` picks the backend
named in the configuration; today that is the embedded SQLite + blob files store.
"""

from __future__ import annotations

from pathlib import Path

from ..config import Config
from .errors import (
    AlreadyExists,
    InvalidOperation,
    MigrationRequired,
    NotFound,
    QuotaExceeded,
    StoreError,
)
from .models import (
    DELIMITER,
    SPECIAL_MAILBOXES,
    SYSTEM_FLAGS,
    Account,
    Alias,
    Change,
    ChangeKind,
    DKIMKey,
    Domain,
    FilterVerdict,
    Mailbox,
    Message,
    OutboundEntry,
    QuarantineEntry,
)
from .sqlite import SQLiteStore, StoredBlob, normalize_mailbox_name
from .writer import Pending

Store = SQLiteStore

__all__ = [
    "DELIMITER",
    "SPECIAL_MAILBOXES",
    "SYSTEM_FLAGS",
    "Account",
    "Alias",
    "AlreadyExists",
    "Change",
    "ChangeKind",
    "DKIMKey",
    "Domain",
    "FilterVerdict",
    "InvalidOperation",
    "Mailbox",
    "Message",
    "MigrationRequired",
    "NotFound",
    "OutboundEntry",
    "Pending",
    "QuarantineEntry",
    "QuotaExceeded",
    "Store",
    "StoreError",
    "StoredBlob",
    "migrate_store",
    "normalize_mailbox_name",
    "open_store",
]


def open_store(config: Config) -> Store:
    """Open the configured store; raises MigrationRequired if its schema is behind this release."""
    return SQLiteStore(config.data_dir, fsync=config.store.fsync, blob_grace=float(config.store.blob_grace_seconds))


def migrate_store(data_dir: Path) -> list[int]:
    return SQLiteStore.migrate(data_dir)
