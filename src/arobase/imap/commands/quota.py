"""QUOTA (RFC 9208): each account has one quota root, "", holding every mailbox.

Its resources are STORAGE (the account's byte quota) and MESSAGE (its message-count quota), each
reported only when set. Limits are set by the administrator, so SETQUOTA is refused; usage is read
afresh from the store. An account without any limit has no quota root.
"""

from __future__ import annotations

from ...store import Account, InvalidOperation
from ..wire import ast
from . import AUTHENTICATED, CommandContext, CommandError, command

ROOT = ""


def quota_data(account: Account) -> bytes:
    """`QUOTA "" (STORAGE 1200 10240 MESSAGE 30 1000)`: storage in units of 1024 octets."""
    resources = []
    if account.quota:
        resources.append(b"STORAGE %d %d" % ((account.used + 1023) // 1024, account.quota // 1024))
    if account.message_quota:
        resources.append(b"MESSAGE %d %d" % (account.messages, account.message_quota))
    return b'QUOTA "" (' + b" ".join(resources) + b")"


def _limited(account: Account) -> bool:
    return bool(account.quota or account.message_quota)


def _account(ctx: CommandContext) -> Account:
    return ctx.app.store.get_account(ctx.account.id)


@command(ast.GetQuota, AUTHENTICATED)
async def getquota(ctx: CommandContext, cmd: ast.GetQuota) -> None:
    account = _account(ctx)
    if cmd.root != ROOT or not _limited(account):
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
    root = b' ""' if _limited(account) else b""
    ctx.untagged(b"QUOTAROOT " + ctx.mailbox(box.name) + root)
    if _limited(account):
        ctx.untagged(quota_data(account))


@command(ast.SetQuota, AUTHENTICATED)
async def setquota(ctx: CommandContext, cmd: ast.SetQuota) -> None:
    raise CommandError("quotas are set by the administrator", "NOPERM")
