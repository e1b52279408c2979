"""A fresh `arobase serve` on loopback high ports, configured for the comparison by environment variables.

Parity with the classic pair: fsync stays on (Dovecot fsyncs too), the content filters are off by
default (Postfix + Dovecot run none; `filters=True` measures them), SPF/DMARC are answered by a
local DNS server so no lookup leaves the machine, and the per-IP/per-account connection caps are
raised to let 500 IDLE sessions in from 127.0.0.1 (Dovecot gets the same treatment).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.compare.classic import DOMAIN, free_ports, wait_port

REPO = Path(__file__).resolve().parents[2]
DNS_HELPER = """
import sys
sys.path.insert(0, sys.argv[1])
from tests.dnsserver import DNSServer
with DNSServer() as dns:
    dns.add("remote.example", "TXT", "v=spf1 ip4:127.0.0.1 -all")
    dns.add("_dmarc.remote.example", "TXT", "v=DMARC1; p=none")
    print(dns.port, flush=True)
    sys.stdin.read()
"""
LISTENERS = ("mx", "submission", "submissions", "imap", "imaps", "pop3", "pop3s", "http")


def environment(ports: dict[str, int], dns_port: int, connections: int, filters: bool) -> dict[str, str]:
    """AROBASE_* overrides: only MX, IMAP and POP3 listen, each on its own loopback port."""
    env = {f"AROBASE_LISTEN_{name.upper()}": "" for name in LISTENERS}
    env.update({f"AROBASE_LISTEN_{name.upper()}": f"127.0.0.1:{port}" for name, port in ports.items()})
    env.update(
        {
            "AROBASE_AUTH_ALLOW_PLAINTEXT_ON_LOOPBACK": "true",
            "AROBASE_DNS_NAMESERVER": f"127.0.0.1:{dns_port}",
            "AROBASE_FILTERS_ENABLED": "true" if filters else "false",
            "AROBASE_IMAP_MAX_CONNECTIONS_PER_IP": str(connections),
            "AROBASE_IMAP_MAX_CONNECTIONS_PER_ACCOUNT": str(connections),
            "AROBASE_SMTP_MAX_CONNECTIONS_PER_IP": str(max(50, connections)),
            "AROBASE_LOG_LEVEL": "warning",
        }
    )
    return env


class ArobaseServer:
    """`arobase init` + `domain add` + `user add --password-stdin` in `root`, then `serve`."""

    def __init__(self, root: Path, users: dict[str, str], connections: int = 600, filters: bool = False) -> None:
        self.root = root
        self.users = users
        self.connections = connections
        self.filters = filters
        smtp, imap, pop3 = free_ports(3)
        self.ports = {"mx": smtp, "imap": imap, "pop3": pop3}
        self.data = root / "arobase"
        self.arobase = str(Path(sys.executable).parent / "arobase")
        self.server: subprocess.Popen[bytes] | None = None
        self.dns: subprocess.Popen[str] | None = None

    def _cli(self, *args: str, stdin: str | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AROBASE_")}
        subprocess.run(
            [self.arobase, "--data", str(self.data), *args],
            input=stdin,
            text=True,
            capture_output=True,
            check=True,
            timeout=120,
            env=env,
        )

    def prepare(self) -> None:
        shutil.rmtree(self.data, ignore_errors=True)
        self._cli("init", str(self.data))
        self._cli("domain", "add", DOMAIN)
        for user, password in self.users.items():
            self._cli("user", "add", user, "--password-stdin", stdin=password + "\n")

    def start(self) -> None:
        self.prepare()
        self.dns = subprocess.Popen(
            [sys.executable, "-c", DNS_HELPER, str(REPO)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.dns.stdout is not None
        dns_port = int(self.dns.stdout.readline())
        env = {k: v for k, v in os.environ.items() if not k.startswith("AROBASE_")}
        env.update(environment(self.ports, dns_port, self.connections, self.filters))
        log = (self.root / "arobase.log").open("ab")
        self.server = subprocess.Popen(
            [self.arobase, "--data", str(self.data), "serve"], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + 60
        for port in self.ports.values():
            wait_port(port, deadline)

    def pids(self) -> list[int]:
        return [self.server.pid] if self.server is not None and self.server.poll() is None else []

    def stop(self) -> None:
        """SIGTERM (a clean stop), then SIGKILL after 30 s; the DNS helper ends when its stdin closes."""
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(30)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(10)
        if self.dns is not None and self.dns.poll() is None:
            try:
                self.dns.communicate("", timeout=10)
            except subprocess.TimeoutExpired:
                self.dns.kill()
                self.dns.wait(10)
