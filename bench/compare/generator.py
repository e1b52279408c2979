"""Seeded mail for the comparison: every message, and every SEARCH answer, is known in advance.

A server is only credited with a time if its answer matches what this generator predicts, so a
fast wrong answer cannot win. Message n depends only on (seed, n), so any message can be rebuilt
for a byte-for-byte check without regenerating the others.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

WORDS = (
    "the meeting report budget project deadline invoice summer holiday family photos garden dinner "
    "weekend schedule update review contract delivery order payment thanks regards question answer "
    "server backup release notes travel train hotel conference agenda minutes draft final"
).split()
NAMES = ("Arthur Dupont", "Pierre Durand", "Marie Curie", "Jean Martin", "Sophie Bernard", "Lucas Petit")
RARE = "zorglubification"
FROM_QUERY = "marie.curie"
SUBJECT_QUERY = "holiday"
SENDER_DOMAIN = "remote.example"


@dataclass(frozen=True, slots=True)
class Spec:
    """What a message is made of; predictions read these, not the rendered bytes."""

    n: int
    sender: str
    subject: str
    rare: bool
    seen: bool
    attachment: bool


@dataclass(frozen=True, slots=True)
class Expected:
    """The answers a correct server gives for a folder of generated messages."""

    count: int
    seen: int
    from_hits: int
    subject_hits: int
    text_hits: int

    @property
    def unseen(self) -> int:
        return self.count - self.seen


class Corpus:
    """`count` messages for `recipient`, about `size` bytes each; a handful carry the rare word."""

    def __init__(self, seed: int, count: int, recipient: str, size: int = 4096) -> None:
        self.seed, self.count, self.recipient, self.size = seed, count, recipient, size
        picker = random.Random(f"rare-{seed}-{count}")
        self.rare = frozenset(picker.sample(range(count), min(count, max(1, count // 5000)))) if count else frozenset()

    def _rng(self, n: int) -> random.Random:
        return random.Random(f"{self.seed}-{n}")

    def spec(self, n: int) -> Spec:
        rng = self._rng(n)
        sender = rng.choice(NAMES)
        subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))).capitalize()
        return Spec(n, sender, subject, n in self.rare, n % 3 == 0, n % 5 == 0)

    def message(self, n: int) -> bytes:
        """The exact bytes of message n (CRLF line ends, no line starting with a dot)."""
        spec = self.spec(n)
        rng = self._rng(n)
        for _ in range(3):  # skip the draws spec() made, so the body differs from the header words
            rng.random()
        address = spec.sender.lower().replace(" ", ".") + "@" + SENDER_DOMAIN
        when = format_datetime(datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=n))
        head = (
            f"From: {spec.sender} <{address}>\r\nTo: Bench <{self.recipient}>\r\nSubject: {spec.subject}\r\n"
            f"Date: {when}\r\nMessage-ID: {self.message_id(n)}\r\nMIME-Version: 1.0\r\n"
        )
        lines: list[str] = []
        budget = max(200, int(self.size * rng.uniform(0.6, 1.4)) - len(head) - 200)
        while sum(len(line) + 2 for line in lines) < budget:
            lines.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 14))) + ".")
        if spec.rare:
            lines.insert(rng.randrange(len(lines)), f"Please look at the {RARE} plan.")
        text = "\r\n".join(lines)
        if not spec.attachment:
            return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n").encode()
        blob = rng.randbytes(300).hex()  # hex: the rare word can never appear in it by chance
        return (
            head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
            f"{text}\r\n--b\r\nContent-Type: application/octet-stream; name=data.bin\r\n"
            'Content-Disposition: attachment; filename="data.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            f"{blob}\r\n--b--\r\n"
        ).encode()

    def message_id(self, n: int) -> str:
        return f"<{n}.{self.seed}.bench@{SENDER_DOMAIN}>"

    def expected(self) -> Expected:
        """SEARCH answers predicted from the specs alone."""
        seen = from_hits = subject_hits = 0
        for n in range(self.count):
            spec = self.spec(n)
            seen += spec.seen
            from_hits += FROM_QUERY in spec.sender.lower().replace(" ", ".")
            subject_hits += SUBJECT_QUERY in spec.subject.lower()
        return Expected(self.count, seen, from_hits, subject_hits, len(self.rare))
