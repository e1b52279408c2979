"""IMAP4rev1 and IMAP4rev2 (RFC 3501, RFC 9051) for Arobase.

Layout, one idea per file:

- `wire/`: the protocol's bytes, without I/O or state.
  `receiver.py` cuts the byte stream into complete commands (literals `{n}`, `{n+}`, `~{n}`,
  continuation requests, size limits); `parser.py` turns one command into a typed object from
  `ast.py`; `responses.py` writes responses (atoms, quoted strings or literals, flags, dates);
  `utf7.py` is modified UTF-7 for mailbox names.
- `session.py`: the sans-I/O state machine of one connection (not authenticated, authenticated,
  selected, logout): bytes in, bytes out, plus requests to the transport (start TLS, close,
  wait for IDLE's DONE). It dispatches commands to `commands/`.
- `commands/`: one module per command or family, each registering handlers in
  `commands.HANDLERS` (the contract is in `commands/__init__.py`).
- `view.py`: the selected mailbox as a session sees it (UIDs, sequence numbers, pending updates);
  `fetch.py` and `search.py`: the work behind FETCH and SEARCH.
- `server.py`: the asyncio transport: the imap (STARTTLS) and imaps (implicit TLS) listeners,
  connection limits, timeouts.
"""
