"""Generated phishing mail for tests and bench/filters.py: the tricks real campaigns use, mixed at random.

Each sample impersonates a brand or the recipient's own provider and combines one to three of:
a look-alike sender domain (typo, homoglyph, punycode, brand with words glued on), a brand in the
display name over an unrelated domain, links whose text shows the real site but lead elsewhere,
links to bare IP addresses or look-alike hosts, a credential request, a login form, an attached
login page, a Reply-To elsewhere. Wording, layout and domains vary so no two samples are alike.
"""

from __future__ import annotations

import random
from email.message import EmailMessage
from email.utils import formatdate

BRANDS = [
    ("PayPal", "paypal.com"),
    ("Microsoft", "microsoft.com"),
    ("Office 365", "office.com"),
    ("Apple", "apple.com"),
    ("Amazon", "amazon.com"),
    ("Netflix", "netflix.com"),
    ("DHL", "dhl.com"),
    ("DocuSign", "docusign.com"),
    ("LinkedIn", "linkedin.com"),
    ("Dropbox", "dropbox.com"),
    ("Chase", "chase.com"),
    ("Wells Fargo", "wellsfargo.com"),
    ("Coinbase", "coinbase.com"),
    ("Example Mail", "example.test"),  # the recipient's own provider
]
SUBJECTS = [
    "Action required: verify your account",
    "Your account has been suspended",
    "Unusual sign-in activity detected",
    "Your password expires today",
    "Payment declined - update your billing information",
    "Security alert for your {brand} account",
    "Your {brand} account will be closed",
    "Document shared with you via {brand}",
    "Delivery attempt failed: confirm your address",
    "Invoice #{n} is ready",
    "Mailbox storage full - action needed",
    "Re: your recent order #{n}",
]
ASKS = [
    "Please verify your account within 24 hours to avoid suspension.",
    "Confirm your identity to restore full access.",
    "Your password will expire today. Keep your current password by signing in below.",
    "We noticed unusual sign-in activity. Please confirm your login details.",
    "Update your payment information to keep your subscription active.",
    "Your account has been limited until you validate your billing details.",
    "Enter your password to view the shared document.",
    "To release your parcel, confirm your card details and pay the customs fee.",
]
FILLER = [
    "Thank you for being a valued customer.",
    "This is an automated message, please do not reply.",
    "If you did not request this change, you can ignore this message.",
    "Our team is committed to keeping your information safe.",
    "For your protection, this link will expire soon.",
    "Copyright {year} {brand}. All rights reserved.",
]
WORDS = ["secure", "support", "login", "verify", "account", "billing", "service", "update", "help", "id", "online"]
TLDS = ["com", "net", "info", "online", "xyz", "top", "site", "support", "co", "io"]
SENT_FROM = 1_767_225_600  # 2026-01-01: dates are drawn from the seed too, so that a seed gives the same bytes
HOMOGLYPHS = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "i": "і"}


def _typo(label: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(label) - 1)
    kind = rng.choice(["swap", "drop", "double", "digit"])
    if kind == "swap":
        return label[: i - 1] + label[i] + label[i - 1] + label[i + 1 :]
    if kind == "drop":
        return label[:i] + label[i + 1 :]
    if kind == "double":
        return label[:i] + label[i] + label[i:]
    return label.replace("o", "0", 1) if "o" in label else label.replace("l", "1", 1) if "l" in label else label + "s"


def _lookalike(domain: str, rng: random.Random) -> str:
    label, _, tld = domain.partition(".")
    label = label.replace(" ", "")
    kind = rng.choice(["typo", "glued", "glued", "homoglyph", "tld"])
    if kind == "typo" and len(label) >= 5:
        return f"{_typo(label, rng)}.{rng.choice(TLDS)}"
    if kind == "homoglyph" and any(c in HOMOGLYPHS for c in label):
        c = next(c for c in label if c in HOMOGLYPHS)
        return (label.replace(c, HOMOGLYPHS[c], 1) + "." + tld).encode("idna").decode("ascii")
    if kind == "tld":
        return f"{label}-{rng.choice(WORDS)}.{rng.choice(TLDS)}"
    glue = rng.choice(WORDS)
    return f"{label}-{glue}.{rng.choice(TLDS)}" if rng.random() < 0.5 else f"{glue}-{label}.{rng.choice(TLDS)}"


