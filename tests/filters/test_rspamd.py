"""Rspamd over HTTP /checkv2, against a real rspamd (Debian's package) started with its own ports and directories."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arobase.filters.rspamd import signals
from arobase.filters.verdict import Signal

from .conftest import ARTHUR, message, open_app
from .test_pipeline import check


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def rspamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's configuration, with only the normal worker, on a free port; state in a temporary directory."""
    binary = shutil.which("rspamd") or "/usr/bin/rspamd"
    assert Path(binary).exists(), "these tests need rspamd (Debian package rspamd)"
    base = tmp_path_factory.mktemp("rspamd")
    overrides = base / "conf" / "override.d"
    overrides.mkdir(parents=True)
    port = _free_port()
    (overrides / "worker-normal.inc").write_text(f'bind_socket = "127.0.0.1:{port}";\n')
    (overrides / "worker-controller.inc").write_text("enabled = false;\n")
    (overrides / "worker-proxy.inc").write_text("enabled = false;\n")
    for name in ("db", "run"):
        (base / name).mkdir()
    variables = {"DBDIR": base / "db", "RUNDIR": base / "run", "LOGDIR": base, "LOCAL_CONFDIR": base / "conf"}
    command = [binary, "-f", "-u", "root", "-g", "root", "-c", "/etc/rspamd/rspamd.conf"]
    command += [f"--var={name}={value}" for name, value in variables.items()]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "rspamd exited"
            assert time.monotonic() < deadline, "rspamd did not start"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def _ask(url: str, raw: bytes) -> list[Signal]:
    return asyncio.run(
        signals(url, raw, client_ip="192.0.2.7", helo="mx.example", sender="", recipients=[ARTHUR], hostname="mx")
    )


def test_rspamd_score_becomes_a_signal_naming_its_rules(rspamd: str) -> None:
    (bare,) = _ask(rspamd, b"From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n")  # no Date, no Message-ID
    assert bare.name == "RSPAMD" and bare.score > 0 and "MISSING_MID" in bare.detail
    (usual,) = _ask(rspamd, message())
    assert usual.score < bare.score


def test_unreachable_rspamd_leaves_the_verdict_to_our_checks() -> None:
    assert _ask(f"http://127.0.0.1:{_free_port()}", message()) == []
    assert _ask("https://127.0.0.1:11333", message()) == []  # not a scheme we speak


def test_pipeline_adds_the_rspamd_signal(rspamd: str, data: Path) -> None:
    app = open_app(data, rspamd_url=rspamd)
    try:
        arthur = app.accounts.get(ARTHUR)
        verdict = check(app, message(), arthur).verdicts[arthur.id]
        assert [s.name for s in verdict.signals if s.name == "RSPAMD"] == ["RSPAMD"]
    finally:
        app.close()
