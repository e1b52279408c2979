"""Arobase against Postfix + Dovecot: fresh servers each round, alternating, the same client; a table and a chart.

Run as root (Postfix and Dovecot are installed when missing and run as private instances):
`python -m bench.compare.run --rounds 3` (the issue's sizes: `--append 20000 100000 --idle 500`).
Results go to --out: results.jsonl (every line from every round), table.md and ratios.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.compare import install
from bench.compare.arobase_server import REPO, ArobaseServer
from bench.compare.classic import Classic, inotify_instances
from bench.compare.report import chart, collect, parse_line, table

USER, PASSWORD = "bench@example.test", "bench-password-1"
STEPS = ("smtp", "append", "pop3", "sessions", "idle")


def machine() -> str:
    """The CPU, core count, memory and software, for the report."""
    model = platform.processor() or "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} CPUs, {memory:.1f} GB RAM, Python {platform.python_version()}"


def workload_args(args: argparse.Namespace, steps: list[str]) -> list[str]:
    """The plan, passed unchanged to the client for every server."""
    return [
        "--seed",
        str(args.seed),
        "--messages",
        str(args.messages),
        "--append",
        *map(str, args.append),
        "--peeks",
        str(args.peeks),
        "--clients",
        str(args.clients),
        "--seconds",
        str(args.seconds),
        "--idle",
        str(args.idle),
        "--only",
        *steps,
    ]


def phases(only: list[str]) -> list[list[str]]:
    """The client runs per server and round, each on a freshly started server with fresh data.

    POP3 and the concurrent sessions read the INBOX the SMTP step fills, so they bring it along.
    IDLE gets a server of its own: after the big FETCHes a long-lived process has free memory to
    reuse, which would hide what each IDLE connection really costs.
    """
    selected = [step for step in STEPS if not only or step in only]
    first = [step for step in selected if step != "idle"]
    if {"pop3", "sessions"} & set(first) and "smtp" not in first:
        first.insert(0, "smtp")  # they read the INBOX that the SMTP step fills
    return [phase for phase in (first, ["idle"] if "idle" in selected else []) if phase]


def run_client(
    label: str, server: ArobaseServer | Classic, args: argparse.Namespace, steps: list[str], log: Path
) -> list[str]:
    """The workloads in their own process; returns its stdout lines (stderr goes to the log)."""
    if isinstance(server, ArobaseServer):
        smtp, imap, pop3 = server.ports["mx"], server.ports["imap"], server.ports["pop3"]
    else:
        smtp, imap, pop3 = server.ports.smtp, server.ports.imap, server.ports.pop3
    command = [
        sys.executable,
        "-m",
        "bench.compare.workloads",
        "--label",
        label,
        "--smtp-port",
        str(smtp),
        "--imap-port",
        str(imap),
        "--pop3-port",
        str(pop3),
        "--user",
        USER,
        "--password",
        PASSWORD,
        *[arg for pid in server.pids() for arg in ("--server-pid", str(pid))],
        *workload_args(args, steps),
    ]
    with log.open("ab") as err:
        result = subprocess.run(
            command, cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True, timeout=args.timeout, check=False
        )
    if result.returncode:
        print(f"  {label}: the client exited with {result.returncode}, see {log}", file=sys.stderr)
    return result.stdout.splitlines()


def one_round(number: int, args: argparse.Namespace, out: Path, results: Path) -> None:
    users = {USER: PASSWORD}
    connections = args.idle + args.clients + 50
    for label in ("arobase", "dovecot"):
        root = Path(tempfile.mkdtemp(prefix=f"compare-{label}-", dir=args.work))
        server: ArobaseServer | Classic = (
            ArobaseServer(root, users, connections, filters=args.filters)
            if label == "arobase"
            else Classic(root, users, connections)
        )
        load = os.getloadavg()[0]  # other work on the machine skews a round; the table shows it
        print(f"round {number}: {label} (load average {load:.2f})", file=sys.stderr, flush=True)
        started = time.perf_counter()
        lines: list[str] = []
        try:
            for steps in phases(args.only):
                server.start()  # fresh data every time
                try:
                    lines += run_client(label, server, args, steps, out / "client.log")
                finally:
                    server.stop()
        finally:
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
        with results.open("a") as file:
            for line in lines:
                record = parse_line(line)
                if record is not None:
                    record["round"] = number
                    record["load"] = load
                    file.write(json.dumps(record) + "\n")
                    status = "ok" if record["ok"] else "FAIL " + str(record.get("error", ""))
                    print(f"  {record['scenario']:24} {status} {record['figures']}", file=sys.stderr, flush=True)
        print(f"  {label} round {number}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--messages", type=int, default=2000, help="SMTP ingest and POP3 messages")
    parser.add_argument("--append", type=int, nargs="+", default=[2000], help="folder sizes (issue: 20000 100000)")
    parser.add_argument("--peeks", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0, help="concurrent sessions duration")
    parser.add_argument("--idle", type=int, default=500)
    parser.add_argument("--only", nargs="*", default=[], choices=STEPS, help="run only these steps")
    parser.add_argument("--filters", action="store_true", help="keep Arobase's content filters on (unfair to it)")
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds one client run may take")
    parser.add_argument("--out", type=Path, default=None, help="directory for results.jsonl, table.md, ratios.png")
    parser.add_argument("--work", type=Path, default=None, help="where the servers' data go (default: /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the servers' data directories")
    parser.add_argument("--no-install", action="store_true", help="fail instead of installing missing packages")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if os.geteuid() != 0:
        raise SystemExit("run as root: Postfix and Dovecot are installed if missing and started as private instances")
    if args.no_install:
        missing = install.missing_packages()
        if missing:
            raise SystemExit("missing packages: " + " ".join(missing))
    else:
        install.install()
    install.stop_system_services()
    out = args.out or Path(tempfile.mkdtemp(prefix="arobase-compare-"))
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    results.unlink(missing_ok=True)
    print(f"machine: {machine()}", file=sys.stderr)
    with inotify_instances(2 * (args.idle + args.clients) + 256) as limit:
        print(f"inotify instances per user: {limit}", file=sys.stderr)
        for number in range(1, args.rounds + 1):
            one_round(number, args, out, results)
    records = [r for line in results.read_text().splitlines() if (r := parse_line(line)) is not None]
    rows = collect(records)
    loads = sorted({(r["round"], r["label"], r["load"]) for r in records if "load" in r})
    load_text = ", ".join(f"{label} #{n}: {load:.2f}" for n, label, load in loads)
    text = f"machine: {machine()}\nrounds: {args.rounds}\nload average at each start: {load_text}\n\n{table(rows)}\n"
    (out / "table.md").write_text(text)
    bars = chart(rows, out / "ratios.png")
    print(text)
    print(f"results: {results}\nchart ({bars} bars): {out / 'ratios.png'}")


if __name__ == "__main__":
    main()
