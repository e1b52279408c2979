"""What every protocol is handed: the configuration, the store and the shared services.

One `App` lives in the `serve` process; protocol listeners receive it instead of reaching for
globals, so tests can build one around a temporary data directory.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import Config
from .services.accounts import Accounts
from .store import Store, open_store
from .tls import TLSContexts


@dataclass(slots=True)
class App:
    config: Config
    store: Store
    accounts: Accounts
    tls: TLSContexts

    @classmethod
    def open(cls, config: Config) -> App:
        tls = TLSContexts(config.tls_cert, config.tls_key)
        store = open_store(config)
        accounts = Accounts(
            store,
            subaddress_separator=config.accounts.subaddress_separator,
            default_quota=config.accounts.default_quota,
        )
        return cls(config, store, accounts, tls)

    def close(self) -> None:
        self.store.close()
