"""`arobase queue ...`, `arobase dns ...` and `arobase domain dkim-rotate`, run in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.dnsserver import DNSServer

from arobase.cli.main import main
from arobase.config import load
from arobase.store import open_store


def run(data: Path, *args: str, capsys: pytest.CaptureFixture[str], code: int = 0) -> str:
    try:
        result = main(["--data", str(data), *args])
    except SystemExit as e:
        result = e.code  # type: ignore[assignment]
    out, err = capsys.readouterr()
    assert result == code, err
    return out


def queue_two_messages(data: Path) -> None:
    store = open_store(load(data, environ={}))
    try:
        for i, recipients in enumerate([["a@remote.test", "b@remote.test"], ["c@other.test"]]):
            blob = store.put_message(f"From: pierre@orange.test\r\nSubject: n{i}\r\n\r\nbody {i}\r\n".encode())
            store.deliver(blob, [], outbound=recipients, sender="pierre@orange.test").wait()
    finally:
        store.close()


def test_queue_commands(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    queue_two_messages(data_dir)
    listed = json.loads(run(data_dir, "queue", "list", "--json", capsys=capsys))
    assert [m["recipients"] for m in listed] == [["a@remote.test", "b@remote.test"], ["c@other.test"]]
    first, second = listed[0]["id"], listed[1]["id"]
    table = run(data_dir, "queue", "list", capsys=capsys)
    assert "a@remote.test, b@remote.test" in table and "pierre@orange.test" in table

    shown = json.loads(run(data_dir, "queue", "show", str(first), "--json", capsys=capsys))
    assert [r["recipient"] for r in shown["recipients"]] == ["a@remote.test", "b@remote.test"]
    assert "Subject: n0" in shown["headers"]
    assert "Subject: n0" in run(data_dir, "queue", "show", str(first), capsys=capsys)

    assert json.loads(run(data_dir, "queue", "retry", str(second), "--json", capsys=capsys))["recipients"] == 1
    assert "3 queued recipients due now" in run(data_dir, "queue", "flush", capsys=capsys)
    assert "deleted (2 recipients" in run(data_dir, "queue", "delete", str(first), capsys=capsys)
    remaining = json.loads(run(data_dir, "queue", "list", "--json", capsys=capsys))
    assert [m["id"] for m in remaining] == [second]
    run(data_dir, "queue", "show", "999", capsys=capsys, code=1)


def test_dns_records_and_check(
    data_dir: Path, dns_server: DNSServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AROBASE_DNS_NAMESERVER", f"127.0.0.1:{dns_server.port}")
    run(data_dir, "domain", "add", "orange.test", capsys=capsys)
    zone = run(data_dir, "dns", "orange.test", capsys=capsys)
    assert "orange.test.\t3600\tIN\tMX\t10 mail.example.test." in zone
    assert 'orange.test.\t3600\tIN\tTXT\t"v=spf1 mx -all"' in zone
    assert '_domainkey.orange.test.\t3600\tIN\tTXT\t( "v=DKIM1; k=rsa; p=' in zone
    assert "_submissions._tcp.orange.test.\t3600\tIN\tSRV\t0 1 2465 mail.example.test." in zone
    assert "_imap._tcp.orange.test.\t3600\tIN\tSRV\t10 1 2143 mail.example.test." in zone
    assert "autoconfig.orange.test.\t3600\tIN\tCNAME\tmail.example.test." in zone

    records = json.loads(run(data_dir, "dns", "orange.test", "--json", capsys=capsys))
    missing = json.loads(run(data_dir, "dns", "check", "orange.test", "--json", capsys=capsys, code=1))
    assert {row["status"] for row in missing} == {"missing"}
    for record in records:
        if record["name"] != "orange.test" or record["type"] != "MX":  # leave the MX out, publish the rest
            dns_server.add(record["name"], record["type"], record["value"])
    dns_server.add("orange.test", "MX", "10 elsewhere.example.")
    checked = run(data_dir, "dns", "check", "orange.test", capsys=capsys, code=1)
    assert "different" in checked and "elsewhere.example" in checked
    assert checked.count("\n") == 2  # the header and the one wrong record
    dns_server.remove("orange.test", "MX")
    dns_server.add("orange.test", "MX", "10 mail.example.test.")
    assert "records are published" in run(data_dir, "dns", "check", "orange.test", capsys=capsys)


def test_dkim_rotate(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(data_dir, "domain", "add", "orange.test", capsys=capsys)
    before = json.loads(run(data_dir, "dns", "orange.test", "--json", capsys=capsys))
    out = run(data_dir, "domain", "dkim-rotate", "orange.test", capsys=capsys)
    assert "new DKIM key for orange.test, selector" in out
    after = json.loads(run(data_dir, "dns", "orange.test", "--json", capsys=capsys))
    dkim_before = [r["name"] for r in before if "_domainkey" in r["name"]]
    dkim_after = [r["name"] for r in after if "_domainkey" in r["name"]]
    assert len(dkim_after) == 1 and dkim_after != dkim_before
    run(data_dir, "domain", "dkim-rotate", "unknown.test", capsys=capsys, code=1)
