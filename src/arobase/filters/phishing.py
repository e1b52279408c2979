"""Phishing: messages that pretend to be someone else to get a click, a password or a payment.

The checks compare what the reader sees (display name, link text, a domain that looks familiar)
with what is really there (the From domain, the link target). Each finding is a plain sentence
the user reads in the warning.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata

import idna

from ..services.mailauth import organizational_domain
from .content import Content, url_host
from .rules import mixed_script
from .verdict import Kind, Signal

# Commonly impersonated brands: the name readers recognise, and the domains that really are theirs.
BRANDS: dict[str, tuple[str, ...]] = {
    "paypal": ("paypal.com", "paypal.fr", "paypal.me"),
    "microsoft": ("microsoft.com", "office.com", "outlook.com", "live.com", "office365.com", "microsoftonline.com"),
    "office 365": ("microsoft.com", "office.com", "office365.com", "microsoftonline.com"),
    "outlook": ("outlook.com", "microsoft.com", "live.com"),
    "google": ("google.com", "gmail.com", "googlemail.com"),
    "gmail": ("gmail.com", "google.com"),
    "apple": ("apple.com", "icloud.com"),
    "icloud": ("icloud.com", "apple.com"),
    "amazon": ("amazon.com", "amazon.fr", "amazon.de", "amazon.co.uk", "amazonses.com"),
    "facebook": ("facebook.com", "facebookmail.com", "meta.com"),
    "instagram": ("instagram.com", "facebookmail.com"),
    "netflix": ("netflix.com",),
    "dhl": ("dhl.com", "dhl.de", "dhl.fr"),
    "fedex": ("fedex.com",),
    "linkedin": ("linkedin.com",),
    "dropbox": ("dropbox.com", "dropboxmail.com"),
    "docusign": ("docusign.com", "docusign.net"),
    "wetransfer": ("wetransfer.com",),
    "adobe": ("adobe.com",),
    "ebay": ("ebay.com", "ebay.fr", "ebay.de"),
    "whatsapp": ("whatsapp.com",),
    "coinbase": ("coinbase.com",),
    "binance": ("binance.com",),
    "chase": ("chase.com",),
    "wells fargo": ("wellsfargo.com",),
    "bank of america": ("bankofamerica.com",),
    "american express": ("americanexpress.com", "aexp.com"),
    "spotify": ("spotify.com",),
    "booking.com": ("booking.com",),
    "la poste": ("laposte.fr", "laposte.net"),
    "impots.gouv": ("impots.gouv.fr",),
    "ameli": ("ameli.fr",),
    "hmrc": ("hmrc.gov.uk", "gov.uk"),
    "irs": ("irs.gov",),
    "usps": ("usps.com",),
}
BRAND_DOMAINS = frozenset(d for domains in BRANDS.values() for d in domains)
# Each brand as a whole word in a display name, with the organizations allowed to use it; and one
# pattern that finds whether any brand is there at all, which most names are not.
_BRAND_NAMES = [
    (brand, re.compile(rf"(?<!\w){re.escape(brand)}(?!\w)"), frozenset(organizational_domain(d) for d in domains))
    for brand, domains in BRANDS.items()
]
_ANY_BRAND = re.compile("|".join(re.escape(brand) for brand in BRANDS))

# Characters that look like Latin letters or digits, folded for comparing domains as they are seen.
_CONFUSABLE = str.maketrans(
    {
        "0": "o",
        "1": "l",
        "3": "e",
        "5": "s",
        "@": "a",
        "а": "a",
        "е": "e",
        "о": "o",
        "р": "p",
        "с": "c",
        "у": "y",
        "х": "x",
        "і": "i",
        "ј": "j",
        "ѕ": "s",
        "ԁ": "d",
        "ո": "n",
        "ν": "v",
        "ο": "o",
        "α": "a",
        "ɩ": "l",
        "ı": "i",
    }
)
# Matched against lower-cased text: with re.IGNORECASE the search took three times as long.
_ASKS = re.compile(
    r"(verify|confirm|update|validate|re-?enter|unlock|restore)\s+(your\s+)?(account|password|identity|login|"
    r"payment|billing|card|bank)|(password|credentials?)\s+(will\s+)?expir|account\s+(has\s+been\s+|will\s+be\s+)?"
    r"(suspended|locked|disabled|limited|closed)|credit\s+card\s+(number|details)|enter\s+your\s+(password|pin|card)"
    r"|(unusual|suspicious)\s+(sign-?in|login|activity)"
)
_DOMAIN_IN_TEXT = re.compile(r"(?:https?://)?((?:[\w-]+\.)+[a-z]{2,24})\b", re.IGNORECASE)
_EMAIL_IN_TEXT = re.compile(r"[\w.+-]+@((?:[\w-]+\.)+[\w-]{2,})")


@functools.lru_cache(maxsize=16384)
def skeleton(domain: str) -> str:
    """A domain as the eye reads it: Unicode form, accents dropped, look-alikes folded to ASCII."""
    text = to_unicode(domain).lower()
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.translate(_CONFUSABLE).replace("rn", "m").replace("vv", "w")


@functools.lru_cache(maxsize=16384)
def to_unicode(domain: str) -> str:
    if domain.isascii() and "xn--" not in domain.lower():
        return domain
    try:
        return idna.decode(domain)
    except (idna.IDNAError, UnicodeError, ValueError):
        return domain


def edit_distance(a: str, b: str, limit: int = 3) -> int:
    """Damerau-Levenshtein distance (adjacent swaps count 1), capped at `limit` for speed."""
    if abs(len(a) - len(b)) >= limit:
        return limit
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) >= limit:
            return limit
        previous2, previous = previous, current
    return min(previous[-1], limit)


@functools.lru_cache(maxsize=64)
def _targets(protected: frozenset[str]) -> tuple[frozenset[str], list[tuple[str, str, str, str, frozenset[str]]]]:
    """Per protected set, computed once: its organizational domains, and each target's label and looks."""
    orgs = frozenset(organizational_domain(t) for t in protected)
    targets = []
    for target in sorted(protected):
        label = target.split(".")[0]
        targets.append((target, skeleton(target), label, skeleton(label), frozenset(label)))
    return orgs, targets


