"""init, serve, migrate and check: setting up a data directory and running it."""

from __future__ import annotations

import argparse
import os
import socket
from pathlib import Path

from ..config import CONFIG_NAME, SCHEMA, Config, ConfigError, load, render
from ..server import DEMO_LOGINS
from ..server import serve as run_server
from ..services.accounts import Accounts, generate_password
from ..store import migrate_store, open_store
from ..tls import TLSConfigError, TLSContexts, generate_self_signed
from . import EARLY_STOPS
from .output import fail

DEMO_DOMAIN = "example.test"
DEMO_USERS = [("arthur.dupont", "Arthur Dupont"), ("pierre.durand", "Pierre Durand")]


def init(args: argparse.Namespace, _config: Config | None) -> None:
    directory: Path = args.directory or args.data
    if (directory / CONFIG_NAME).exists():
        fail(f"{directory} is already initialised ({directory / CONFIG_NAME} exists)")
    if bool(args.cert) != bool(args.key):
        fail("--cert and --key go together", 2)
    hostname = args.hostname or (f"mail.{DEMO_DOMAIN}" if args.demo else _system_hostname())
    problem = SCHEMA["server"]["hostname"].check(hostname)  # type: ignore[misc]
    if problem:
        raise ConfigError(f"--hostname {hostname!r}: {problem}")
    overrides: dict[str, dict[str, object]] = {"server": {"hostname": hostname}}
    if args.cert:
        overrides["tls"] = {"cert": str(args.cert.resolve()), "key": str(args.key.resolve())}

    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    (directory / CONFIG_NAME).write_text(render(overrides, production=args.production), encoding="utf-8")
    config = load(directory)
    if args.cert:
        TLSContexts(config.tls_cert, config.tls_key)  # fails early on an unusable pair
    else:
        config.tls_cert.parent.mkdir(parents=True, exist_ok=True)
        generate_self_signed(hostname, config.tls_cert, config.tls_key)
    migrate_store(directory)
    print(f"initialised {directory} for {hostname}")
    print(f"  configuration: {directory / CONFIG_NAME}")
    print(f"  TLS certificate: {config.tls_cert}" + ("" if args.cert else " (self-signed)"))
    if args.demo:
        _create_demo(config)


def _create_demo(config: Config) -> None:
    store = open_store(config)
    try:
        accounts = Accounts(store, default_quota=config.accounts.default_quota)
        accounts.add_domain(DEMO_DOMAIN)
        lines = []
        for local, name in DEMO_USERS:
            password = generate_password()
            address = f"{local}@{DEMO_DOMAIN}"
            accounts.add_user(address, password, display_name=name)
            lines.append(f"{address}  {password}")
    finally:
        store.close()
    path = config.data_dir / DEMO_LOGINS
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(f"  demo domain {DEMO_DOMAIN} with {len(lines)} accounts; logins in {path} (readable by you only)")


def _system_hostname() -> str:
    name = socket.getfqdn()
    return name if "." in name and not name.endswith(".localdomain") else f"mail.{DEMO_DOMAIN}"


def serve(args: argparse.Namespace, config: Config) -> None:
    try:
        run_server(config, early_stops=EARLY_STOPS)
    except TLSConfigError as e:
        fail(str(e), 2)
    except OSError as e:
        fail(f"cannot start: {e}")


def migrate(args: argparse.Namespace, config: Config) -> None:
    applied = migrate_store(config.data_dir)
    if applied:
        print(f"store migrated to version {applied[-1]} (applied {', '.join(map(str, applied))})")
    else:
        print("store is up to date")


def check(args: argparse.Namespace, config: Config) -> int:
    problems = []
    try:
        TLSContexts(config.tls_cert, config.tls_key)
    except TLSConfigError as e:
        problems.append(f"TLS: {e}")
    store = open_store(config)
    try:
        problems += store.check(verify_blobs=not args.fast)
    finally:
        store.close()
    print("configuration: ok")
    if problems:
        for problem in problems:
            print(f"problem: {problem}")
        return 1
    print("store: ok")
    return 0
