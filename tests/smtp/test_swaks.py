"""swaks, a real-world SMTP client (Debian package), against the three listeners with verified TLS."""

from __future__ import annotations

import asyncio

import pytest

from arobase.smtp import Mode

from .conftest import ARTHUR, PASSWORDS, PIERRE, TIMEOUT, Harness


async def swaks(smtp: Harness, mode: Mode, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "swaks",
        "--server",
        "127.0.0.1",
        "--port",
        str(smtp.ports[mode]),
        "--helo",
        "swaks.client.example",
        "--tls-verify",
        "--tls-ca-path",
        str(smtp.cert),
        "--header",
        "Subject: swaks test",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), TIMEOUT)
    transcript = output.decode(errors="replace")
    assert process.returncode == 0, transcript
    return transcript


async def test_swaks_to_mx_with_starttls_and_pipelining(smtp: Harness) -> None:
    transcript = await swaks(smtp, Mode.MX, "--tls", "--pipeline", "--from", "swaks@sender.example", "--to", ARTHUR)
    assert "<-  220 2.0.0 Ready to start TLS" in transcript and "=== TLS started" in transcript
    [stored] = smtp.contents(ARTHUR)
    assert b"with ESMTPS id" in stored and b"Subject: swaks test\r\n" in stored
    assert b"\r\nX-Mailer: swaks" in stored and b"Authentication-Results: mail.example.test;" in stored


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_swaks_submission_with_auth(smtp: Harness, mechanism: str) -> None:
    await swaks(
        smtp,
        Mode.SUBMISSION,
        "--tls",
        "--auth",
        mechanism,
        "--auth-user",
        ARTHUR,
        "--auth-password",
        PASSWORDS[ARTHUR],
        "--from",
        ARTHUR,
        "--header",
        f"From: {ARTHUR}",
        "--to",
        f"{PIERRE},friend@remote.example",
    )
    [stored] = smtp.contents(PIERRE)
    assert f"(authenticated user {ARTHUR})".encode() in stored and b"with ESMTPSA" in stored
    assert [entry.recipient for entry in smtp.app.store.list_outbound()] == ["friend@remote.example"]


async def test_swaks_implicit_tls_submission(smtp: Harness) -> None:
    await swaks(
        smtp,
        Mode.SUBMISSIONS,
        "--tls-on-connect",
        "--auth-user",
        PIERRE,
        "--auth-password",
        PASSWORDS[PIERRE],
        "--from",
        PIERRE,
        "--header",
        f"From: {PIERRE}",
        "--to",
        ARTHUR,
    )
    assert len(smtp.inbox(ARTHUR)) == 1


async def test_swaks_sees_relaying_denied(smtp: Harness) -> None:
    process = await asyncio.create_subprocess_exec(
        "swaks",
        "--server",
        f"127.0.0.1:{smtp.ports[Mode.MX]}",
        "--from",
        "a@sender.example",
        "--to",
        "victim@elsewhere.example",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode != 0
    assert "<** 554 5.7.1 Relay access denied" in output.decode()
