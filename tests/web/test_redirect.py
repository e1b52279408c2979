"""Port 80 in production: every request goes to HTTPS, nothing is served in the clear."""

from __future__ import annotations

import asyncio

from tests.dnsserver import unused_port

from arobase.web.redirect import open_http_redirect, redirect_response


def test_request_is_redirected_to_the_same_path_over_https() -> None:
    head = b"GET /msg/3/14?x=1 HTTP/1.1\r\nHost: Mail.Example.TEST:80\r\nAccept: */*\r\n\r\n"
    reply = redirect_response(head, "mail.example.test")
    assert reply.startswith(b"HTTP/1.1 301 Moved Permanently\r\n")
    assert b"\r\nLocation: https://mail.example.test/msg/3/14?x=1\r\n" in reply


def test_the_target_is_always_our_host_name() -> None:
    for head in (b"GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n", b"GET //evil.example/x HTTP/1.1\r\n\r\n"):
        assert b"Location: https://mail.example.test/\r\n" in redirect_response(head, "mail.example.test")


def test_garbage_gets_400() -> None:
    assert redirect_response(b"hello\r\n\r\n", "h.test").startswith(b"HTTP/1.1 400 ")
    assert redirect_response(b"", "h.test").startswith(b"HTTP/1.1 400 ")


def test_listener_answers_a_real_connection(config) -> None:  # type: ignore[no-untyped-def]
    from arobase.app import App
    from arobase.config import load

    async def scenario() -> bytes:
        port = unused_port()
        app = App.open(load(config.data_dir, environ={"AROBASE_LISTEN_HTTP_REDIRECT": f"127.0.0.1:{port}"}))
        try:
            (endpoint,) = await open_http_redirect(app)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /login HTTP/1.1\r\nHost: mail.example.test\r\n\r\n")
            reply = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            endpoint.server.close()
            return reply
        finally:
            app.close()

    reply = asyncio.run(scenario())
    assert reply.startswith(b"HTTP/1.1 301 ") and b"Location: https://mail.example.test/login" in reply
