"""CAPABILITY: what this server offers, which depends on the state and on TLS.

Before TLS (unless plaintext logins are allowed, on loopback in development) passwords are
refused: LOGINDISABLED is announced and AUTH=PLAIN is not (RFC 9051 section 6.2.3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..wire import ast
from . import ANY, CommandContext, State, command

if TYPE_CHECKING:
    from ..session import Session

BASE = ["IMAP4rev1", "IMAP4rev2", "LITERAL+", "ENABLE", "ID", "SASL-IR"]
AUTHENTICATED = [
    "IDLE",
    "NAMESPACE",
    "UNSELECT",
    "UIDPLUS",
    "MOVE",
    "CHILDREN",
    "LIST-EXTENDED",
    "LIST-STATUS",
    "SPECIAL-USE",
    "CREATE-SPECIAL-USE",
    "MULTIAPPEND",
    "BINARY",
    "ESEARCH",
    "SEARCHRES",
    "STATUS=SIZE",
    "UTF8=ACCEPT",
]

EXTENSIONS = [
    "COMPRESS=DEFLATE",
    "SORT",
    "SORT=DISPLAY",
    "ESORT",
    "THREAD=ORDEREDSUBJECT",
    "THREAD=REFERENCES",
    "QUOTA",
    "QUOTA=RES-STORAGE",
    "QUOTA=RES-MESSAGE",
    "OBJECTID",
    "WITHIN",
    "SAVEDATE",
    "PREVIEW",
    "REPLACE",
    "NOTIFY",
    "CONDSTORE",
    "QRESYNC",
]  # issue 9: phones and slow links


def capabilities(session: Session) -> list[str]:
    caps = list(BASE)
    state = session.state
    if state.state is State.NOT_AUTHENTICATED:
        if not state.secure and session.starttls_available:
            caps.append("STARTTLS")
        caps.append("AUTH=PLAIN" if state.may_login else "LOGINDISABLED")
    else:
        caps += AUTHENTICATED
        caps.append(f"APPENDLIMIT={session.limits.append}")
        caps += [cap for cap in EXTENSIONS if cap != "COMPRESS=DEFLATE" or not state.compressed]
    return caps


@command(ast.Capability, ANY)
async def capability(ctx: CommandContext, cmd: ast.Capability) -> None:
    ctx.untagged(b"CAPABILITY " + " ".join(ctx.extra["session"].capabilities()).encode("ascii"))
