"""`arobase dns DOMAIN` prints the DNS records a domain needs, in zone-file form ready to paste;
`arobase dns check DOMAIN` asks DNS and lists what is missing or different. `arobase domain dkim-rotate`
gives a domain a new DKIM key.

The records: MX (mail for the domain comes here), SPF (our MX hosts may send for it), DKIM (the public
half of each active signing key), DMARC (what receivers do with mail failing both), the SRV records mail
clients use to find submission, IMAP and POP3 (RFC 6186, implicit TLS preferred as RFC 8314 asks), and
the autoconfig/autodiscover names.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass

from ..addressing import normalize_domain
from ..app import make_resolver
from ..config import Config
from ..outbound.dkim import public_record, record_name
from ..services.accounts import AccountError
from ..services.dns import Resolver, TemporaryDNSError
from .admin import accounts_service
from .output import fail, print_json, print_table

TXT_CHUNK = 255
#: SRV service -> (listener, priority). Implicit TLS gets the better (lower) priority (RFC 8314 5.1).
SRV_SERVICES = {
    "_submissions._tcp": ("submissions", 0),
    "_submission._tcp": ("submission", 10),
    "_imaps._tcp": ("imaps", 0),
    "_imap._tcp": ("imap", 10),
    "_pop3s._tcp": ("pop3s", 0),
    "_pop3._tcp": ("pop3", 10),
}


@dataclass(frozen=True, slots=True)
class Record:
    name: str  # fully qualified, without the final dot
    type: str
    value: str  # as in a zone file, except TXT: the text itself
    purpose: str

    def zone_line(self) -> str:
        value = self.value
        if self.type == "TXT":
            chunks = [self.value[i : i + TXT_CHUNK] for i in range(0, len(self.value), TXT_CHUNK)]
            quoted = " ".join(f'"{chunk}"' for chunk in chunks)
            value = f"( {quoted} )" if len(chunks) > 1 else quoted
        return f"{self.name}.\t3600\tIN\t{self.type}\t{value}"


def expected_records(config: Config, domain: str, dkim: list[tuple[str, str]]) -> list[Record]:
    """What `domain` should publish; `dkim` is (record name, TXT text) of each active key."""
    host = config.server.hostname.rstrip(".")
    records = [
        Record(domain, "MX", f"10 {host}.", "mail for the domain goes to this server"),
        Record(domain, "TXT", "v=spf1 mx -all", "SPF: only the domain's MX hosts send its mail"),
        *(Record(name, "TXT", text, "DKIM public key") for name, text in dkim),
        Record(f"_dmarc.{domain}", "TXT", "v=DMARC1; p=quarantine; adkim=r; aspf=r", "DMARC policy"),
    ]
    for service, (listener, priority) in SRV_SERVICES.items():
        address = config.listen[listener]
        if address:
            port = address.rpartition(":")[2]
            records.append(Record(f"{service}.{domain}", "SRV", f"{priority} 1 {port} {host}.", "client settings"))
        else:  # RFC 6186 4: a target of "." says the service is not offered
            records.append(Record(f"{service}.{domain}", "SRV", "0 0 0 .", "service not offered"))
    for name in ("autoconfig", "autodiscover"):
        records.append(Record(f"{name}.{domain}", "CNAME", f"{host}.", "mail client autoconfiguration"))
    return records


def _dkim_records(config: Config, domain: str) -> list[tuple[str, str]]:
    with accounts_service(config) as accounts:
        if accounts.store.get_domain(domain) is None:
            raise AccountError(f"no domain {domain}")
        keys = accounts.store.dkim_keys(domain)
        if not keys:  # a domain added before DKIM keys existed
            accounts.rotate_dkim(domain, retire=False)
            keys = accounts.store.dkim_keys(domain)
    return [(record_name(key), public_record(key)) for key in keys]


def dns_command(args: argparse.Namespace, config: Config) -> int:
    words = args.words
    if len(words) == 2 and words[0] == "check":
        return dns_check(normalize_domain(words[1]), config, as_json=args.json)
    if len(words) != 1:
        fail("usage: arobase dns DOMAIN | arobase dns check DOMAIN")
    domain = normalize_domain(words[0])
    records = expected_records(config, domain, _dkim_records(config, domain))
    if args.json:
        print_json([{"name": r.name, "type": r.type, "value": r.value, "purpose": r.purpose} for r in records])
        return 0
    print(f"; DNS records for {domain}; {config.server.hostname} needs A/AAAA records for this server's address.")
    last = ""
    for record in records:
        if record.purpose != last:
            print(f"; {record.purpose}")
            last = record.purpose
        print(record.zone_line())
    return 0


def dns_check(domain: str, config: Config, *, as_json: bool = False) -> int:
    """Compare what DNS says with what the domain should publish; exit status 1 when anything is off."""
    records = expected_records(config, domain, _dkim_records(config, domain))
    resolver = make_resolver(config.dns.nameserver)
    results = asyncio.run(_check_all(resolver, records))
    rows = [
        {"status": status, "type": r.type, "name": r.name, "expected": r.value, "found": found}
        for r, (status, found) in zip(records, results, strict=True)
    ]
    if as_json:
        print_json(rows)
    else:
        print_table(
            [
                row | {"expected": _short(str(row["expected"])), "found": _short(str(row["found"]))}
                for row in rows
                if row["status"] != "ok"
            ]
            or [{"status": "ok", "name": domain, "found": f"all {len(rows)} records are published"}]
        )
    return 0 if all(row["status"] == "ok" for row in rows) else 1


async def _check_all(resolver: Resolver, records: list[Record]) -> list[tuple[str, str]]:
    return list(await asyncio.gather(*(_check(resolver, record) for record in records)))


async def _check(resolver: Resolver, record: Record) -> tuple[str, str]:
    """("ok" | "missing" | "different" | "error", what DNS has)."""
    try:
        answer = await resolver.query(record.name, record.type)
    except TemporaryDNSError as e:
        return "error", str(e)
    found = [] if answer is None or answer.rrset is None else list(answer.rrset)
    if record.type == "TXT":
        texts = [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in found]
        prefix = record.value.split(";")[0].split(" ")[0]  # v=spf1, v=DKIM1, v=DMARC1
        texts = [text for text in texts if text.lower().startswith(prefix.lower())]
        if not texts:
            return "missing", ""
        return ("ok" if _same_txt(record.value, texts[0]) else "different"), texts[0]
    values = [rdata.to_text().lower() for rdata in found]
    if not values:
        return "missing", ""
    if record.type == "MX":
        wanted = record.value.split()[1]
        return ("ok" if any(v.split()[-1] == wanted for v in values) else "different"), ", ".join(values)
    return ("ok" if record.value.lower() in values else "different"), ", ".join(values)


def _same_txt(expected: str, found: str) -> bool:
    def tags(text: str) -> dict[str, str]:
        pairs = (part.strip().partition("=") for part in text.split(";") if part.strip())
        return {name.strip().lower(): value.strip() for name, _, value in pairs}

    if expected.startswith("v=spf1"):
        return " ".join(expected.split()) == " ".join(found.split())
    if expected.startswith("v=DKIM1"):
        return tags(expected).get("p") == tags(found).get("p", "").replace(" ", "")
    return tags(expected).get("p") == tags(found).get("p")  # DMARC: the policy is what matters


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def dkim_rotate(args: argparse.Namespace, config: Config) -> None:
    with accounts_service(config) as accounts:
        domain = normalize_domain(args.name)
        selector = accounts.rotate_dkim(domain)
        (key,) = [k for k in accounts.store.dkim_keys(domain) if k.selector == selector]
    print(f"new DKIM key for {domain}, selector {selector}; publish this record, then keep the old one a few days:")
    print(Record(record_name(key), "TXT", public_record(key), "DKIM").zone_line())


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    dns = commands.add_parser(
        "dns", help="DNS records to publish for a domain (`dns DOMAIN`), or check them (`dns check DOMAIN`)"
    )
    dns.add_argument("words", nargs="+", metavar="[check] DOMAIN")
    dns.add_argument("--json", action="store_true", help="machine-readable output")
    dns.set_defaults(handler=dns_command)


def register_domain(domain: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`arobase domain dkim-rotate NAME`, beside the other domain subcommands."""
    rotate = domain.add_parser("dkim-rotate", help="new DKIM key under a new selector; the old one is retired")
    rotate.add_argument("name")
    rotate.set_defaults(handler=dkim_rotate)
