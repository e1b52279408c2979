"""COMPRESS=DEFLATE (RFC 4978): the session's answers, then the real listener spoken to through zlib."""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections.abc import AsyncIterator

import pytest
from tests.imap.conftest import ARTHUR, MESSAGE, PASSWORDS, TIMEOUT, Driver, client_context

from arobase.app import App
from arobase.imap.server import Connections, start_listener
from arobase.imap.session import Limits, Request


async def test_compress_answers(logged_in: Driver) -> None:
    assert b"COMPRESS=DEFLATE" in (await logged_in.cmd("c CAPABILITY"))[0]
    assert (await logged_in.cmd("a COMPRESS LZW")) == [b"a BAD unknown compression mechanism LZW"]
    assert (await logged_in.cmd("b COMPRESS DEFLATE")) == [b"b OK DEFLATE active"]
    assert logged_in.session.take_requests() == [Request.COMPRESS]
    assert logged_in.session.compression_started() == b""
    assert b"COMPRESS=DEFLATE" not in (await logged_in.cmd("c CAPABILITY"))[0]
    assert (await logged_in.cmd("d COMPRESS DEFLATE")) == [b"d NO [COMPRESSIONACTIVE] DEFLATE is already active"]


async def test_compress_not_before_login(driver: Driver) -> None:
    assert (await driver.cmd("a COMPRESS DEFLATE"))[0].startswith(b"a BAD COMPRESS is not allowed")


async def test_compress_stops_processing_and_returns_the_rest(logged_in: Driver) -> None:
    """Bytes after COMPRESS in the same read are deflated: the session leaves them to the transport."""
    rest = zlib.compressobj(6, zlib.DEFLATED, -15)
    tail = rest.compress(b"n NOOP\r\n") + rest.flush(zlib.Z_SYNC_FLUSH)
    out = await logged_in.send(b"b COMPRESS DEFLATE\r\n" + tail)
    assert out == b"b OK DEFLATE active\r\n"
    assert logged_in.session.compression_started() == tail


