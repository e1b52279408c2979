"""LIST (RFC 9051, LIST-EXTENDED RFC 5258, SPECIAL-USE RFC 6154, LIST-STATUS RFC 5819) and LSUB.

Patterns: `*` matches anything, `%` anything but the delimiter; the reference is prefixed to the
pattern. INBOX is case-insensitive, so `inbox`, `Inb%` and `INBOX/*` find it. Only the logged-in
account's mailboxes are ever considered. Every response carries \\HasChildren or \\HasNoChildren
(CHILDREN) and the special-use attribute; \\Subscribed when asked for or selected on.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ...store import DELIMITER, Mailbox
from ..wire import ast
from . import AUTHENTICATED, CommandContext, command
from .status import status_data

_DELIM = DELIMITER.encode("ascii")


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "%":
            parts.append(f"[^{re.escape(DELIMITER)}]*")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def matches(pattern: str, name: str) -> bool:
    """Does mailbox `name` match the LIST pattern? The INBOX part of a name matches in any case."""
    regex = compile_pattern(pattern)
    if regex.fullmatch(name):
        return True
    if name != "INBOX" and not name.startswith("INBOX" + DELIMITER):
        return False
    rest = name[5:]
    spellings = {"inbox", "Inbox", pattern[:5]} if pattern[:5].upper() == "INBOX" else {"inbox", "Inbox"}
    return any(regex.fullmatch(spelling + rest) for spelling in spellings)


def _full_pattern(reference: str, pattern: str) -> str:
    """The reference names a level of the hierarchy; the pattern is read relative to it."""
    return reference + pattern


@command(ast.List, AUTHENTICATED)
async def list_(ctx: CommandContext, cmd: ast.List) -> None:
    if not cmd.extended and cmd.patterns == ("",):
        ctx.untagged(b'LIST (\\Noselect) "/" ""')
        return
    boxes = ctx.app.store.list_mailboxes(ctx.account.id)
    by_name = {box.name: box for box in boxes}
    with_children = _parents_of(boxes)
    patterns = [_full_pattern(cmd.reference, p) for p in cmd.patterns if p or cmd.extended]
    selection = cmd.selection
    subscribed_only = "SUBSCRIBED" in selection
    special_only = "SPECIAL-USE" in selection
    recursive = "RECURSIVEMATCH" in selection
    show_subscribed = subscribed_only or "SUBSCRIBED" in cmd.returns
    show_special = True  # harmless in every LIST, and what most clients expect
    subscribed_children = _parents_of([b for b in boxes if b.subscribed]) if recursive else set()
    for box in boxes:
        if not any(matches(p, box.name) for p in patterns):
            continue
        child_info: list[bytes] = []
        if subscribed_only and not box.subscribed:
            if box.name not in subscribed_children:
                continue
            child_info.append(b'"SUBSCRIBED"')
        if special_only and not box.special_use:
            continue
        attributes = []
        if not box.selectable:
            attributes.append("\\Noselect")
        attributes.append("\\HasChildren" if box.name in with_children else "\\HasNoChildren")
        if show_subscribed and box.subscribed:
            attributes.append("\\Subscribed")
        if show_special and box.special_use:
            attributes.append(box.special_use)
        line = b"LIST (" + " ".join(attributes).encode("ascii") + b') "' + _DELIM + b'" ' + ctx.mailbox(box.name)
        if child_info:
            line += b' ("CHILDINFO" (' + b" ".join(child_info) + b"))"
        ctx.untagged(line)
        if cmd.status is not None and box.selectable:
            current = by_name[box.name]
            ctx.untagged(b"STATUS " + status_data(ctx, current, cmd.status))


@command(ast.Lsub, AUTHENTICATED)
async def lsub(ctx: CommandContext, cmd: ast.Lsub) -> None:
    if cmd.pattern == "":
        ctx.untagged(b'LSUB (\\Noselect) "/" ""')
        return
    pattern = _full_pattern(cmd.reference, cmd.pattern)
    boxes = ctx.app.store.list_mailboxes(ctx.account.id)
    subscribed = {box.name for box in boxes if box.subscribed}
    shown: set[str] = set()
    for box in boxes:
        if box.name in subscribed and matches(pattern, box.name):
            ctx.untagged(b'LSUB () "/" ' + ctx.mailbox(box.name))
            shown.add(box.name)
    if "%" in pattern:  # a % that stops at an unsubscribed parent of a subscribed child shows it \Noselect
        for name in sorted(_parents_of([b for b in boxes if b.subscribed]) - shown - subscribed):
            if matches(pattern, name):
                ctx.untagged(b'LSUB (\\Noselect) "/" ' + ctx.mailbox(name))


def _parents_of(boxes: list[Mailbox]) -> set[str]:
    parents: set[str] = set()
    for box in boxes:
        parts = box.name.split(DELIMITER)
        for depth in range(1, len(parts)):
            parents.add(DELIMITER.join(parts[:depth]))
    return parents
