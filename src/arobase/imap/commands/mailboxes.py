"""CREATE (with CREATE-SPECIAL-USE), DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE.

Every mailbox an account can name is its own: the store looks names up within the account, so
`..`, `~user`, `/absolute` or `%` cannot reach anyone else's. Such names are still refused at
creation, so that they never exist to confuse a client (or a human reading LIST).
"""

from __future__ import annotations

from ...store import DELIMITER, InvalidOperation, normalize_mailbox_name
from ..wire import ast
from . import AUTHENTICATED, CommandContext, CommandError, command

SPECIAL_USES = {u.upper(): u for u in ("\\Archive", "\\Drafts", "\\Junk", "\\Sent", "\\Trash")}


def valid_name(name: str) -> str:
    """The store's form of a name a client wants to create; CommandError if it is not acceptable."""
    parts = name.split(DELIMITER)
    if any(part in (".", "..") for part in parts) or name.startswith("~"):
        raise CommandError(f"{name!r} is not a valid mailbox name", "CANNOT")
    if "%" in name or "*" in name:
        raise CommandError("mailbox names cannot contain % or *", "CANNOT")
    try:
        return normalize_mailbox_name(name)
    except InvalidOperation as e:
        raise CommandError(str(e), "CANNOT") from None


@command(ast.Create, AUTHENTICATED)
async def create(ctx: CommandContext, cmd: ast.Create) -> None:
    name = cmd.mailbox[:-1] if cmd.mailbox.endswith(DELIMITER) else cmd.mailbox  # "a/" declares a parent
    name = valid_name(name)
    if name == "INBOX":
        raise CommandError("INBOX always exists", "ALREADYEXISTS")
    special = None
    if cmd.special_use:
        uses = {use.upper() for use in cmd.special_use}
        if len(uses) > 1 or not uses <= SPECIAL_USES.keys():
            raise CommandError("unsupported special use", "USEATTR")
        special = SPECIAL_USES[uses.pop()]
    await ctx.app.store.create_mailbox(ctx.account.id, name, special)


@command(ast.Delete, AUTHENTICATED)
async def delete(ctx: CommandContext, cmd: ast.Delete) -> None:
    name = _existing_name(cmd.mailbox)
    if name == "INBOX":
        raise CommandError("INBOX cannot be deleted", "CANNOT")
    await ctx.app.store.delete_mailbox(ctx.account.id, name)


@command(ast.Rename, AUTHENTICATED)
async def rename(ctx: CommandContext, cmd: ast.Rename) -> None:
    old = _existing_name(cmd.old)
    new = valid_name(cmd.new)
    if new == "INBOX":
        raise CommandError("INBOX already exists", "ALREADYEXISTS")
    if ctx.app.store.get_mailbox(ctx.account.id, old) is None:
        raise CommandError(f"no mailbox {cmd.old}", "NONEXISTENT")
    await ctx.app.store.rename_mailbox(ctx.account.id, old, new)


@command(ast.Subscribe, AUTHENTICATED)
async def subscribe(ctx: CommandContext, cmd: ast.Subscribe) -> None:
    await ctx.app.store.set_subscribed(ctx.account.id, _existing_name(cmd.mailbox), True)


@command(ast.Unsubscribe, AUTHENTICATED)
async def unsubscribe(ctx: CommandContext, cmd: ast.Unsubscribe) -> None:
    await ctx.app.store.set_subscribed(ctx.account.id, _existing_name(cmd.mailbox), False)


def _existing_name(name: str) -> str:
    try:
        return normalize_mailbox_name(name)
    except InvalidOperation:
        raise CommandError(f"no mailbox {name}", "NONEXISTENT") from None
