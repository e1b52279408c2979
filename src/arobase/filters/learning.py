"""Learning from users: moving a message into Junk teaches spam, moving it out teaches ham.

`learn(store, account_id, blob_hash, is_spam)` is the service function IMAP and the webmail may
call directly; each message counts once per account (the store's ledger), and learning it the
other way moves its counts instead of adding. `Trainer` watches the store's change feed so IMAP
MOVE/COPY (or any client) needs no hook at all: a message added to the Junk mailbox is learnt as
spam, unless it is one the pipeline itself just put there; a message added elsewhere (not Trash,
Sent or Drafts) is learnt as ham when it had been learnt as spam or delivered to Junk.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable

from ..store import Change, ChangeKind, NotFound, Store
from . import linear
from .content import extract
from .tokens import counted, tokens

log = logging.getLogger("arobase.filters")
_NOT_TRAINING = frozenset({"\\Trash", "\\Sent", "\\Drafts"})


def learn(store: Store, account_id: int, blob_hash: str, is_spam: bool) -> str:
    """Teach one account's model that a stored message is spam or ham.

    Returns 'learnt', 'moved' (it had been learnt the other way) or 'known' (nothing to do).
    Blocking: call it from a thread (asyncio.to_thread) in async code.
    """
    parsed = store.parsed(blob_hash)
    content = extract(store.read_blob(blob_hash), parsed)
    message_tokens = tokens(content)
    result = store.filter_learn(account_id, blob_hash, counted(message_tokens), is_spam).wait()
    if result != "known":  # the ledger says it was not, or was the other way: the weights follow
        linear.learn(store, account_id, message_tokens, is_spam)
    return result


class Trainer:
    """Learns from what users do with their mail, as seen on the change feed."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.expected_junk: dict[int, int] = {}  # our own Junk deliveries not seen on the feed yet
        self._watched: dict[int, Callable[[], None]] = {}
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="arobase-learn")

    def watch(self, account_id: int) -> None:
        with self._lock:
            if account_id not in self._watched:
                self._watched[account_id] = self.store.feed.subscribe(account_id, self._changed)

    def expect(self, account_id: int, count: int) -> None:
        with self._lock:
            self.expected_junk[account_id] = max(self.expected_junk.get(account_id, 0) + count, 0)

    def watch_all(self) -> None:
        for account in self.store.list_accounts():
            self.watch(account.id)

    def close(self) -> None:
        with self._lock:
            for unsubscribe in self._watched.values():
                unsubscribe()
            self._watched.clear()
        self._pool.shutdown(wait=True)

    def _changed(self, change: Change) -> None:
        if change.kind is ChangeKind.ADDED and change.uids:
            self._pool.submit(self._learn_added, change)

    def _learn_added(self, change: Change) -> None:
        try:
            box = self.store.mailbox_by_id(change.mailbox_id)
            if box is None or box.special_use in _NOT_TRAINING:
                return
            into_junk = box.special_use == "\\Junk"
            for digest, trained, action in self.store.training_state(change.account_id, change.mailbox_id, change.uids):
                if into_junk and self._ours(change.account_id):
                    continue
                if _wants(trained, action, into_junk):
                    result = learn(self.store, change.account_id, digest, into_junk)
                    log.info(
                        "account %d: %s learnt as %s (%s)",
                        change.account_id,
                        digest[:12],
                        "spam" if into_junk else "ham",
                        result,
                    )
        except NotFound:
            return
        except Exception:
            log.exception("learning from a change of account %d failed", change.account_id)

    def _ours(self, account_id: int) -> bool:
        with self._lock:
            if self.expected_junk.get(account_id, 0) > 0:
                self.expected_junk[account_id] -= 1
                return True
        return False


def _wants(trained: bool | None, action: str | None, into_junk: bool) -> bool:
    """Learn a message added to Junk unless known as spam; one added elsewhere if it was spam or junked."""
    if into_junk:
        return trained is not True
    if trained is not None:
        return trained is True
    return action == "junk"
