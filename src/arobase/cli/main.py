"""`arobase`: the one command. Parses arguments, loads the configuration, runs a subcommand.

User mistakes (bad configuration, unknown domain, duplicate user, bad address) end with one
clear line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import __version__
from ..addressing import AddressError
from ..config import ENV_DATA, Config, ConfigError, load
from ..services.accounts import AccountError
from ..store import MigrationRequired, StoreError
from . import admin, mailio, setup
from . import dns as dns_cli
from . import filter as filter_cli
from . import quarantine as quarantine_cli
from . import queue as queue_cli
from .output import fail

Handler = Callable[[argparse.Namespace, Config], int | None]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arobase",
        description="Arobase: a complete self-hosted mail server (SMTP, IMAP, POP3, webmail).",
    )
    parser.add_argument("--version", action="version", version=f"arobase {__version__}")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get(ENV_DATA, "./var")),
        help="data directory (default: $AROBASE_DATA or ./var)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    init = commands.add_parser("init", help="create a data directory: configuration, TLS certificate, store")
    init.add_argument("directory", type=Path, nargs="?", help="where to create it (default: --data)")
    init.add_argument("--demo", action="store_true", help="add the demo domain example.test and two users")
    init.add_argument("--production", action="store_true", help="standard ports on all interfaces")
    init.add_argument("--hostname", help="this server's host name (default: from the system, or mail.example.test)")
    init.add_argument("--cert", type=Path, help="use this PEM certificate instead of a self-signed one")
    init.add_argument("--key", type=Path, help="private key for --cert")
    init.set_defaults(handler=setup.init, needs_config=False)

    serve = commands.add_parser("serve", help="run every service in one process")
    serve.set_defaults(handler=setup.serve)

    migrate = commands.add_parser("migrate", help="bring the store's schema up to this release")
    migrate.set_defaults(handler=setup.migrate, needs_migrated=False)

    check = commands.add_parser("check", help="verify configuration and store consistency")
    check.add_argument("--fast", action="store_true", help="skip reading every message to verify its hash")
    check.set_defaults(handler=setup.check)

    _domain_commands(commands)
    _user_commands(commands)
    _alias_commands(commands)
    queue_cli.register(commands)
    dns_cli.register(commands)
    filter_cli.register(commands)
    quarantine_cli.register(commands)

    quota = commands.add_parser("quota", help="mailbox quotas").add_subparsers(dest="action", required=True)
    quota_set = quota.add_parser("set", help="set an account's quota")
    quota_set.add_argument("address")
    quota_set.add_argument("size", help="bytes, or with a unit: 500M, 2G; 0 for unlimited")
    quota_set.add_argument("--messages", type=int, help="also limit the number of messages kept; 0 for unlimited")
    quota_set.set_defaults(handler=admin.quota_set)

    imp = commands.add_parser("import", help="import a Maildir (with subfolders) or an mbox file")
    imp.add_argument("address")
    imp.add_argument("path", type=Path)
    imp.add_argument("--folder", help="mbox only: folder to import into (default: INBOX)")
    imp.set_defaults(handler=mailio.import_command)

    exp = commands.add_parser("export", help="export an account's mail as a Maildir tree or an mbox file")
    exp.add_argument("address")
    exp.add_argument("path", type=Path)
    exp.add_argument("--format", choices=["maildir", "mbox"], default="maildir")
    exp.add_argument("--folder", help="mbox only: folder to export (default: INBOX)")
    exp.set_defaults(handler=mailio.export_command)
    return parser


def _domain_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    domain = commands.add_parser("domain", help="mail domains").add_subparsers(dest="action", required=True)
    add = domain.add_parser("add", help="add a domain")
    add.add_argument("name")
    add.set_defaults(handler=admin.domain_add)
    lst = domain.add_parser("list", help="list domains")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.set_defaults(handler=admin.domain_list)
    remove = domain.add_parser("remove", help="remove a domain without accounts or aliases")
    remove.add_argument("name")
    remove.set_defaults(handler=admin.domain_remove)
    dns_cli.register_domain(domain)


def _user_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    user = commands.add_parser("user", help="accounts").add_subparsers(dest="action", required=True)
    add = user.add_parser("add", help="create an account (a strong password is generated unless given)")
    add.add_argument("address")
    add.add_argument("--name", default="", help="display name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--quota", help="quota (bytes or 500M, 2G; default from the configuration)")
    add.set_defaults(handler=admin.user_add)
    lst = user.add_parser("list", help="list accounts")
    lst.add_argument("domain", nargs="?", help="only this domain")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.set_defaults(handler=admin.user_list)
    passwd = user.add_parser("passwd", help="change a password (generated unless --password-stdin)")
    passwd.add_argument("address")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    passwd.set_defaults(handler=admin.user_passwd)
    for name, handler, text in [
        ("remove", admin.user_remove, "delete an account and all its mail"),
        ("disable", admin.user_disable, "refuse logins and mail for an account, keeping its mail"),
        ("enable", admin.user_enable, "enable a disabled account"),
    ]:
        sub = user.add_parser(name, help=text)
        sub.add_argument("address")
        sub.set_defaults(handler=handler)


def _alias_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    alias = commands.add_parser("alias", help="aliases and catch-alls").add_subparsers(dest="action", required=True)
    add = alias.add_parser("add", help="SOURCE TARGET...; SOURCE @domain makes a catch-all")
    add.add_argument("source")
    add.add_argument("targets", nargs="+")
    add.set_defaults(handler=admin.alias_add)
    lst = alias.add_parser("list", help="list aliases")
    lst.add_argument("domain", nargs="?", help="only this domain")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.set_defaults(handler=admin.alias_list)
    remove = alias.add_parser("remove", help="remove an alias")
    remove.add_argument("source")
    remove.set_defaults(handler=admin.alias_remove)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = None
        if getattr(args, "needs_config", True):
            config = load(args.data)
        return args.handler(args, config) or 0
    except ConfigError as e:
        fail(str(e), 2)
    except MigrationRequired as e:
        fail(str(e), 3)
    except (AccountError, AddressError, StoreError) as e:
        fail(str(e), 1)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