def _unrelated(rng: random.Random) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return "".join(rng.choice(letters) for _ in range(rng.randint(5, 10))) + "." + rng.choice(TLDS)


def phishing(count: int, seed: int = 7, to: str = "arthur.dupont@example.test") -> list[bytes]:
    """`count` phishing messages (CRLF), reproducible from `seed`."""
    rng = random.Random(seed)
    details = random.Random(-seed)  # dates and MIME boundaries: their own draws leave the contents as they were
    out = []
    for _ in range(count):
        brand, real = rng.choice(BRANDS)
        fake = _lookalike(real, rng)
        sender_domain = fake if rng.random() < 0.5 else _unrelated(rng)
        local = rng.choice(["no-reply", "security", "service", "support", "account", "billing", "info"])
        name = rng.choice([brand, f"{brand} Support", f"{brand} Security", f"{brand} Billing", f"{local}@{real}"])
        msg = EmailMessage()
        msg["From"] = f'"{name}" <{local}@{sender_domain}>'
        msg["To"] = to
        msg["Subject"] = rng.choice(SUBJECTS).format(brand=brand, n=rng.randint(10000, 99999))
        msg["Date"] = formatdate(SENT_FROM + details.randint(0, 300 * 86400))
        msg["Message-ID"] = f"<{rng.getrandbits(64):x}@{sender_domain}>"
        if rng.random() < 0.3:
            msg["Reply-To"] = f"{local}@{_unrelated(rng)}"
        target = rng.choice(
            [
                f"https://{fake}/{rng.choice(WORDS)}?id={rng.getrandbits(32):x}",
                "http://" + ".".join(str(rng.randint(11, 223)) for _ in range(4)) + "/login",
                f"https://{_unrelated(rng)}/{brand.lower().replace(' ', '')}/{rng.choice(WORDS)}",
                f"https://{rng.choice(WORDS)}.{fake}/session",
            ]
        )
        shown = rng.choice([f"https://www.{real}/account", f"www.{real}", "Sign in", "Verify now", "Review account"])
        ask = rng.choice(ASKS)
        filler = " ".join(rng.sample(FILLER, 2)).format(year=rng.randint(2019, 2026), brand=brand)
        greeting = rng.choice(["Dear customer,", "Hello,", f"Dear {brand} user,", "Dear valued member,"])
        text = f"{greeting}\n\n{ask}\n\n{shown if shown.startswith(('http', 'www')) else target}\n\n{filler}\n"
        form = ""
        if rng.random() < 0.2:
            form = (
                f'<form action="{target}" method="post">Email <input name="e"> '
                'Password <input type="password" name="p"><button>Sign in</button></form>'
            )
        html = (
            f"<html><body><p>{greeting}</p><p>{ask}</p>"
            f'<p><a href="{target}">{shown}</a></p>{form}<p style="color:#888">{filler}</p></body></html>'
        )
        layout = rng.random()
        if layout < 0.15:
            msg.set_content(text)
        elif layout < 0.5:
            msg.set_content(html, subtype="html")
        else:
            msg.set_content(text)
            msg.add_alternative(html, subtype="html")
        if rng.random() < 0.1:
            page = f'<html><body><h1>{brand}</h1><form action="{target}"><input type="password"></form></body></html>'
            msg.add_attachment(page.encode(), maintype="text", subtype="html", filename=f"{brand.lower()}-login.html")
        for part in msg.walk():  # the email package draws boundaries from the unseeded `random`
            if part.is_multipart():
                part.set_boundary(f"==={details.getrandbits(64):016x}==")
        out.append(msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    return out
