"""`arobase serve` as a subprocess: the webmail listener answers, and SIGTERM stops it with exit 0.

SIGTERM is also sent while the server is still starting (1 to 4 s after launch), where uvicorn and
the other listeners are half up: the process must still stop cleanly rather than die or hang.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from arobase.config import LISTEN_DEFAULTS

ARROBASE = str(Path(sys.executable).parent / "arobase")
DEADLINE = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(data: Path) -> tuple[subprocess.Popen[str], int]:
    """`serve` with only the webmail on a free loopback port (plain HTTP: loopback means no TLS)."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AROBASE_")}
    env.update({f"AROBASE_LISTEN_{name.upper()}": "" for name in LISTEN_DEFAULTS})
    env["AROBASE_LISTEN_HTTP"] = f"127.0.0.1:{port}"
    process = subprocess.Popen(
        [ARROBASE, "--data", str(data), "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, port


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGTERM, then the exit status and stderr."""
    process.send_signal(signal.SIGTERM)
    return finish(process)


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    """The exit status and stderr of a process told to stop (killed, and the test failed, if it hangs)."""
    try:
        _, stderr = process.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
        raise AssertionError(f"serve did not stop within {DEADLINE} s of SIGTERM: {stderr}") from None
    return process.returncode, stderr


def get(port: int, path: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def wait_for_login_page(process: subprocess.Popen[str], port: int) -> str:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        assert process.poll() is None, f"serve exited early: {process.communicate()[1]}"
        try:
            status, body = get(port, "/login")
        except OSError:
            time.sleep(0.1)
            continue
        assert status == 200
        return body
    raise AssertionError("the webmail never answered")


def test_serve_answers_login_page_and_stops_cleanly_on_sigterm(data_dir: Path) -> None:
    process, port = start(data_dir)
    try:
        body = wait_for_login_page(process, port)
        assert 'name="password"' in body and 'name="token"' in body
        assert get(port, "/mail/INBOX")[0] == 303  # signed out: sent to the login form
    finally:
        code, stderr = stop(process)
    assert code == 0, stderr
    assert "stopped cleanly" in stderr


def test_serve_stops_cleanly_on_early_sigterm(web_template: Path, tmp_path: Path) -> None:
    """Four servers launched together, stopped 1, 2, 3 and 4 s after launch: all exit 0."""
    delays = (1.0, 2.0, 3.0, 4.0)
    dirs = [Path(shutil.copytree(web_template, tmp_path / f"data{i}")) for i in range(len(delays))]
    launched = time.monotonic()
    processes = [start(data)[0] for data in dirs]
    try:
        for process, delay in zip(processes, delays, strict=True):  # each on time, whatever the others do
            time.sleep(max(0.0, launched + delay - time.monotonic()))
            process.send_signal(signal.SIGTERM)
        results = [finish(process) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    for delay, (code, stderr) in zip(delays, results, strict=True):
        assert code == 0, f"SIGTERM {delay} s after launch: exit {code}\n{stderr}"
