"""What every protocol is handed: the configuration, the store and the shared services.

One `App` lives in the `serve` process; protocol listeners receive it instead of reaching for
globals, so tests can build one around a temporary data directory.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import Config
from .filters import Pipeline
from .services.accounts import Accounts
from .services.delivery import Delivery
from .services.dns import Resolver
from .services.throttle import Throttle
from .store import Store, open_store
from .tls import TLSContexts


@dataclass(slots=True)
class App:
    config: Config
    store: Store
    accounts: Accounts
    tls: TLSContexts
    throttle: Throttle
    delivery: Delivery
    resolver: Resolver
    filters: Pipeline

    @classmethod
    def open(cls, config: Config) -> App:
        tls = TLSContexts(config.tls_cert, config.tls_key)
        store = open_store(config)
        accounts = Accounts(
            store,
            subaddress_separator=config.accounts.subaddress_separator,
            default_quota=config.accounts.default_quota,
            postmaster=config.accounts.postmaster,
        )
        resolver = make_resolver(config.dns.nameserver)
        filters = Pipeline(store, config, resolver)
        filters.trainer.watch_all()
        return cls(
            config,
            store,
            accounts,
            tls,
            throttle=Throttle.from_config(config.limits),
            delivery=Delivery(store, accounts, config.server.hostname),
            resolver=resolver,
            filters=filters,
        )

    def close(self) -> None:
        self.filters.close()
        self.store.close()


def make_resolver(nameserver: str) -> Resolver:
    """The [dns] nameserver setting ("", "HOST" or "HOST:PORT") as a Resolver."""
    if not nameserver:
        return Resolver(cache=True)
    host, sep, port = nameserver.rpartition(":")
    if not sep or not host or (":" in host and not host.endswith("]")):
        return Resolver(nameserver.strip("[]"), cache=True)
    return Resolver(host.strip("[]"), int(port), cache=True)
