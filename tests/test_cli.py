"""The `arobase` command end to end, through real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

ENV = {k: v for k, v in os.environ.items() if not k.startswith("AROBASE_")}


def arobase(
    data: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arobase", "--data", str(data), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**ENV, **(env or {})},
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("cli") / "var"
    result = arobase(data, "init", str(data), "--demo")
    assert result.returncode == 0, result.stderr
    return data


def test_help_lists_every_command() -> None:
    result = subprocess.run([sys.executable, "-m", "arobase", "--help"], capture_output=True, text=True, timeout=30)
    for command in ["init", "serve", "migrate", "domain", "user", "alias", "quota", "import", "export", "check"]:
        assert command in result.stdout
    user_help = subprocess.run([sys.executable, "-m", "arobase", "user", "--help"], capture_output=True, text=True)
    for action in ["add", "list", "passwd", "remove", "disable", "enable"]:
        assert action in user_help.stdout


def test_init_demo_creates_everything(demo: Path) -> None:
    assert (demo / "arobase.toml").exists()
    assert stat.S_IMODE((demo / "tls" / "key.pem").stat().st_mode) == 0o600
    logins = demo / "demo-logins.txt"
    assert stat.S_IMODE(logins.stat().st_mode) == 0o600
    lines = logins.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["arthur.dupont@example.test", "pierre.durand@example.test"]
    users = json.loads(arobase(demo, "user", "list", "--json").stdout)
    assert [u["address"] for u in users] == ["arthur.dupont@example.test", "pierre.durand@example.test"]
    again = arobase(demo, "init", str(demo))
    assert again.returncode == 1 and "already initialised" in again.stderr


def test_domain_user_alias_quota_lifecycle(demo: Path) -> None:
    assert arobase(demo, "domain", "add", "Exemple-Été.test").returncode == 0
    domains = json.loads(arobase(demo, "domain", "list", "--json").stdout)
    assert {"domain": "exemple-été.test", "a-label": "xn--exemple-t-i4ab.test", "accounts": 0, "aliases": 0} in domains

    created = arobase(demo, "user", "add", "Marie.Curie@exemple-été.test", "--name", "Marie Curie")
    assert created.returncode == 0, created.stderr
    assert "password: " in created.stdout
    typed = arobase(demo, "user", "add", "paul@exemple-été.test", "--password-stdin", stdin="a long password\n")
    assert typed.returncode == 0 and "password:" not in typed.stdout

    duplicate = arobase(demo, "user", "add", "marie.curie@EXEMPLE-ÉTÉ.test", "--password-stdin", stdin="xxxxxxxxxx\n")
    assert duplicate.returncode == 1
    assert duplicate.stderr.startswith("arobase: error:") and "already exists" in duplicate.stderr
    assert "Traceback" not in duplicate.stderr

    assert (
        arobase(
            demo, "alias", "add", "team@exemple-été.test", "paul@exemple-été.test", "marie.curie@exemple-été.test"
        ).returncode
        == 0
    )
    aliases = json.loads(arobase(demo, "alias", "list", "--json").stdout)
    assert aliases == [
        {"alias": "team@exemple-été.test", "targets": ["paul@exemple-été.test", "marie.curie@exemple-été.test"]}
    ]

    assert arobase(demo, "quota", "set", "paul@exemple-été.test", "500M", "--messages", "10000").returncode == 0
    paul = [u for u in json.loads(arobase(demo, "user", "list", "--json").stdout) if u["address"].startswith("paul")]
    assert paul[0]["quota"] == 500 * 1024 * 1024

    table = arobase(demo, "user", "list").stdout.splitlines()
    assert table[0].split() == ["address", "name", "quota", "used", "status"]

    assert arobase(demo, "user", "disable", "paul@exemple-été.test").returncode == 0
    assert "disabled" in arobase(demo, "user", "list").stdout
    assert arobase(demo, "user", "enable", "paul@exemple-été.test").returncode == 0
    assert arobase(demo, "user", "passwd", "paul@exemple-été.test").returncode == 0

    busy = arobase(demo, "domain", "remove", "exemple-été.test")
    assert busy.returncode == 1 and "still has" in busy.stderr
    assert arobase(demo, "alias", "remove", "team@exemple-été.test").returncode == 0
    assert arobase(demo, "user", "remove", "paul@exemple-été.test").returncode == 0
    assert arobase(demo, "user", "remove", "marie.curie@exemple-été.test").returncode == 0
    assert arobase(demo, "domain", "remove", "exemple-été.test").returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["user", "add", "nobody@unknown.test"], "no domain unknown.test"),
        (["user", "add", "not-an-address"], "not-an-address"),
        (["user", "remove", "ghost@example.test"], "no account ghost@example.test"),
        (["alias", "remove", "ghost@example.test"], "no alias ghost@example.test"),
        (["quota", "set", "arthur.dupont@example.test", "lots"], "is not a size"),
        (["domain", "add", "bad..domain"], "bad..domain"),
    ],
)
def test_user_mistakes_are_one_clear_line(demo: Path, args: list[str], message: str) -> None:
    result = arobase(demo, *args)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_configuration_errors_exit_2_for_every_subcommand(demo: Path) -> None:
    for args in (["user", "list"], ["check"], ["serve"], ["migrate"]):
        result = arobase(demo, *args, env={"AROBASE_SMTP_MAX_RECIPIENTS": "many"})
        assert result.returncode == 2, (args, result.stderr)
        assert "AROBASE_SMTP_MAX_RECIPIENTS" in result.stderr and "Traceback" not in result.stderr
    config = demo / "arobase.toml"
    original = config.read_text()
    try:
        config.write_text(original + "\n[smtpd]\nport = 25\n")
        result = arobase(demo, "domain", "list")
        assert result.returncode == 2 and "unknown section [smtpd]" in result.stderr
    finally:
        config.write_text(original)


def test_check_and_migrate(demo: Path) -> None:
    assert arobase(demo, "migrate").stdout.strip() == "store is up to date"
    result = arobase(demo, "check")
    assert result.returncode == 0 and "store: ok" in result.stdout


def test_check_reports_a_corrupted_blob(tmp_path: Path) -> None:
    data = tmp_path / "var"
    assert arobase(data, "init", str(data), "--demo").returncode == 0
    from arobase.config import load
    from arobase.store import open_store

    store = open_store(load(data, environ={}))
    try:
        account = store.find_account("arthur.dupont@example.test")
        blob = store.put_message(b"Subject: precious\r\n\r\n" + b"keep me\r\n" * 20_000)  # large: a file
        store.deliver(blob, [(account.id, "INBOX")]).wait()  # type: ignore[union-attr]
        path = store.blobs.path(blob.hash)
    finally:
        store.close()
    path.write_bytes(b"Subject: tampered\r\n\r\n")
    result = arobase(data, "check")
    assert result.returncode == 1
    assert f"blob {blob.hash}: content does not match its hash" in result.stdout


def test_serve_prints_table_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "var"
    assert arobase(data, "init", str(data), "--demo").returncode == 0
    ports = _free_ports(8)
    names = ["MX", "SUBMISSION", "SUBMISSIONS", "IMAP", "IMAPS", "POP3", "POP3S", "HTTP"]
    env = {**ENV, **{f"AROBASE_LISTEN_{n}": f"127.0.0.1:{p}" for n, p in zip(names, ports, strict=True)}}
    proc = subprocess.Popen(
        [sys.executable, "-m", "arobase", "--data", str(data), "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        output = _read_until(proc, "pierre.durand@example.test", timeout=30)
        assert "service" in output and "Demo logins" in output and "arthur.dupont@example.test" in output
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "stopped cleanly" in stderr


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen = ""
    while marker not in seen:
        assert time.monotonic() < deadline, f"timed out waiting for {marker!r}; got {seen!r}"
        line = proc.stdout.readline()
        assert line, f"server exited: {seen!r} {proc.stderr.read() if proc.stderr else ''}"
        seen += line
    return seen


def _free_ports(count: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports
