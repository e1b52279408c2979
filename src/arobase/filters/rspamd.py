"""A second opinion from Rspamd over its HTTP protocol (`/checkv2`), off by default.

Set `[filters] rspamd_url` to the normal worker ("http://127.0.0.1:11333"). The message goes with
what SMTP knows (client IP, HELO, envelope sender and recipients); Rspamd's score becomes the
`RSPAMD` signal, its strongest rules named in the detail. Rspamd adds to our checks and does not
replace them, so when it cannot answer the message is judged without it (logged), not refused.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from .verdict import Signal

log = logging.getLogger("arobase.filters")
TIMEOUT = 10.0  # seconds for the whole exchange
MAX_RESPONSE = 4 * 1024 * 1024


async def signals(
    url: str,
    message: bytes,
    *,
    client_ip: str,
    helo: str,
    sender: str,
    recipients: Sequence[str],
    hostname: str,
    timeout: float = TIMEOUT,
) -> list[Signal]:
    """Rspamd's verdict as a signal; none when Rspamd is unreachable or answers nonsense."""
    fields = {"IP": client_ip, "Helo": helo, "From": sender, "MTA-Name": hostname}
    try:
        reply = await asyncio.wait_for(_post(url, message, fields, recipients), timeout)
        score = float(reply["score"])
        symbols = reply.get("symbols") or {}
        named = sorted(
            ((name, float(s.get("score", 0.0))) for name, s in symbols.items() if isinstance(s, dict)),
            key=lambda item: -abs(item[1]),
        )
    except (OSError, TimeoutError, ValueError, KeyError, TypeError) as e:
        log.warning("rspamd at %s gave no verdict: %s", url, e or type(e).__name__)
        return []
    strongest = ", ".join(f"{name} {points:+.1f}" for name, points in named[:5] if points)
    detail = f"Rspamd scores it {score:.1f}" + (f" ({strongest})" if strongest else "")
    return [Signal("RSPAMD", round(score, 2), detail)]


async def _post(url: str, message: bytes, fields: dict[str, str], recipients: Sequence[str]) -> dict[str, Any]:
    """One HTTP/1.1 POST to /checkv2 with Connection: close; the decoded JSON reply."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"rspamd_url must be http://host[:port], not {url!r}")
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 11333)
    try:
        path = parts.path.rstrip("/") + "/checkv2"
        lines = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(message)}"]
        lines.append("Connection: close")
        lines += [f"{name}: {_clean(value)}" for name, value in fields.items() if value]
        lines += [f"Rcpt: {_clean(r)}" for r in recipients]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + message)
        await writer.drain()
        response = await reader.read(MAX_RESPONSE)
        while chunk := await reader.read(MAX_RESPONSE):
            response += chunk
    finally:
        writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or status[1] != b"200":
        raise ValueError(f"HTTP status {b' '.join(status[1:]).decode('latin-1') or 'missing'}")
    if b"transfer-encoding: chunked" in head.lower():
        body = _unchunk(body)
    return json.loads(body)


def _unchunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out


def _clean(value: str) -> str:
    return "".join(c for c in value if c.isprintable())