@functools.lru_cache(maxsize=8192)
def lookalike(domain: str, protected: frozenset[str]) -> str | None:
    """The protected domain `domain` imitates, or None: same skeleton, or one or two typos away."""
    org = organizational_domain(domain)
    orgs, targets = _targets(protected)
    if org in protected or org in orgs:
        return None
    label = org.split(".")[0]
    seen, folded = skeleton(org), skeleton(label)
    letters = frozenset(label)
    for target, target_seen, target_label, target_folded, target_letters in targets:
        if target_seen == seen or target_folded == folded:
            return target
        if len(target_label) < 5:
            continue
        typos = 1 if len(target_label) < 8 else 2
        # Each typo changes at most two letters of the set of letters used: a cheap test first.
        if (
            abs(len(label) - len(target_label)) <= typos
            and len(letters ^ target_letters) <= 2 * typos
            and edit_distance(label, target_label) <= typos
        ):
            return target
        if target_label in folded and folded != target_label and _decorated(folded, target_label):
            return target
    return None


def _decorated(label: str, brand: str) -> bool:
    """paypal-secure, secure-paypal, paypalsupport: a brand with words glued on."""
    rest = label.replace(brand, "", 1).strip("-")
    return bool(rest) and rest.isascii()


def check(content: Content, recipient_domains: set[str], extra_brands: set[str]) -> list[Signal]:
    """Every phishing sign found in the message."""
    out: list[Signal] = []
    parsed = content.parsed
    sender = next((a for a in parsed.from_ if a.host), None)
    from_domain = (sender.host or "").lower() if sender else ""
    from_org = organizational_domain(from_domain) if from_domain else ""
    protected = frozenset(BRAND_DOMAINS | extra_brands | recipient_domains)
    if sender is not None and sender.name:
        out += _display_name(sender.name, from_domain, from_org, recipient_domains)
    if from_domain:
        out += _domain_look(from_domain, "the sender's domain", protected, "SENDER_LOOKALIKE")
    out += _links(content, from_org, protected)
    if content.forms or content.password_inputs:
        out.append(
            Signal(
                "HTML_FORM",
                2.5 if content.password_inputs else 1.0,  # newsletters carry search and subscribe forms
                "the message contains a form" + (" asking for a password" if content.password_inputs else ""),
                Kind.PHISHING,
            )
        )
    for attachment in content.attachments:
        if attachment.content_type == "text/html" and b"<form" in attachment.data.lower():
            out.append(Signal("HTML_ATTACHMENT_FORM", 2.5, "an attached web page contains a form", Kind.PHISHING))
            break
    asks = _ASKS.search((parsed.subject + "\n" + content.text[:30000]).lower())
    if asks:
        out.append(Signal("ASKS_CREDENTIALS", 1.5, f"the message asks you to {asks.group(0)!r}", Kind.PHISHING))
    reply_to = [a.host.lower() for a in parsed.reply_to if a.host]
    if from_org and reply_to and all(organizational_domain(h) != from_org for h in reply_to):
        out.append(
            Signal("REPLY_TO_ELSEWHERE", 1.0, f"replies would go to {reply_to[0]}, not to {from_domain}", Kind.PHISHING)
        )
    return out


