"""The change feed: committed changes pushed to live sessions (IMAP IDLE, the webmail).

Subscribers register per account. The writer thread publishes after each commit; asyncio
subscribers are called back on their own loop. A PostgreSQL backend would publish the same
`Change` records from LISTEN/NOTIFY instead of from its writer.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from .models import Change

Callback = Callable[[Change], None]


class ChangeFeed:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[int, list[tuple[Callback, asyncio.AbstractEventLoop | None]]] = {}

    def subscribe(self, account_id: int, callback: Callback) -> Callable[[], None]:
        """Call `callback` for every change of the account; returns the unsubscribe function.

        When called from a running asyncio loop, the callback runs on that loop.
        """
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        entry = (callback, loop)
        with self._lock:
            self._subscribers.setdefault(account_id, []).append(entry)

        def unsubscribe() -> None:
            with self._lock:
                entries = self._subscribers.get(account_id, [])
                if entry in entries:
                    entries.remove(entry)
                if not entries:
                    self._subscribers.pop(account_id, None)

        return unsubscribe

    def publish(self, changes: list[Change]) -> None:
        with self._lock:
            targets = {c.account_id: list(self._subscribers.get(c.account_id, ())) for c in changes}
        for change in changes:
            for callback, loop in targets[change.account_id]:
                if loop is None:
                    callback(change)
                elif not loop.is_closed():
                    loop.call_soon_threadsafe(callback, change)
