"""Every real-world sample message goes through the store's ingest and comes back intact."""

from __future__ import annotations

from tests.mime.test_corpus import FILES, crlf

from arobase.mime import parse_message
from arobase.services.accounts import Accounts
from arobase.store import Store


def test_the_whole_corpus_is_ingested_and_read_back(store: Store, accounts: Accounts) -> None:
    assert len(FILES) > 250, "the shared corpus is missing"
    account = accounts.add_user("corpus@example.test", "corpus-password")
    raws = [crlf(path.read_bytes()) for path in FILES]
    pending = [store.deliver(store.put_message(raw), [(account.id, "INBOX")]) for raw in raws]
    placed = [p.wait()[0] for p in pending]
    inbox = store.get_mailbox(account.id, "INBOX")
    assert inbox is not None and inbox.messages == len(raws)  # identical files are still separate messages
    for raw, (_, mailbox_id, uid) in zip(raws, placed, strict=True):
        stored = store.get_message(mailbox_id, uid)
        assert stored is not None and stored.size == len(raw)
        assert store.read_blob(stored.blob) == raw
        assert store.parsed(stored.blob) == parse_message(raw)
    assert store.check() == []
