"""Virus scanning of attachments by ClamAV's clamd, over its INSTREAM command (off by default).

Set `[filters] clamav` to clamd's socket: "unix:/run/clamav/clamd.ctl" or "host:3310". Each
attachment's decoded bytes are streamed in chunks; a signature found makes the attachment
dangerous, so the domain's attachment policy (quarantine, reject, deliver) applies. When clamd
cannot answer (down, timeout, size limit), the scan raises and the message gets a temporary
failure: it is retried later rather than delivered unscanned.
"""

from __future__ import annotations

import socket
import struct

CHUNK = 64 * 1024  # bytes per INSTREAM chunk
MAX_REPLY = 4096


class ScanError(Exception):
    """clamd did not give a verdict."""


def _connect(address: str, timeout: float) -> socket.socket:
    if address.startswith("unix:"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target: str | tuple[str, int] = address.removeprefix("unix:")
    else:
        host, _, port = address.rpartition(":")
        sock = socket.socket(socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET, socket.SOCK_STREAM)
        target = (host.strip("[]") or "127.0.0.1", int(port or 3310))
    sock.settimeout(timeout)
    try:
        sock.connect(target)
    except OSError:
        sock.close()
        raise
    return sock


def scan(address: str, data: bytes, timeout: float = 30.0) -> str | None:
    """The name of the signature clamd finds in `data`, or None when it finds none. Blocking."""
    try:
        with _connect(address, timeout) as sock:
            sock.sendall(b"zINSTREAM\0")
            view = memoryview(data)
            for start in range(0, len(data), CHUNK):
                chunk = view[start : start + CHUNK]
                sock.sendall(struct.pack(">I", len(chunk)) + chunk)
            sock.sendall(struct.pack(">I", 0))
            reply = b""
            while not reply.endswith(b"\0") and len(reply) < MAX_REPLY:
                received = sock.recv(MAX_REPLY)
                if not received:
                    break
                reply += received
    except (OSError, ValueError) as e:
        raise ScanError(f"clamd at {address}: {e}") from e
    text = reply.rstrip(b"\0").decode("utf-8", "replace").strip()
    if text.endswith(" FOUND"):
        return text.removeprefix("stream:").removesuffix(" FOUND").strip()
    if text.endswith(" OK"):
        return None
    raise ScanError(f"clamd at {address}: {text or 'no answer'}")