def _display_name(name: str, from_domain: str, from_org: str, ours: set[str]) -> list[Signal]:
    out: list[Signal] = []
    lowered = name.lower()
    emails = _EMAIL_IN_TEXT.findall(name)
    if any(organizational_domain(d.lower()) != from_org for d in emails):
        out.append(
            Signal(
                "DISPLAY_NAME_ADDRESS",
                3.0,
                f"the sender's name shows another address ({emails[0]}) than the real one (@{from_domain})",
                Kind.PHISHING,
            )
        )
        return out
    for brand, pattern, orgs in _BRAND_NAMES if _ANY_BRAND.search(lowered) else ():
        if from_org not in orgs and pattern.search(lowered):
            out.append(
                Signal(
                    "DISPLAY_NAME_BRAND",
                    2.5,
                    f"the sender calls itself {brand.title()} but writes from {from_domain}",
                    Kind.PHISHING,
                )
            )
            return out
    for domain in ours:
        label = domain.split(".")[0]
        if (domain in lowered or (len(label) >= 4 and label in lowered)) and from_org != organizational_domain(domain):
            out.append(
                Signal(
                    "DISPLAY_NAME_OURS",
                    2.5,
                    f"the sender's name mentions {domain} but the message comes from {from_domain}",
                    Kind.PHISHING,
                )
            )
            return out
    return out


def _domain_look(domain: str, what: str, protected: frozenset[str], name: str) -> list[Signal]:
    out: list[Signal] = []
    unicode_form = to_unicode(domain)
    international = any(label.startswith("xn--") for label in domain.split(".")) or not unicode_form.isascii()
    if international and mixed_script(unicode_form.replace(".", "").replace("-", "")):
        out.append(Signal(name + "_MIXED_SCRIPT", 3.0, f"{what} {unicode_form} mixes alphabets", Kind.PHISHING))
    imitated = lookalike(domain, protected)
    if imitated:
        out.append(Signal(name, 3.0, f"{what} {unicode_form} imitates {imitated}", Kind.PHISHING))
    return out


def _links(content: Content, from_org: str, protected: frozenset[str]) -> list[Signal]:
    out: list[Signal] = []
    mismatched = raw_ip = None
    mismatch_points = 2.5
    lookalikes: list[Signal] = []
    checked: set[str] = set()
    for link in content.links[:200]:
        host = link.host
        if not host:
            continue
        try:
            ipaddress.ip_address(host.strip("[]"))
            raw_ip = raw_ip or host
        except ValueError:
            pass
        shown = _DOMAIN_IN_TEXT.search(link.text)
        if shown and mismatched is None:
            shown_host = shown.group(1).lower()
            if "." in shown_host and organizational_domain(shown_host) != organizational_domain(host):
                mismatched = (shown_host, host)
                # A sender's own click-tracker (newsletter.x.com links through clickthru.x.com) is
                # common and hides nothing about who one deals with; unless it shows a brand's name.
                own = organizational_domain(host) == from_org and organizational_domain(shown_host) not in protected
                mismatch_points = 1.0 if own else 2.5
        if not lookalikes and host not in checked and len(checked) < 20:
            checked.add(host)
            lookalikes = _domain_look(host, "a link goes to", protected, "LINK_LOOKALIKE")
    if mismatched:
        out.append(
            Signal(
                "LINK_TEXT_MISMATCH",
                mismatch_points,
                f"a link shows {mismatched[0]} but leads to {mismatched[1]}",
                Kind.PHISHING,
            )
        )
    if raw_ip:
        out.append(Signal("LINK_TO_IP", 2.0, f"a link leads to a bare IP address ({raw_ip})", Kind.PHISHING))
    out += lookalikes
    if not content.links:
        for host in list(dict.fromkeys(filter(None, map(url_host, content.urls))))[:20]:
            found = _domain_look(host, "a link goes to", protected, "LINK_LOOKALIKE")
            if found:
                out += found
                break
    return out
