"""QUOTA (RFC 9208): each account has one quota root, "", holding every mailbox; STORAGE only.

The limit is the account's quota (set by the administrator, so SETQUOTA is refused); usage is
the account's `used` bytes, read afresh from the store. An account without a limit has no quota
root. There is no per-account message-count limit to report as a MESSAGE resource.
"""

from __future__ import annotations

from ...store import Account, InvalidOperation
from ..wire import ast
from . import AUTHENTICATED, CommandContext, CommandError, command

ROOT = ""


def quota_data(account: Account) -> bytes:
    """`QUOTA "" (STORAGE 1200 10240)`: usage and limit in units of 1024 octets."""
    used_kb = (account.used + 1023) // 1024
    return b'QUOTA "" (STORAGE %d %d)' % (used_kb, account.quota // 1024)


def _account(ctx: CommandContext) -> Account:
    return ctx.app.store.get_account(ctx.account.id)


@command(ast.GetQuota, AUTHENTICATED)
async def getquota(ctx: CommandContext, cmd: ast.GetQuota) -> None:
    account = _account(ctx)
    if cmd.root != ROOT or not account.quota:
        raise CommandError(f"no quota root {cmd.root!r}", "NONEXISTENT")
    ctx.untagged(quota_data(account))


@command(ast.GetQuotaRoot, AUTHENTICATED)
async def getquotaroot(ctx: CommandContext, cmd: ast.GetQuotaRoot) -> None:
    try:
        box = ctx.app.store.get_mailbox(ctx.account.id, cmd.mailbox)
    except InvalidOperation:
        box = None
    if box is None:
        raise CommandError(f"no mailbox {cmd.mailbox}", "NONEXISTENT")
    account = _account(ctx)
    root = b' ""' if account.quota else b""
    ctx.untagged(b"QUOTAROOT " + ctx.mailbox(box.name) + root)
    if account.quota:
        ctx.untagged(quota_data(account))


@command(ast.SetQuota, AUTHENTICATED)
async def setquota(ctx: CommandContext, cmd: ast.SetQuota) -> None:
    raise CommandError("quotas are set by the administrator", "NOPERM")
