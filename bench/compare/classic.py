"""A private Postfix + Dovecot pair on loopback high ports, for comparison with Arobase.

Everything lives under one bench directory: Postfix runs with `postfix -c DIR/postfix` (its own
main.cf, master.cf, queue and data directories), Dovecot with `dovecot -c DIR/dovecot/dovecot.conf`
(its own base_dir, state_dir, log and sdbox mail store). The system's /etc/postfix and /etc/dovecot
instances are never read, written, started or stopped here. Postfix accepts mail for example.test
on its smtpd port and hands it to Dovecot over LMTP, as a typical installation does.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DOMAIN = "example.test"
MAIL_USER = "mail"  # an unprivileged system account that owns the virtual mailboxes
POSTFIX_META = Path("/etc/postfix")  # postfix-files and postfix-script, read-only
POSTFIX_DAEMONS = Path("/usr/lib/postfix/sbin")
INOTIFY_INSTANCES = Path("/proc/sys/fs/inotify/max_user_instances")


@dataclass(frozen=True, slots=True)
class Ports:
    """Loopback ports of the pair: SMTP (Postfix), IMAP, POP3 and LMTP (Dovecot)."""

    smtp: int
    imap: int
    pop3: int
    lmtp: int


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports, chosen by the kernel."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


# The services Postfix needs to receive and deliver over LMTP; no chroot, smtpd only on loopback.
MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:{smtp} inet n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

MAIN_CF = """\
# Private benchmark instance: started with `postfix -c {config}`, never the system's.
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
meta_directory = {meta}
daemon_directory = {daemons}
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-bench
maillog_file = {config}/maillog
maillog_file_prefixes = {config}
myhostname = classic.bench.test
mydomain = bench.test
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
relayhost =
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = {domain}
virtual_mailbox_maps = texthash:{config}/vmailbox
virtual_transport = lmtp:inet:127.0.0.1:{lmtp}
smtpd_banner = $myhostname ESMTP
biff = no
message_size_limit = 52428800
"""

DOVECOT_CONF = """\
# Private benchmark instance: started with `dovecot -c {conf}`, never the system's.
instance_name = dovecot-bench
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap pop3 lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_cache_size = 1M
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = sdbox:{root}/mail/%d/%n
mail_uid = {uid}
mail_gid = {gid}
default_process_limit = {processes}
default_client_limit = {clients}
default_vsz_limit = 512M
pop3_uidl_format = %08Xu%08Xv
protocol imap {{
  mail_max_userip_connections = {clients}
}}
protocol pop3 {{
  mail_max_userip_connections = {clients}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
  default_fields = uid={uid} gid={gid} home={root}/mail/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
service imap {{
  process_limit = {processes}
}}
service anvil {{
  client_limit = {anvil}
}}
service auth {{
  client_limit = {anvil}
}}
"""


def render_postfix(config: Path, ports: Ports, users: list[str]) -> dict[Path, str]:
    """The files of a private Postfix instance, by path (nothing is written)."""
    main_cf = MAIN_CF.format(
        config=config,
        queue=config / "queue",
        data=config / "data",
        meta=POSTFIX_META,
        daemons=POSTFIX_DAEMONS,
        domain=DOMAIN,
        lmtp=ports.lmtp,
    )
    vmailbox = "".join(f"{user} {user}\n" for user in users)
    return {
        config / "main.cf": main_cf,
        config / "master.cf": MASTER_CF.format(smtp=ports.smtp),
        config / "vmailbox": vmailbox,
    }


def render_dovecot(
    root: Path, ports: Ports, users: dict[str, str], uid: int, gid: int, clients: int
) -> dict[Path, str]:
    """The files of a private Dovecot instance: dovecot.conf and the passwd-file of virtual users."""
    processes = clients + 100  # one imap process per logged-in session, plus login and LMTP workers
    conf = DOVECOT_CONF.format(
        conf=root / "dovecot.conf",
        root=root,
        uid=uid,
        gid=gid,
        imap=ports.imap,
        pop3=ports.pop3,
        lmtp=ports.lmtp,
        processes=processes,
        clients=clients * 2,
        anvil=clients * 4 + 1000,
    )
    passwd = "".join(f"{user}:{{PLAIN}}{password}::::::\n" for user, password in users.items())
    return {root / "dovecot.conf": conf, root / "users": passwd}


def write_files(files: dict[Path, str]) -> None:
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def wait_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def _run(command: list[str], log: Path) -> None:
    """Run a command whose daemons outlive it: output goes to a file, as an inherited pipe would never close."""
    with log.open("ab") as out:
        code = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=120, check=False)
    if code.returncode:
        raise RuntimeError(f"{' '.join(command)} failed: {log.read_text(errors='replace')[-2000:]}")


@contextmanager
def inotify_instances(needed: int, knob: Path = INOTIFY_INSTANCES) -> Iterator[int]:
    """Raise the per-user inotify instance limit to `needed` for the duration, then restore it.

