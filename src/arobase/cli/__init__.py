"""The `arobase` command line.

Importing the commands takes about a second on a small machine; a SIGTERM or SIGINT sent to
`arobase serve` in that time would kill it with the default action. So, when this process is
`arobase serve`, stop signals are recorded from here on, and `serve` acts on them once running.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType

EARLY_STOPS: list[int] = []


def _record(signum: int, _frame: FrameType | None) -> None:
    EARLY_STOPS.append(signum)


def _is_serve_command(argv: list[str]) -> bool:
    """`arobase [--data DIR] serve`: the command is the first argument that is not an option."""
    program = Path(argv[0]) if argv else Path()
    if not (program.name == "arobase" or (program.name == "__main__.py" and program.parent.name == "arobase")):
        return False
    args = iter(argv[1:])
    for arg in args:
        if arg == "--data":
            next(args, None)
        elif not arg.startswith("-"):
            return arg == "serve"
    return False


if _is_serve_command(sys.argv):
    for _sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(_sig, _record)
