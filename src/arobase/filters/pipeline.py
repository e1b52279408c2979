"""The protection pipeline: every message runs through it before it is stored.

For MX mail it gathers signals (authentication, blocklists, header anomalies, content tricks,
phishing, attachments, the statistical classifier, the recipient's lists and correspondents),
decides per recipient account (deliver, Junk, warning, quarantine) or for the whole message
(refuse during SMTP), and says what to store: the possibly rewritten content, the X-Arobase-*
headers and the target mailbox of each account. Submission gets the lighter policy: only
attachments are checked, and the recipients become the sender's known correspondents.

When a message has several local recipients, its stored bytes (and so its headers) are shared:
the headers then show the message-level verdict (global model, no personal lists), while each
account's own verdict decides its folder and is what the store keeps for the webmail.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from ..config import Config, parse_filter_domains, parse_zones
from ..mime import ParsedMessage, parse_message
from ..services.dns import Resolver
from ..services.mailauth import AuthResults, organizational_domain
from ..store import Account, FilterVerdict, Store
from . import attachments, clamav, phishing, rspamd, rules
from .bayes import Classification, Classifier
from .content import Content, extract
from .learning import Trainer
from .quarantine import strip_attachments
from .tokens import tokens
from .verdict import Kind, Signal, Verdict, strip_our_headers, tag_subject

log = logging.getLogger("arobase.filters")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Policy:
    """Thresholds and actions for one recipient domain."""

    junk_score: int = 5
    reject_score: int = 15  # 0: never refuse
    phishing_score: int = 4
    subject_tag: str = ""
    attachments: str = "quarantine"  # quarantine, reject, deliver


@dataclass(slots=True)
class Outcome:
    """What the SMTP session stores, refuses, or records after storing."""

    content: bytes
    prepend: bytes = b""
    mailboxes: dict[int, str] = field(default_factory=dict)
    reject: str = ""  # the 550 5.7.1 reply text; "" to accept
    verdicts: dict[int, Verdict] = field(default_factory=dict)
    message: Verdict | None = None
    original: bytes | None = None  # kept in quarantine when attachments were taken out
    findings: list[attachments.Finding] = field(default_factory=list)
    parsed: ParsedMessage | None = None  # the parse of `content`, for the store (None if rewritten)


class Pipeline:
    def __init__(self, store: Store, config: Config, resolver: Resolver) -> None:
        settings = config.filters
        self.store = store
        self.resolver = resolver
        self.enabled: bool = settings.enabled
        self.default = Policy(
            settings.junk_score,
            settings.reject_score,
            settings.phishing_score,
            settings.subject_tag,
            settings.attachments,
        )
        self.domains = {
            d: _override(self.default, values) for d, values in parse_filter_domains(settings.domains).items()
        }
        self.submission_attachments: str = settings.submission_attachments
        self.ip_zones = parse_zones(settings.dnsbl_zones)
        self.uri_zones = parse_zones(settings.uribl_zones)
        self.bayes_weight: int = settings.bayes_weight
        self.classifier = Classifier(store, settings.bayes_min_messages)
        self.limits = attachments.Limits(
            settings.archive_depth, settings.scan_max_bytes, settings.scan_timeout_ms / 1000.0
        )
        self.brands = {b.strip().lower() for b in settings.brands.replace(",", " ").split() if b.strip()}
        self.hostname: str = config.server.hostname
        self.clamav: str = settings.clamav
        self.rspamd_url: str = settings.rspamd_url
        self.trainer = Trainer(store)
        # The checks are CPU work under the GIL, so one thread does them all, one message after the
        # other: more threads only contend. bench/filters.py on 2 CPUs, CPU per message: 3.9-5.0 ms
        # with one thread, 4.5-5.3 with two, 5.8-6.0 with the default pool's six. A document slow to
        # inspect (bounded by scan_timeout_ms) delays the messages behind it by that much; SMTP
        # clients wait minutes for their reply. Waiting on DNS lists, Rspamd and clamd happens outside.
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="arobase-filters")

    async def _in_worker(self, function: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, functools.partial(function, *args))

    def policy(self, account: Account | None) -> Policy:
        if account is None:
            return self.default
        domain = account.address.rpartition("@")[2].lower()
        return self.domains.get(domain, self.default)

    async def screen(
        self,
        message: bytes,
        submitter: Account | None,
        accounts: Sequence[Account],
        sender: str,
        client_ip: str,
        helo: str,
        auth: AuthResults | None,
        recipients: Sequence[str],
    ) -> Outcome:
        """The SMTP hook: submission (an authenticated `submitter`) or MX, by who is sending."""
        if submitter is not None:
            outcome = await self.check_submission(message, account=submitter, recipients=recipients)
            outcome.mailboxes = {a.id: "INBOX" for a in accounts}
            return outcome
        return await self.check_mx(message, accounts=accounts, sender=sender, client_ip=client_ip, helo=helo, auth=auth)

    # -- MX --------------------------------------------------------------------------------

    async def check_mx(
        self,
        message: bytes,
        *,
        accounts: Sequence[Account],
        sender: str,
        client_ip: str,
        helo: str,
        auth: AuthResults | None,
        now: datetime | None = None,
    ) -> Outcome:
        """Judge a message from another server for its local recipients."""
        message = strip_our_headers(message)
        if not self.enabled:
            return Outcome(message, mailboxes={a.id: "INBOX" for a in accounts})
        now = now or datetime.now(UTC)
        if not (self.ip_zones or self.uri_zones or self.rspamd_url or self.clamav):  # nothing to wait for
            return await self._in_worker(
                lambda: self._decide(
                    message, *self._analyse(message, accounts, client_ip, helo, auth, now), accounts, sender, auth
                )
            )
        content, base, message_tokens, findings = await self._in_worker(
            self._analyse, message, accounts, client_ip, helo, auth, now
        )
        base += await rules.dnsbl_signals(self.resolver, client_ip, content.urls, self.ip_zones, self.uri_zones)
        if self.rspamd_url:
            base += await rspamd.signals(
                self.rspamd_url,
                message,
                client_ip=client_ip,
                helo=helo,
                sender=sender,
                recipients=[a.address for a in accounts],
                hostname=self.hostname,
            )
        if self.clamav and content.attachments:
            _merge(findings, await asyncio.to_thread(self._viruses, content))
        return await self._in_worker(
            self._decide, message, content, base, message_tokens, findings, accounts, sender, auth
        )

    def _analyse(
        self,
        message: bytes,
        accounts: Sequence[Account],
        client_ip: str,
        helo: str,
        auth: AuthResults | None,
        now: datetime,
    ) -> tuple[Content, list[Signal], list[int], dict[str, list[attachments.Finding]]]:
        """Everything that needs no network: the parse, rule and phishing signals, tokens, attachments."""
        content = extract(message, parse_message(message))
        ours = {a.address.rpartition("@")[2].lower() for a in accounts}
        signals = rules.auth_signals(auth)
        signals += rules.header_signals(content, helo, client_ip, ours | {self.hostname.lower()}, now)
        signals += rules.content_signals(content)
        signals += phishing.check(content, ours, self.brands)
        return content, signals, tokens(content), self._attachments(content)

    def _inspect(self, message: bytes) -> tuple[Content, dict[str, list[attachments.Finding]]]:
        content = extract(message, parse_message(message))
        return content, self._attachments(content)

    def _attachments(self, content: Content) -> dict[str, list[attachments.Finding]]:
        found: dict[str, list[attachments.Finding]] = {}
        for attachment in content.attachments:
            findings = attachments.inspect(attachment, self.limits)
            if findings:
                found[attachment.number] = findings
        return found

    def _viruses(self, content: Content) -> dict[str, list[attachments.Finding]]:
        """clamd's findings per attachment (blocking: run outside the filter thread)."""
        found: dict[str, list[attachments.Finding]] = {}
        for attachment in content.attachments:
            virus = clamav.scan(self.clamav, attachment.data)
            if virus:
                name = attachment.filename or f"part {attachment.number}"
                found[attachment.number] = [attachments.Finding(name, f"contains a virus ({virus})")]
        return found

    def _decide(
        self,
        message: bytes,
        content: Content,
        base: list[Signal],
        message_tokens: list[int],
        findings: dict[str, list[attachments.Finding]],
        accounts: Sequence[Account],
        sender: str,
        auth: AuthResults | None,
    ) -> Outcome:
        outcome = Outcome(message, findings=[f for fs in findings.values() for f in fs], parsed=content.parsed)
        authors = _authors(content, sender)
        forged = auth is not None and auth.dmarc == "fail"
        scores = self.classifier.classify_all(message_tokens, [None, *(a.id for a in accounts)])
        outcome.message = self._verdict(None, self.default, base, scores[None], [], forged)
        for account in accounts:
            policy = self.policy(account)
            verdict = self._verdict(account, policy, base, scores[account.id], authors, forged)
            outcome.verdicts[account.id] = verdict
        policies = [self.policy(a) for a in accounts] or [self.default]
        first = policies[0]
        if findings:
            names = [fs[0].filename for fs in findings.values()]
            detail = "; ".join(f"{f.filename} {f.reason}" for fs in findings.values() for f in fs)
            signal = Signal("DANGEROUS_ATTACHMENT", 0.0, detail, Kind.ATTACHMENT)
            for verdict, policy in [(outcome.message, first), *zip(outcome.verdicts.values(), policies, strict=False)]:
                verdict.signals.append(signal)
                if policy.attachments == "quarantine":
                    verdict.quarantined = names
            if any(p.attachments == "reject" for p in policies):
                outcome.reject = _short(f"Dangerous attachment refused: {detail}")
        verdicts = list(outcome.verdicts.values())
        if not outcome.reject and verdicts and all(v.reject for v in verdicts):
            outcome.reject = verdicts[0].reject
        if outcome.reject:
            return outcome
        shown = verdicts[0] if len(verdicts) == 1 else outcome.message
        if any(v.quarantined for v in verdicts):
            outcome.original = message
            message = strip_attachments(message, content.parsed, findings)
            outcome.parsed = None
        if shown.warning and first.subject_tag:
            message = tag_subject(message, first.subject_tag)
            outcome.parsed = None
        for account in accounts:
            verdict = outcome.verdicts[account.id]
            verdict.reject = ""  # the message is accepted; this account's share is junk at most
            outcome.mailboxes[account.id] = verdict.mailbox
        shown.reject = ""
        outcome.content = message
        outcome.prepend = shown.headers(first.junk_score)
        return outcome

    def _verdict(
        self,
        account: Account | None,
        policy: Policy,
        base: list[Signal],
        classification: Classification,
        authors: list[str],
        forged: bool,
    ) -> Verdict:
        verdict = Verdict(account.id if account else None, signals=list(base))
        if classification.trained:
            verdict.bayes = classification.probability
            points = round(self.bayes_weight * (classification.probability - 0.5) * 2, 2)
            verdict.signals.append(
                Signal("BAYES", points, f"the learnt filter rates it {classification.probability:.0%} likely spam")
            )
        if account is not None:
            verdict.signals += self._personal(account, authors, forged, verdict)
        verdict.score = round(sum(s.score for s in verdict.signals), 2)
        phishing_points = sum(s.score for s in verdict.signals if s.kind is Kind.PHISHING)
        if phishing_points >= policy.phishing_score and not verdict.allowed:
            details = [s.detail for s in verdict.signals if s.kind is Kind.PHISHING and s.score > 0]
            verdict.warning = "Possible phishing: " + "; ".join(details[:4])
        verdict.junk = verdict.blocked or (not verdict.allowed and verdict.score >= policy.junk_score)
        if policy.reject_score and verdict.score >= policy.reject_score and not verdict.allowed and not verdict.blocked:
            verdict.reject = "Message refused as spam"
        return verdict

    def _personal(self, account: Account, authors: list[str], forged: bool, verdict: Verdict) -> list[Signal]:
        """The account's allow/block lists and correspondents. A forged From (DMARC fail) is never allowed."""
        lists = self.store.filter_lists(account.id)
        for author in authors:
            domain = author.rpartition("@")[2]
            candidates = [author, domain, *_parents(domain)]
            kinds = [lists[c] for c in candidates if c in lists]
            if "block" in kinds:
                verdict.blocked = True
                return [Signal("BLOCKED_SENDER", 0.0, f"you blocked {author}", Kind.LIST)]
            if "allow" in kinds and not forged:
                verdict.allowed = True
                return [Signal("ALLOWED_SENDER", 0.0, f"you allowed {author}", Kind.LIST)]
        if not forged and authors and self.store.correspondent_messages(account.id, authors[0]):
            return [Signal("KNOWN_CORRESPONDENT", -3.0, f"you have written to {authors[0]} before", Kind.LIST)]
        return []

    # -- submission ------------------------------------------------------------------------

    async def check_submission(self, message: bytes, *, account: Account, recipients: Sequence[str]) -> Outcome:
        """Our users' mail: forged X-Arobase headers removed, attachments checked, correspondents noted."""
        message = strip_our_headers(message)
        outcome = Outcome(message)
        if not self.enabled:
            return outcome
        content, findings = await self._in_worker(self._inspect, message)
        outcome.parsed = content.parsed
        if self.clamav and content.attachments:
            _merge(findings, await asyncio.to_thread(self._viruses, content))
        outcome.findings = [f for fs in findings.values() for f in fs]
        if findings and self.submission_attachments == "reject":
            detail = "; ".join(f"{f.filename} {f.reason}" for f in outcome.findings)
            outcome.reject = _short(f"Dangerous attachment refused: {detail}")
            return outcome
        await self.store.add_correspondents(account.id, [r.lower() for r in recipients])
        return outcome

    # -- after storing ---------------------------------------------------------------------

    def expect(self, outcome: Outcome) -> None:
        """Before delivery: our own Junk placements must not be learnt as the user's spam reports."""
        for account_id, mailbox in outcome.mailboxes.items():
            self.trainer.watch(account_id)
            if mailbox == "Junk":
                self.trainer.expect(account_id, 1)

    def unexpect(self, outcome: Outcome) -> None:
        """Delivery failed: forget the Junk placements announced by `expect`."""
        for account_id, mailbox in outcome.mailboxes.items():
            if mailbox == "Junk":
                self.trainer.expect(account_id, -1)

    def close(self) -> None:
        self.trainer.close()
        self._worker.shutdown()

    async def record(self, outcome: Outcome, digest: str, accounts: Sequence[Account]) -> None:
        """After delivery: keep each account's verdict and the quarantined original."""
        now = datetime.now(UTC)
        rows = [
            FilterVerdict(a.id, digest, v.action.value, v.score, tuple(v.reasons()), now)
            for a in accounts
            if (v := outcome.verdicts.get(a.id)) is not None
        ]
        if rows:
            await self.store.record_verdicts(rows)
        held = [a.id for a in accounts if (v := outcome.verdicts.get(a.id)) is not None and v.quarantined]
        if held and outcome.original is not None:
            parsed = parse_message(outcome.original)
            sender = next((a.email or "" for a in parsed.from_ if a.host is not None), "")
            reasons = [f"{f.filename} {f.reason}" for f in outcome.findings]
            digest = hashlib.sha256(outcome.original).hexdigest()
            await self.store.quarantine_add(held, outcome.original, digest, sender, parsed.subject, reasons)


def _override(default: Policy, values: dict[str, int | str]) -> Policy:
    fields = {name: getattr(default, name) for name in Policy.__dataclass_fields__}
    fields.update(values)
    return Policy(**fields)  # type: ignore[arg-type]


def _merge(findings: dict[str, list[attachments.Finding]], more: dict[str, list[attachments.Finding]]) -> None:
    for number, found in more.items():
        findings.setdefault(number, []).extend(found)


def _authors(content: Content, sender: str) -> list[str]:
    """From addresses, then the envelope sender: lower case, for list and correspondent lookups."""
    found = [(a.email or "").lower() for a in content.parsed.from_ if a.host]
    if sender:
        found.append(sender.lower())
    return list(dict.fromkeys(a for a in found if "@" in a))


def _parents(domain: str) -> list[str]:
    """example.org for mail.example.org, up to the organizational domain."""
    labels = domain.split(".")
    org = organizational_domain(domain)
    out = []
    for i in range(1, len(labels)):
        parent = ".".join(labels[i:])
        out.append(parent)
        if parent == org:
            break
    return out


def _short(text: str) -> str:
    text = "".join(c if c.isprintable() and c.isascii() else "?" for c in text)
    return text if len(text) <= 200 else text[:197] + "..."
