"""POP3 (RFC 1939) with CAPA, STLS, SASL PLAIN and response codes, over INBOX only.

`wire` (line framing, replies, the CRLF and dot-stuffed message form) and `session` (the
AUTHORIZATION/TRANSACTION/UPDATE state machine) are sans-I/O and tested byte for byte;
`maildrop` talks to the store; `server` is the asyncio listener that joins them.
"""

from .server import Settings, open_pop3, start_listener

__all__ = ["Settings", "open_pop3", "start_listener"]