class DeflateClient:
    """A raw IMAP client speaking deflate after COMPRESS, as a phone client would."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.deflate: tuple[zlib._Compress, zlib._Decompress] | None = None
        self.buffer = b""
        self.wire_in = 0

    def send(self, data: bytes) -> None:
        if self.deflate is not None:
            data = self.deflate[0].compress(data) + self.deflate[0].flush(zlib.Z_SYNC_FLUSH)
        self.writer.write(data)

    async def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            data = await asyncio.wait_for(self.reader.read(65536), TIMEOUT)
            assert data, "connection closed"
            self.wire_in += len(data)
            self.buffer += self.deflate[1].decompress(data) if self.deflate is not None else data
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    async def until(self, tag: bytes) -> list[bytes]:
        lines = []
        while True:
            lines.append(await self.line())
            if lines[-1].startswith(tag + b" "):
                return lines

    def start(self) -> None:
        """Deflate from now on; what was read past the tagged OK was already deflated."""
        self.deflate = (zlib.compressobj(6, zlib.DEFLATED, -15), zlib.decompressobj(-15))
        self.buffer = self.deflate[1].decompress(self.buffer)


@pytest.fixture
async def imaps(imap_app: App) -> AsyncIterator[tuple[int, ssl.SSLContext]]:
    limits = Limits(append=200_000, idle_timeout=30.0)
    server = await start_listener(imap_app, "127.0.0.1", 0, implicit_tls=True, limits=limits, connections=Connections())
    yield server.sockets[0].getsockname()[1], client_context(imap_app)
    server.close()
    await asyncio.wait_for(server.wait_closed(), TIMEOUT)


async def _connect(port: int, context: ssl.SSLContext) -> DeflateClient:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=context), TIMEOUT)
    client = DeflateClient(reader, writer)
    assert (await client.line()).startswith(b"* OK")
    client.send(f'L LOGIN {ARTHUR} "{PASSWORDS[ARTHUR]}"\r\n'.encode())
    assert (await client.until(b"L"))[-1].startswith(b"L OK")
    return client


async def test_deflate_over_tls_with_literal_append_and_idle(imaps: tuple[int, ssl.SSLContext]) -> None:
    port, context = imaps
    client = await _connect(port, context)
    client.send(b"z COMPRESS DEFLATE\r\n")
    assert await client.until(b"z") == [b"z OK DEFLATE active"]
    client.start()
    # a synchronizing literal: the continuation request comes back deflated
    client.send(b"a APPEND INBOX (\\Seen) {%d}\r\n" % len(MESSAGE))
    assert (await client.line()).startswith(b"+ ")
    client.send(MESSAGE + b"\r\n")
    assert (await client.until(b"a"))[-1].startswith(b"a OK [APPENDUID")
    # pipelined commands and a non-synchronizing literal in one deflated write
    client.send(b"b APPEND INBOX {%d+}\r\n%s\r\nc SELECT INBOX\r\n" % (len(MESSAGE), MESSAGE))
    assert (await client.until(b"b"))[-1].startswith(b"b OK")
    selected = await client.until(b"c")
    assert b"* 2 EXISTS" in selected and selected[-1].startswith(b"c OK [READ-WRITE]")
    client.send(b"d IDLE\r\n")
    assert await client.line() == b"+ idling"
    other = await _connect(port, context)
    other.send(b"o APPEND INBOX {%d+}\r\n%s\r\n" % (len(MESSAGE), MESSAGE))
    assert (await other.until(b"o"))[-1].startswith(b"o OK")
    assert await client.line() == b"* 3 EXISTS"  # pushed during IDLE, deflated and flushed at once
    assert await client.line() == b"* 1 RECENT"
    client.send(b"DONE\r\n")
    assert await client.until(b"d") == [b"d OK IDLE terminated"]
    before = client.wire_in
    client.send(b"f FETCH 1:3 (ENVELOPE BODYSTRUCTURE FLAGS)\r\n")
    fetched = await client.until(b"f")
    assert len(fetched) == 4 and fetched[-1] == b"f OK FETCH completed"
    plain = sum(len(line) + 2 for line in fetched)
    assert client.wire_in - before < plain / 2  # repeated envelopes compress well
    client.send(b"g LOGOUT\r\n")
    assert (await client.until(b"g"))[-1] == b"g OK LOGOUT completed"
    for c in (client, other):
        c.writer.close()


async def test_compress_with_bytes_pipelined_behind_it(imaps: tuple[int, ssl.SSLContext]) -> None:
    port, context = imaps
    client = await _connect(port, context)
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    client.writer.write(b"z COMPRESS DEFLATE\r\n" + packer.compress(b"n NOOP\r\n") + packer.flush(zlib.Z_SYNC_FLUSH))
    assert await client.until(b"z") == [b"z OK DEFLATE active"]
    client.start()
    assert await client.until(b"n") == [b"n OK NOOP completed"]
    client.writer.close()


async def test_corrupt_deflate_stream_closes_the_connection(imaps: tuple[int, ssl.SSLContext]) -> None:
    port, context = imaps
    client = await _connect(port, context)
    client.send(b"z COMPRESS DEFLATE\r\n")
    await client.until(b"z")
    client.writer.write(b"\xff\xff\xff\xff garbage")
    assert await asyncio.wait_for(client.reader.read(), TIMEOUT) == b""
    client.writer.close()


async def test_deflate_after_starttls(imap_app: App) -> None:
    server = await start_listener(imap_app, "127.0.0.1", 0, implicit_tls=False, connections=Connections())
    try:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        client = DeflateClient(reader, writer)
        assert (await client.line()).startswith(b"* OK")
        client.send(b"t STARTTLS\r\n")
        assert await client.until(b"t") == [b"t OK Begin TLS negotiation now"]
        await asyncio.wait_for(writer.start_tls(client_context(imap_app)), TIMEOUT)
        client.send(f'L LOGIN {ARTHUR} "{PASSWORDS[ARTHUR]}"\r\nz COMPRESS DEFLATE\r\n'.encode())
        assert (await client.until(b"L"))[-1].startswith(b"L OK")
        assert await client.until(b"z") == [b"z OK DEFLATE active"]
        client.start()
        client.send(b"s SELECT INBOX\r\nc CAPABILITY\r\n")
        assert (await client.until(b"s"))[-1].startswith(b"s OK")
        caps = await client.until(b"c")
        assert b"COMPRESS=DEFLATE" not in caps[0] and caps[0].startswith(b"* CAPABILITY IMAP4rev1")
        writer.close()
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)
