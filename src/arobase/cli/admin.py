"""Domain, user, alias and quota subcommands."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from ..addressing import domain_display, normalize_domain
from ..config import Config
from ..services.accounts import AccountError, Accounts, generate_password
from ..store import open_store
from .output import print_json, print_table

_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


@contextmanager
def accounts_service(config: Config) -> Iterator[Accounts]:
    with open_store(config) as store:
        yield Accounts(
            store,
            subaddress_separator=config.accounts.subaddress_separator,
            default_quota=config.accounts.default_quota,
            postmaster=config.accounts.postmaster,
        )


def parse_size(text: str) -> int:
    match = _SIZE.match(text)
    if not match:
        raise AccountError(f"{text!r} is not a size (use bytes, or 500M, 2G, ...)")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def human_size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    raise AssertionError


def read_password(args: argparse.Namespace) -> tuple[str, bool]:
    """(password, generated): from stdin with --password-stdin, otherwise a generated one."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise AccountError("no password on standard input")
        return password, False
    return generate_password(), True


# -- domains ------------------------------------------------------------------------------


def domain_add(args: argparse.Namespace, config: Config) -> None:
    with accounts_service(config) as accounts:
        domain = accounts.add_domain(args.name)
    print(f"domain {domain.display} added" + (f" ({domain.name})" if domain.name != domain.display else ""))


def domain_list(args: argparse.Namespace, config: Config) -> None:
    with accounts_service(config) as accounts:
        rows = []
        for domain in accounts.store.list_domains():
            users, aliases = accounts.store.domain_usage(domain.id)
            rows.append({"domain": domain.display, "a-label": domain.name, "accounts": users, "aliases": aliases})
    if args.json:
        print_json(rows)
    else:
        print_table(rows)


def domain_remove(args: argparse.Namespace, config: Config) -> None:
    with accounts_service(config) as accounts:
        accounts.remove_domain(args.name)
    print(f"domain {args.name} removed")


# -- users --------------------------------------------------------------------------------


def user_add(args: argparse.Namespace, config: Config) -> None:
    password, generated = read_password(args)
    quota = parse_size(args.quota) if args.quota else None
    with accounts_service(config) as accounts:
        account = accounts.add_user(args.address, password, display_name=args.name, quota=quota)
    print(f"account {_display(account.address)} created")
    if generated:
        print(f"password: {password}")
        print("(shown once: it is stored only as a hash)")


def user_list(args: argparse.Namespace, config: Config) -> None:
    with accounts_service(config) as accounts:
        domain = None
        if args.domain:
            domain = normalize_domain(args.domain)
        rows = [
            {
                "address": _display(a.address),
                "name": a.display_name,
                "quota": a.quota if args.json else (human_size(a.quota) if a.quota else "unlimited"),
                "used": a.used if args.json else human_size(a.used),
                "status": "disabled" if a.disabled else "active",
            }
            for a in accounts.store.list_accounts(domain)
        ]
    if args.json:
        print_json(rows)
    else:
        print_table(rows)


def user_passwd(args: argparse.Namespace, config: Config) -> None:
    password, generated = read_password(args)
    with accounts_service(config) as accounts:
        accounts.set_password(args.address, password)
    print(f"password of {args.address} changed")
    if generated:
        print(f"password: {password}")


def user_remove(args: argparse.Namespace, config: Config) -> None:
    with accounts_service(config) as accounts:
        accounts.remove_user(args.address)
    print(f"account {args.address} removed with all its mail")


def user_disable(args: argparse.Namespace, config: Config) -> None:
    with accounts_service(config) as accounts:
        accounts.set_disabled(args.address, True)
    print(f"account {args.address} disabled")


def user_enable(args: argparse.Namespace, config: Config) -> None:
    with accounts_service(config) as accounts:
        accounts.set_disabled(args.address, False)
    print(f"account {args.address} enabled")


def quota_set(args: argparse.Namespace, config: Config) -> None:
    size = parse_size(args.size)
    with accounts_service(config) as accounts:
        accounts.set_quota(args.address, size, args.messages)
    print(f"quota of {args.address} set to {human_size(size) if size else 'unlimited'}")
    if args.messages is not None:
        print(f"message quota of {args.address} set to {args.messages or 'unlimited'}")


# -- aliases ------------------------------------------------------------------------------


def alias_add(args: argparse.Namespace, config: Config) -> None:
    with accounts_service(config) as accounts:
        alias = accounts.add_alias(args.source, args.targets)
    print(f"alias {_display(alias.source)} -> {', '.join(_display(t) for t in alias.targets)}")


def alias_list(args: argparse.Namespace, config: Config) -> None:
    with accounts_service(config) as accounts:
        domain = None
        if args.domain:
            domain = normalize_domain(args.domain)
        rows = [
            {"alias": _display(a.source), "targets": ", ".join(_display(t) for t in a.targets)}
            for a in accounts.store.list_aliases(domain)
        ]
    if args.json:
        for row in rows:
            row["targets"] = row["targets"].split(", ")  # type: ignore[assignment]
        print_json(rows)
    else:
        print_table(rows)


def alias_remove(args: argparse.Namespace, config: Config) -> None:
    with accounts_service(config) as accounts:
        accounts.remove_alias(args.source)
    print(f"alias {args.source} removed")


def _display(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain_display(domain)}"
