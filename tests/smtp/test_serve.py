"""End to end: `arobase init --demo`, `arobase serve` as a subprocess, submission over STARTTLS, SIGTERM."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

from arobase.config import LISTEN_DEFAULTS, load
from arobase.store import open_store
from arobase.tls import generate_self_signed

ARROBASE = str(Path(sys.executable).parent / "arobase")
DEADLINE = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_accepts_submission_and_stops_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    subprocess.run([ARROBASE, "init", str(data), "--demo"], check=True, capture_output=True, timeout=DEADLINE)
    logins = [line.split() for line in (data / "demo-logins.txt").read_text().splitlines() if line.strip()]
    (sender, password), (recipient, _) = logins[0], logins[1]
    ports = {name: free_port() for name in ("mx", "submission", "submissions")}
    env = {key: value for key, value in os.environ.items() if not key.startswith("AROBASE_")}
    env.update({f"AROBASE_LISTEN_{name.upper()}": "" for name in LISTEN_DEFAULTS})  # other protocols: off
    env.update({f"AROBASE_LISTEN_{name.upper()}": f"127.0.0.1:{port}" for name, port in ports.items()})
    server = subprocess.Popen(
        [ARROBASE, "--data", str(data), "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        table = []
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            assert line, f"serve exited early: {server.stderr.read() if server.stderr else ''}"
            table.append(line)
            if line.startswith("SMTP submissions"):
                break
        assert any(f"127.0.0.1:{ports['submission']}" in row and "STARTTLS" in row for row in table)

        context = ssl.create_default_context(cafile=str(data / "tls" / "cert.pem"))
        with smtplib.SMTP("127.0.0.1", ports["submission"], timeout=DEADLINE) as client:
            client.starttls(context=context)
            client.login(sender, password)
            refused = client.sendmail(sender, [recipient], f"From: {sender}\r\nSubject: e2e\r\n\r\nthrough serve\r\n")
        assert refused == {}

        # SIGHUP: a renewed certificate is served by the next STARTTLS, the process keeps running.
        old_pem = (data / "tls" / "cert.pem").read_text()
        generate_self_signed("mail.example.test", data / "tls" / "cert.pem", data / "tls" / "key.pem")
        new_pem = (data / "tls" / "cert.pem").read_text()
        server.send_signal(signal.SIGHUP)
        assert served_after_reload(ports["mx"], old_pem, new_pem) == ssl.PEM_cert_to_DER_cert(new_pem)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(DEADLINE)
        finally:
            if server.poll() is None:
                server.kill()
    assert server.returncode == 0, server.stderr.read() if server.stderr else ""

    store = open_store(load(data, environ={}))
    try:
        account = next(a for a in store.list_accounts() if a.address == recipient)
        inbox = store.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        [message] = store.list_messages(inbox.id)
        stored = store.read_blob(message.blob)
        assert f"\r\nFrom: {sender}\r\nSubject: e2e\r\nDate: ".encode() in stored  # Date, Message-ID added
        assert b"\r\nMessage-ID: <" in stored and stored.endswith(b"\r\n\r\nthrough serve\r\n")
        assert b"with ESMTPSA" in stored
    finally:
        store.close()


def served_after_reload(port: int, old_pem: str, new_pem: str) -> bytes:
    """The certificate a new STARTTLS gets, retried briefly while the server handles SIGHUP."""
    context = ssl.create_default_context(cadata=old_pem + new_pem)
    deadline = time.monotonic() + DEADLINE
    while True:
        with smtplib.SMTP("127.0.0.1", port, timeout=DEADLINE) as client:
            client.starttls(context=context)
            sock = client.sock
            assert isinstance(sock, ssl.SSLSocket)
            served = sock.getpeercert(binary_form=True)
        assert served is not None
        if served == ssl.PEM_cert_to_DER_cert(new_pem) or time.monotonic() > deadline:
            return served
        time.sleep(0.05)
