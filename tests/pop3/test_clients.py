"""Real POP3 clients from Debian against the listeners, with verified TLS: fetchmail and getmail6."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import tempfile
from pathlib import Path

from arobase.pop3 import wire

from .conftest import ARTHUR, HOSTNAME, PASSWORDS, TIMEOUT, Harness, sample

MESSAGES = [
    sample(1),
    sample(2, b".a line starting with a dot\r\n..and two\r\n.\r\nend\r\n"),
    b"Subject: bare LF, no final newline\n\nline one\nline two",
    sample(4, b"".join(b"%05d " % i + b"y" * 72 + b"\r\n" for i in range(2500))),  # > 128 kB: a blob file
]


async def run(*args: str, home: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *args,
        env={**os.environ, "HOME": str(home)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), 3 * TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


def fetchmailrc(pop3: Harness, tmp_path: Path, out: Path, *, implicit_tls: bool, keep: bool) -> Path:
    """A fetchmailrc (mode 0600, as fetchmail demands) delivering each message to its own file."""
    mda = tmp_path / "mda.sh"
    mda.write_text(f'#!/bin/sh\nf=$(mktemp {out}/msg.XXXXXX)\ncat > "$f"\n')
    mda.chmod(0o755)
    port = pop3.ports["pop3s" if implicit_tls else "pop3"]
    tls = "ssl" if implicit_tls else 'sslproto "tls1.2+"'  # without ssl, sslproto forces STLS
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        "set no bouncemail\n"
        f"poll 127.0.0.1 with proto POP3 port {port}{' uidl' if keep else ''}\n"
        f'  user "{ARTHUR}" there with password "{PASSWORDS[ARTHUR]}" is "{os.environ.get("USER", "root")}" here\n'
        f'  options {tls} sslcertck sslcommonname "{HOSTNAME}" sslcertfile "{pop3.cert}"\n'
        f'  norewrite no stripcr {"keep" if keep else "nokeep"} mda "{mda}"\n'
    )
    rc.chmod(0o600)
    return rc


async def fetchmail(rc: Path, tmp_path: Path) -> tuple[int, str]:
    return await run(
        "fetchmail", "-v", "-N", "--nosyslog", "--invisible", "-f", str(rc), "-i", str(tmp_path / "ids"), home=tmp_path
    )


def delivered(out: Path) -> list[bytes]:
    return sorted(path.read_bytes() for path in out.iterdir())


async def test_fetchmail_delete_mode_over_stls(pop3: Harness, tmp_path: Path) -> None:
    for raw in MESSAGES:
        pop3.deliver(raw)
    out = tmp_path / "out"
    out.mkdir()
    status, transcript = await fetchmail(fetchmailrc(pop3, tmp_path, out, implicit_tls=False, keep=False), tmp_path)
    assert status == 0, transcript
    assert "POP3> STLS" in transcript and "POP3< +OK Bye, 4 messages deleted" in transcript
    assert delivered(out) == sorted(wire.to_wire(raw) for raw in MESSAGES)  # byte-identical
    assert pop3.messages() == []


async def test_fetchmail_keep_mode_fetches_only_new_messages(pop3: Harness, tmp_path: Path) -> None:
    for raw in MESSAGES[:3]:
        pop3.deliver(raw)
    out = tmp_path / "out"
    out.mkdir()
    rc = fetchmailrc(pop3, tmp_path, out, implicit_tls=True, keep=True)
    status, transcript = await fetchmail(rc, tmp_path)
    assert status == 0, transcript
    assert delivered(out) == sorted(wire.to_wire(raw) for raw in MESSAGES[:3])
    assert len(pop3.messages()) == 3 and "DELE" not in transcript

    status, transcript = await fetchmail(rc, tmp_path)
    assert status == 1, transcript  # 1: no new mail
    assert len(list(out.iterdir())) == 3

    pop3.deliver(MESSAGES[3])
    for path in out.iterdir():
        path.unlink()
    status, transcript = await fetchmail(rc, tmp_path)
    assert status == 0, transcript
    assert delivered(out) == [wire.to_wire(MESSAGES[3])]
    assert len(pop3.messages()) == 4


async def test_getmail_read_all_false_relies_on_uidl(pop3: Harness, tmp_path: Path) -> None:
    # getmail always rewrites Return-Path at the top: give it one so the rest is compared byte for byte.
    messages = [b"Return-Path: <sender@remote.example>\r\n" + raw for raw in MESSAGES]
    for raw in messages[:3]:
        pop3.deliver(raw)
    # getmail refuses to deliver as root: then it delivers as nobody, into a directory nobody owns.
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="arobase-getmail-")) if as_root else tmp_path
    maildir = base / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    if as_root:
        nobody = pwd.getpwnam("nobody")
        for path in (base, maildir, *(maildir / sub for sub in ("new", "cur", "tmp"))):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
    state = tmp_path / "getmail"
    state.mkdir()
    rc = tmp_path / "getmailrc"
    rc.write_text(
        "[retriever]\n"
        "type = SimplePOP3SSLRetriever\n"
        f"server = 127.0.0.1\nport = {pop3.ports['pop3s']}\n"
        f"username = {ARTHUR}\npassword = {PASSWORDS[ARTHUR]}\n"
        f"ca_certs = {pop3.cert}\nssl_cert_hostname = {HOSTNAME}\n"
        "[destination]\n"
        f"type = Maildir\npath = {maildir}/\n{'user = nobody' if as_root else ''}\n"
        "[options]\n"
        "read_all = false\ndelete = false\ndelivered_to = false\nreceived = false\nverbose = 2\n"
    )

    async def getmail() -> list[bytes]:
        status, transcript = await run("getmail", f"--getmaildir={state}", f"--rcfile={rc}", home=tmp_path)
        assert status == 0, transcript
        got = sorted(path.read_bytes() for path in (maildir / "new").iterdir())
        for path in (maildir / "new").iterdir():
            path.unlink()
        return got

    def lf(raw: bytes) -> bytes:
        return wire.to_wire(raw).replace(b"\r\n", b"\n")

    try:
        assert await getmail() == sorted(lf(raw) for raw in messages[:3])  # Maildir files use LF
        assert await getmail() == []
        pop3.deliver(messages[3])
        assert await getmail() == [lf(messages[3])]
        assert len(pop3.messages()) == 4
    finally:
        if as_root:
            shutil.rmtree(base, ignore_errors=True)