    Every Dovecot imap process of the `mail` user takes an inotify instance to watch its mailbox;
    past the limit (128 on Debian) Dovecot silently falls back to checking every 30 s, so 500 IDLE
    sessions would measure a misconfiguration rather than Dovecot. Yields the limit in force.
    """
    try:
        before = int(knob.read_text())
    except (OSError, ValueError):
        yield 0
        return
    if before >= needed:
        yield before
        return
    try:
        knob.write_text(str(needed))
    except OSError as e:
        print(f"warning: cannot raise {knob} to {needed} ({e}); Dovecot IDLE may poll", file=sys.stderr)
        yield before
        return
    try:
        yield needed
    finally:
        knob.write_text(str(before))


def _quiet(command: list[str]) -> None:
    """A stop command: its failure (already stopped) is fine; no pipes, so a daemon cannot hold it open."""
    subprocess.run(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False
    )


class Classic:
    """Postfix + Dovecot under `root`, with the given virtual users; start() and stop() are idempotent."""

    def __init__(self, root: Path, users: dict[str, str], clients: int = 600) -> None:
        self.root = root
        self.users = users
        self.clients = clients
        self.ports = Ports(*free_ports(4))
        self.postfix_dir = root / "postfix"
        self.dovecot_dir = root / "dovecot"
        owner = pwd.getpwnam(MAIL_USER)
        self.uid, self.gid = owner.pw_uid, owner.pw_gid

    @property
    def dovecot_conf(self) -> Path:
        return self.dovecot_dir / "dovecot.conf"

    def prepare(self) -> None:
        """Write both configurations and the directories they need, fresh."""
        for directory in (self.postfix_dir, self.dovecot_dir):
            shutil.rmtree(directory, ignore_errors=True)
        write_files(render_postfix(self.postfix_dir, self.ports, list(self.users)))
        write_files(render_dovecot(self.dovecot_dir, self.ports, self.users, self.uid, self.gid, self.clients))
        for sub in ("run", "state"):
            (self.dovecot_dir / sub).mkdir(parents=True, exist_ok=True)
        mail = self.dovecot_dir / "mail"
        mail.mkdir(parents=True, exist_ok=True)
        os.chown(mail, self.uid, self.gid)
        (self.dovecot_dir / "run").chmod(0o755)
        for sub in ("queue", "data"):
            (self.postfix_dir / sub).mkdir(parents=True, exist_ok=True)
        postfix = pwd.getpwnam("postfix")
        os.chown(self.postfix_dir / "data", postfix.pw_uid, postfix.pw_gid)
        # postfix refuses a world-writable or foreign-owned configuration directory
        self.postfix_dir.chmod(0o755)
        self.root.chmod(0o755)

    def start(self) -> None:
        self.prepare()
        _run(["dovecot", "-c", str(self.dovecot_conf)], self.root / "dovecot-start.log")
        _run(["postfix", "-c", str(self.postfix_dir), "start"], self.root / "postfix-start.log")
        deadline = time.monotonic() + 30
        for port in (self.ports.imap, self.ports.pop3, self.ports.lmtp, self.ports.smtp):
            wait_port(port, deadline)

    def pids(self) -> list[int]:
        """Master processes of both servers (their children are found through /proc)."""
        found = []
        for pid_file in (self.dovecot_dir / "run" / "master.pid", self.postfix_dir / "queue" / "pid" / "master.pid"):
            try:
                found.append(int(pid_file.read_text().split()[0]))
            except (OSError, ValueError, IndexError):
                continue
        return found

    def stop(self) -> None:
        """Stop both masters (and so their children); waits at most ~20 s, then kills what is left."""
        if self.postfix_dir.joinpath("main.cf").exists():
            _quiet(["postfix", "-c", str(self.postfix_dir), "stop"])
        if self.dovecot_conf.exists():
            subprocess.run(
                ["doveadm", "-c", str(self.dovecot_conf), "stop"], capture_output=True, timeout=60, check=False
            )
        deadline = time.monotonic() + 20
        pids = self.pids()
        while pids and time.monotonic() < deadline:
            pids = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
            time.sleep(0.1)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
