"""ClamAV over clamd's INSTREAM, against a real clamd (Debian's clamav-daemon) with a local EICAR signature."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arobase.app import App
from arobase.filters.clamav import ScanError, scan

from .conftest import ARTHUR, message, open_app
from .test_pipeline import check

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_MD5 = "44d88612fea8a8f36de82e1278abb02f"  # ClamAV's hash-signature form: md5:size:name


@pytest.fixture(scope="module")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A clamd of its own: a one-signature database (no downloads), a socket in a temporary directory."""
    binary = shutil.which("clamd") or "/usr/sbin/clamd"
    assert Path(binary).exists(), "these tests need clamd (Debian package clamav-daemon)"
    base = tmp_path_factory.mktemp("clamd")
    (base / "db").mkdir()
    (base / "db" / "eicar.hdb").write_text(f"{EICAR_MD5}:{len(EICAR)}:Eicar-Test-Signature\n")
    socket_path = base / "clamd.sock"
    (base / "clamd.conf").write_text(
        f"DatabaseDirectory {base / 'db'}\nLocalSocket {socket_path}\nForeground yes\n"
        f"LogFile {base / 'clamd.log'}\nUser root\n"
    )
    process = subprocess.Popen([binary, "-c", str(base / "clamd.conf")], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not socket_path.exists():
            assert process.poll() is None, (base / "clamd.log").read_text()
            assert time.monotonic() < deadline, "clamd did not start"
            time.sleep(0.1)
        yield f"unix:{socket_path}"
    finally:
        process.terminate()
        process.wait(10)


def test_instream_finds_the_test_signature_and_passes_clean_data(clamd: str) -> None:
    assert scan(clamd, EICAR) == "Eicar-Test-Signature.UNOFFICIAL"
    assert scan(clamd, b"Minutes of the meeting" * 10_000) is None  # several chunks


def test_unreachable_clamd_is_an_error_not_a_clean_verdict(tmp_path: Path) -> None:
    with pytest.raises(ScanError):
        scan(f"unix:{tmp_path / 'none.sock'}", EICAR)
    with pytest.raises(ScanError):
        scan("127.0.0.1:1", EICAR)


def test_pipeline_quarantines_an_infected_attachment(clamd: str, data: Path) -> None:
    app: App = open_app(data, clamav=clamd)
    try:
        arthur = app.accounts.get(ARTHUR)
        raw = message(attachments=[("readme.txt", EICAR, "text/plain"), ("minutes.txt", b"fine", "text/plain")])
        outcome = check(app, raw, arthur)
        assert [(f.filename, f.reason) for f in outcome.findings] == [
            ("readme.txt", "contains a virus (Eicar-Test-Signature.UNOFFICIAL)")
        ]
        assert outcome.verdicts[arthur.id].quarantined == ["readme.txt"]
        assert EICAR not in outcome.content and b"minutes.txt" in outcome.content
        assert not check(app, message(attachments=[("a.txt", b"clean", "text/plain")]), arthur).findings
    finally:
        app.close()


def test_pipeline_fails_rather_than_delivering_unscanned(data: Path, tmp_path: Path) -> None:
    app = open_app(data, clamav=f"unix:{tmp_path / 'down.sock'}")
    try:
        with pytest.raises(ScanError):
            check(app, message(attachments=[("a.txt", b"x", "text/plain")]), app.accounts.get(ARTHUR))
    finally:
        app.close()
