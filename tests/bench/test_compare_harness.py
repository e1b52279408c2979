"""The comparison harness's own logic: predictions, wire parsing, result lines, tables and server configs.

Nothing is installed or started here; the servers' configurations are only rendered into a temp dir.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from bench.compare.arobase_server import LISTENERS, environment
from bench.compare.classic import DOMAIN, Ports, inotify_instances, render_dovecot, render_postfix, write_files
from bench.compare.generator import FROM_QUERY, RARE, SUBJECT_QUERY, Corpus
from bench.compare.report import Row, Target, collect, higher_is_better, number, parse_lines, table
from bench.compare.run import phases, workload_args
from bench.compare.workloads import (
    Connection,
    Imap,
    ProtocolError,
    descendants,
    emit,
    emit_failure,
    numbers,
    parse_args,
    percentile,
    server_pss,
)

USER = "bench@example.test"


# -- the generator ---------------------------------------------------------------------------------


def _header(message: bytes, name: bytes) -> bytes:
    match = re.search(rb"^" + name + rb": (.*)\r$", message, re.MULTILINE)
    assert match is not None
    return match.group(1)


def test_predictions_match_a_brute_force_scan_of_the_messages() -> None:
    corpus = Corpus(7, 12_000, USER)
    expected = corpus.expected()
    messages = [corpus.message(n) for n in range(corpus.count)]
    from_hits = sum(FROM_QUERY.encode() in _header(m, b"From").lower() for m in messages)
    subject_hits = sum(SUBJECT_QUERY.encode() in _header(m, b"Subject").lower() for m in messages)
    text_hits = sum(RARE.encode() in m.lower() for m in messages)
    assert (expected.from_hits, expected.subject_hits, expected.text_hits) == (from_hits, subject_hits, text_hits)
    assert expected.text_hits == 2  # one rare message per 5,000, so TEXT is a needle in a haystack
    assert 0 < expected.from_hits < expected.count and 0 < expected.subject_hits < expected.count
    assert expected.seen == len(range(0, 12_000, 3)) and expected.unseen == 8_000


def test_messages_are_deterministic_independent_and_about_the_asked_size() -> None:
    first, again = Corpus(3, 500, USER), Corpus(3, 500, USER)
    assert first.message(123) == again.message(123)
    assert first.message(1) != Corpus(4, 500, USER).message(1)
    sizes = [len(first.message(n)) for n in range(500)]
    assert 3000 < sum(sizes) / len(sizes) < 5500
    for n in range(50):
        message = first.message(n)
        assert b"\n" not in message.replace(b"\r\n", b"")
        assert b"\r\n." not in message and not message.startswith(b".")
        assert first.message_id(n).encode() in message


def test_an_empty_corpus_predicts_nothing() -> None:
    expected = Corpus(1, 0, USER).expected()
    assert (expected.count, expected.seen, expected.text_hits, expected.unseen) == (0, 0, 0, 0)


# -- the client's wire handling --------------------------------------------------------------------


class _Writer:
    def __init__(self) -> None:
        self.sent = bytearray()

    def write(self, data: bytes) -> None:
        self.sent += data


def _imap(server_bytes: bytes) -> tuple[Imap, _Writer]:
    reader = asyncio.StreamReader()
    reader.feed_data(server_bytes)
    reader.feed_eof()
    writer = _Writer()
    return Imap(Connection(reader, writer)), writer  # type: ignore[arg-type]


async def test_replies_with_literals_are_read_whole_and_counted() -> None:
    body = b"Subject: x\r\n\r\nA line ending in {5}\r\n"
    imap, writer = _imap(
        b"* 1 FETCH (BODY[] {%d}\r\n%s)\r\n* 2 FETCH (ENVELOPE (NIL {3}\r\nabc NIL))\r\nA1 OK done\r\n"
        % (len(body), body)
    )
    reply = await imap.command("FETCH 1:2 (BODY[])", keep=True)
    assert writer.sent == b"A1 FETCH 1:2 (BODY[])\r\n"
    assert reply.untagged == 2 and reply.literals == [body, b"abc"]
    assert reply.lines[1].endswith(b" NIL))")


async def test_append_uses_a_synchronising_literal_unless_literal_plus() -> None:
    imap, writer = _imap(b"+ go ahead\r\nA1 OK appended\r\n")
    await imap.command("APPEND INBOX", literal=b"hello")
    assert writer.sent == b"A1 APPEND INBOX {5}\r\nhello\r\n"
    imap, writer = _imap(b"A1 OK appended\r\n")
    imap.literal_plus = True
    await imap.command("APPEND INBOX", literal=b"hello")
    assert writer.sent == b"A1 APPEND INBOX {5+}\r\nhello\r\n"


async def test_a_no_answer_is_an_error_not_a_result() -> None:
    imap, _ = _imap(b"* 1 EXISTS\r\nA1 NO [SERVERBUG] oops\r\n")
    with pytest.raises(ProtocolError, match="SERVERBUG"):
        await imap.command("SELECT INBOX")


def test_search_and_exists_numbers_are_parsed() -> None:
    from bench.compare.workloads import Reply

    reply = Reply(b"A1 OK", lines=[b"* SEARCH 2 5 9", b"* 12 EXISTS", b"* 0 RECENT", b"* search 10"])
    assert numbers(reply, b"SEARCH") == [2, 5, 9, 10]
    assert numbers(reply, b"EXISTS") == [12]


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 0.5) == 50.0
    assert percentile([3.0], 0.99) == 3.0


def test_server_memory_sums_pss_over_a_process_tree(tmp_path: Path) -> None:
    def process(pid: int, ppid: int, pss: int) -> None:
        directory = tmp_path / str(pid)
        directory.mkdir()
        (directory / "stat").write_text(f"{pid} (dovecot (x)) S {ppid} 1 1 0 -1\n")
        (directory / "smaps_rollup").write_text(f"Rss: {pss * 2} kB\nPss:  {pss} kB\nPss_Anon: 1 kB\n")

    process(10, 1, 1000)  # the master
    process(11, 10, 200)  # a login process
    process(12, 11, 30)  # a grandchild
    process(20, 1, 5000)  # an unrelated process
    (tmp_path / "self").mkdir()
    assert descendants([10], tmp_path) == {10, 11, 12}
    assert server_pss([10], tmp_path) == 1230
    assert server_pss([10, 99], tmp_path) == 1230  # a vanished root is ignored


# -- result lines, medians, ratios, table ----------------------------------------------------------


def test_result_lines_are_one_json_object_each(capsys: pytest.CaptureFixture[str]) -> None:
    emit("arobase", "search_text_2000", {"ms": 1.5, "ms warm": 0.5}, "2 hits", messages=2000)
    emit_failure("dovecot", "pop3_2000", ProtocolError("POP3 b'STAT': b'-ERR'"))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    ok, failed = (json.loads(line) for line in lines)
    assert ok == {
        "label": "arobase",
        "scenario": "search_text_2000",
        "ok": True,
        "figures": {"ms": 1.5, "ms warm": 0.5},
        "check": "2 hits",
        "params": {"messages": 2000},
    }
    assert failed["ok"] is False and failed["figures"] == {} and failed["error"].startswith("ProtocolError: POP3")
    assert parse_lines([*lines, "", "Traceback (most recent call last):", "{not json", '{"label": "x"}']) == [
        ok,
        failed,
    ]


def _record(label: str, scenario: str, figures: dict[str, float], ok: bool = True) -> dict[str, object]:
    return {"label": label, "scenario": scenario, "ok": ok, "figures": figures}


def test_medians_and_ratios_per_figure() -> None:
    records = [
        _record("arobase", "append_2000", {"msg/s": value}) for value in (900.0, 1000.0, 1100.0, 5.0, 2000.0)
    ] + [_record("dovecot", "append_2000", {"msg/s": value}) for value in (400.0, 500.0, 600.0)]
    records += [_record("arobase", "idle_500", {"KB/conn": 50.0}), _record("dovecot", "idle_500", {"KB/conn": 500.0})]
    rows = collect(records)
    append, idle = rows
    assert append.median("arobase") == 1000.0 and append.median("dovecot") == 500.0
    assert append.ratio("arobase", "dovecot") == 2.0 and append.advantage("arobase", "dovecot") == 2.0
    assert idle.ratio("arobase", "dovecot") == 0.1
    assert idle.advantage("arobase", "dovecot") == pytest.approx(10.0)
    assert higher_is_better("sessions/s") and not higher_is_better("p99 ms")
    assert Row("x", "ms").ratio("arobase", "dovecot") is None


def test_table_shows_medians_ratio_verdict_and_failures() -> None:
    records = [
        _record("arobase", "search_text_2000", {"ms": 2.0, "ms warm": 1.0}),
        _record("dovecot", "search_text_2000", {"ms": 50.0, "ms warm": 40.0}),
        _record("arobase", "search_text_2000", {}, ok=False),
        _record("arobase", "pop3_2000", {"msg/s": 1500.0}),
        _record("dovecot", "pop3_2000", {"msg/s": 6000.0}),
        _record("dovecot", "sessions", {}, ok=False),
    ]
    text = table(collect(records))
    lines = text.splitlines()
    assert lines[0] == (
        "| scenario | figure | arobase (median) | dovecot (median) | ratio arobase/dovecot | better | target (ratio) |"
    )
    assert "| search_text_2000 | ms (lower is better) | 2.00 (1 FAIL) | 50.0 | 0.04 | arobase x25.00 |  |" in lines
    assert "| pop3_2000 | msg/s (higher is better) | 1,500 | 6,000 | 0.25 | dovecot x4.00 |  |" in lines
    assert "| sessions | - (lower is better) | - | - (1 FAIL) | - | - |  |" in lines


def test_the_issues_targets_are_checked_at_its_sizes() -> None:
    records = [
        _record("arobase", "store_seen_100000", {"ms": 900.0}),
        _record("dovecot", "store_seen_100000", {"ms": 100.0}),
        _record("arobase", "pop3_2000", {"MB/s": 30.0}),
        _record("dovecot", "pop3_2000", {"MB/s": 20.0}),
        _record("arobase", "store_seen_2000", {"ms": 900.0}),
        _record("dovecot", "store_seen_2000", {"ms": 100.0}),
    ]
    lines = table(collect(records)).splitlines()
    assert "| store_seen_100000 | ms (lower is better) | 900 | 100 | 9.00 | dovecot x9.00 | <= 3: NOT met |" in lines
    assert "| pop3_2000 | MB/s (higher is better) | 30.0 | 20.0 | 1.50 | arobase x1.50 | >= 1: met |" in lines
    assert "| store_seen_2000 | ms (lower is better) | 900 | 100 | 9.00 | dovecot x9.00 |  |" in lines
    assert Target(0.1, False).met(0.05) and not Target(2.0, True).met(1.9)


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "-"), (123456.7, "123,457"), (42.25, "42.2"), (3.14159, "3.14"), (0.01234, "0.012"), (0.0, "0.000")],
)
def test_number_formatting(value: float | None, text: str) -> None:
    assert number(value) == text


# -- configurations --------------------------------------------------------------------------------


def test_postfix_config_is_private_and_loopback_only(tmp_path: Path) -> None:
    ports = Ports(smtp=40025, imap=40143, pop3=40110, lmtp=40024)
    files = render_postfix(tmp_path / "postfix", ports, [USER])
    write_files(files)
    main_cf = (tmp_path / "postfix" / "main.cf").read_text()
    settings = dict(line.split(" = ", 1) for line in main_cf.splitlines() if " = " in line and not line.startswith("#"))
    assert settings["queue_directory"] == str(tmp_path / "postfix" / "queue")
    assert settings["data_directory"] == str(tmp_path / "postfix" / "data")
    assert settings["inet_interfaces"] == "127.0.0.1"
    assert settings["virtual_mailbox_domains"] == DOMAIN
    assert settings["virtual_transport"] == "lmtp:inet:127.0.0.1:40024"
    assert settings["maillog_file"].startswith(str(tmp_path))
    assert "/etc/postfix/main.cf" not in main_cf
    master = (tmp_path / "postfix" / "master.cf").read_text().splitlines()
    services = [line.split() for line in master if line and not line.startswith("#")]
    assert ["127.0.0.1:40025", "inet", "n", "-", "n", "-", "-", "smtpd"] in services
    assert all(fields[4] == "n" for fields in services)  # no chroot: nothing to copy into the queue
    assert not any(fields[1] == "inet" and fields[0] != "127.0.0.1:40025" for fields in services)
    assert (tmp_path / "postfix" / "vmailbox").read_text() == f"{USER} {USER}\n"


def test_dovecot_config_is_private_and_loopback_only(tmp_path: Path) -> None:
    root = tmp_path / "dovecot"
    ports = Ports(smtp=40025, imap=40143, pop3=40110, lmtp=40024)
    write_files(render_dovecot(root, ports, {USER: "s3cret:x"}, uid=8, gid=8, clients=500))
    conf = (root / "dovecot.conf").read_text()
    for line in (
        f"base_dir = {root}/run",
        f"state_dir = {root}/state",
        "listen = 127.0.0.1",
        f"mail_location = sdbox:{root}/mail/%d/%n",
        "disable_plaintext_auth = no",
        "protocols = imap pop3 lmtp",
        "    port = 40143",
        "    port = 40110",
        "    port = 40024",
        "  mail_max_userip_connections = 1000",
        "  process_limit = 600",
    ):
        assert line in conf.splitlines(), line
    assert "/etc/dovecot" not in conf
    assert conf.count("{") == conf.count("}")
    assert re.findall(r"address = (\S+)", conf) == ["127.0.0.1"] * 3
    assert (root / "users").read_text() == f"{USER}:{{PLAIN}}s3cret:x::::::\n"


def test_arobase_environment_opens_only_the_compared_listeners() -> None:
    env = environment({"mx": 41025, "imap": 41143, "pop3": 41110}, dns_port=41053, connections=566, filters=False)
    assert env["AROBASE_LISTEN_MX"] == "127.0.0.1:41025" and env["AROBASE_LISTEN_POP3"] == "127.0.0.1:41110"
    closed = {name for name in LISTENERS if env[f"AROBASE_LISTEN_{name.upper()}"] == ""}
    assert closed == {"submission", "submissions", "imaps", "pop3s", "http"}
    assert env["AROBASE_IMAP_MAX_CONNECTIONS_PER_IP"] == "566" and env["AROBASE_FILTERS_ENABLED"] == "false"
    assert env["AROBASE_DNS_NAMESERVER"] == "127.0.0.1:41053"
    assert env["AROBASE_AUTH_ALLOW_PLAINTEXT_ON_LOOPBACK"] == "true"


def test_the_same_plan_reaches_the_client_for_both_servers() -> None:
    import argparse

    args = argparse.Namespace(seed=5, messages=200, append=[2000, 5000], peeks=20, clients=4, seconds=2.0, idle=50)
    argv = ["--smtp-port", "1", "--imap-port", "2", "--pop3-port", "3", "--user", USER, "--password", "p"]
    target, plan, label = parse_args([*argv, *workload_args(args, ["append"])])
    assert (plan.seed, plan.messages, plan.appends, plan.peeks, plan.clients, plan.seconds, plan.idle) == (
        5,
        200,
        (2000, 5000),
        20,
        4,
        2.0,
        50,
    )
    assert plan.only == {"append"} and target.host == "127.0.0.1" and label == "server"
    with pytest.raises(SystemExit):
        parse_args([*argv, "--host", "192.0.2.1"])


def test_idle_runs_on_a_server_of_its_own() -> None:
    assert phases([]) == [["smtp", "append", "pop3", "sessions"], ["idle"]]
    assert phases(["idle", "pop3"]) == [["smtp", "pop3"], ["idle"]]
    assert phases(["append"]) == [["append"]]


def test_the_inotify_limit_is_raised_for_the_run_and_restored(tmp_path: Path) -> None:
    knob = tmp_path / "max_user_instances"
    knob.write_text("128\n")
    with inotify_instances(1288, knob) as limit:
        assert limit == 1288 and knob.read_text() == "1288"
    assert knob.read_text() == "128"
    knob.write_text("4096\n")
    with inotify_instances(1288, knob) as limit:  # never lowered
        assert limit == 4096
    assert knob.read_text() == "4096\n"
