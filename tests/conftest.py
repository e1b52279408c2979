"""Fixtures shared by the whole suite: an initialised data directory, its store, its accounts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from arobase.config import CONFIG_NAME, Config, load, render
from arobase.services.accounts import Accounts
from arobase.store import Store, migrate_store, open_store
from arobase.tls import generate_self_signed


def make_data_dir(path: Path, hostname: str = "mail.example.test") -> Path:
    """What `arobase init` does, without the CLI: configuration, certificate, migrated store."""
    path.mkdir(parents=True, exist_ok=True)
    (path / CONFIG_NAME).write_text(render({"server": {"hostname": hostname}}), encoding="utf-8")
    generate_self_signed(hostname, path / "tls" / "cert.pem", path / "tls" / "key.pem")
    migrate_store(path)
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return make_data_dir(tmp_path / "data")


@pytest.fixture
def config(data_dir: Path) -> Config:
    return load(data_dir, environ={})


@pytest.fixture
def store(config: Config) -> Iterator[Store]:
    store = open_store(config)
    yield store
    store.close()


@pytest.fixture
def accounts(store: Store) -> Accounts:
    accounts = Accounts(store)
    accounts.add_domain("example.test")
    return accounts
