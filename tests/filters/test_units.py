"""Small pieces: chi-square combining, token probabilities, tokens, lookalike domains, the learn() service."""

from __future__ import annotations

import asyncio
import math
from email.message import EmailMessage

import pytest

from arobase.app import App
from arobase.filters import learn, linear
from arobase.filters.bayes import COMBINED_BIAS, Classifier, combine, token_probability
from arobase.filters.content import extract
from arobase.filters.phishing import BRAND_DOMAINS, edit_distance, lookalike, skeleton
from arobase.filters.tokens import char_grams, hash_token, is_char_gram, sorted_distinct, token_strings, tokens, words
from arobase.mime import parse_message
from arobase.services.delivery import prefixed

from .conftest import ARTHUR, message


def test_combining() -> None:
    assert combine([]) == 0.5
    assert combine([0.99] * 20) > 0.99
    assert combine([0.01] * 20) < 0.01
    assert 0.4 < combine([0.99] * 10 + [0.01] * 10) < 0.6  # conflicting evidence: unsure, not extreme
    assert token_probability(0, 0, 10, 10) == 0.5
    assert token_probability(10, 0, 10, 10) > 0.95


def test_tokens_ignore_other_filters_headers() -> None:
    raw = message(headers={"X-Spam-Status": "Yes, score=99 bogus", "X-Barracuda-Spam-Score": "9", "X-Mailer": "Bulk 3"})
    found = token_strings(extract(raw, parse_message(raw)))
    assert not any("bogus" in t or "barracuda" in t or "spam-status" in t for t in found)
    assert "h:x-mailer:bulk" in found and "subject:lunch" in found and "from-domain:friends.example" in found
    assert hash_token("a") != hash_token("b") and -(2**63) <= hash_token("a") < 2**63


def test_character_grams_are_stable_tagged_and_blind_to_other_filters() -> None:
    """Byte 4-grams of the raw message: the same numbers in every process (they are stored), headers
    of other filters (with their continuation lines) left out, and told apart from word tokens."""
    clean = char_grams(b"Subject: hi\r\n\r\nhello hello")
    marked = char_grams(b"Subject: hi\r\nX-Spam-Status: Yes,\r\n  score=99\r\n\r\nhello hello")
    assert marked == clean and len(clean) == len(set(clean))
    assert int.from_bytes(b"hell") | 0x5A17 << 48 in clean and int.from_bytes(b"o he") | 0x5A17 << 48 in clean
    assert all(is_char_gram(t) for t in clean) and not is_char_gram(hash_token("hello"))
    assert char_grams(b"abc") == [] and len(char_grams(b"x" * 10_000)) == 1


def test_character_grams_skip_the_trace_fields_our_delivery_added() -> None:
    """A message learnt from a mailbox gives the grams it gave when it was judged at the door."""
    arrived = b"Received: from relay.example ([192.0.2.7])\r\n\tby relay.example; Mon, 2 Nov 2026\r\n"
    arrived += b"From: a@remote.example\r\nSubject: offer\r\n\r\n" + b"cheap pills today " * 80
    ours = (
        b"Return-Path: <a@remote.example>\r\nDelivered-To: u@example.test\r\n"
        b"Authentication-Results: mx.example.test; spf=pass smtp.mailfrom=remote.example\r\n"
        b"X-Arobase-Spam: yes\r\n"
        b"Received: from relay.example ([192.0.2.7])\r\n\tby mx.example.test (Arobase) with ESMTP id 7f3a;\r\n"
        b"\tThu, 26 Nov 2026 10:00:00 +0000\r\n"
    )
    assert char_grams(ours + arrived) == char_grams(arrived)
    foreign = b"Return-Path: <a@remote.example>\r\n" + arrived  # no Received of ours: nothing is skipped
    assert char_grams(foreign) != char_grams(arrived)


def test_scripts_without_spaces_are_cut_into_character_pairs() -> None:
    pairs = ["未承", "承諾", "諾広", "広告", "出会", "会い"]
    assert words("hello 未承諾広告！出会い vip-mailで") == ["hello", *pairs, "vip-mail", "で"]


def test_lookalikes() -> None:
    brands = frozenset(BRAND_DOMAINS | {"example.test"})
    assert lookalike("paypa1.com", brands) == "paypal.com"
    assert lookalike("examp1e.test", brands) == "example.test"
    assert lookalike("xn--pypal-4ve.com", brands) == "paypal.com"  # pаypal with a Cyrillic а
    assert lookalike("micros0ft-support.example", brands) is not None
    assert lookalike("paypal.com", brands) is None and lookalike("wikipedia.org", brands) is None
    assert skeleton("rnicrosoft.com") == "microsoft.com"
    assert edit_distance("paypal", "paypla") == 1


def test_learn_service_counts_a_message_once(app: App) -> None:
    account = app.accounts.get(ARTHUR)
    app.filters.trainer.close()  # its own learning of the INBOX delivery would race with ours
    blob = app.store.put_message(message())
    asyncio.run(_deliver(app, blob, account.id))
    assert learn(app.store, account.id, blob.hash, True) == "learnt"
    assert learn(app.store, account.id, blob.hash, True) == "known"
    assert learn(app.store, account.id, blob.hash, False) == "moved"
    assert app.store.filter_totals([account.id]) == (0, 1)
    grams = [t for t in tokens(extract(app.store.read_blob(blob.hash), app.store.parsed(blob.hash))) if is_char_gram(t)]
    assert grams and not app.store.filter_model_counts([account.id], grams)[1].get(account.id)  # Bayes counts none
    assert app.store.filter_weights([account.id], grams)[account.id]  # the regression learnt them


def test_learning_moves_the_logistic_weights_and_unlearning_moves_them_back(app: App) -> None:
    """A message learnt as spam scores spammy for its account only; relearnt as ham it scores hammy."""
    account = app.accounts.get(ARTHUR)
    app.filters.trainer.close()
    blob = app.store.put_message(message())
    asyncio.run(_deliver(app, blob, account.id))
    message_tokens = tokens(extract(app.store.read_blob(blob.hash), app.store.parsed(blob.hash)))

    def score(model: int) -> float:
        return sum(app.store.filter_weights([model], message_tokens)[model].values())

    assert score(account.id) == 0.0
    learn(app.store, account.id, blob.hash, True)
    spammy = score(account.id)
    assert linear.probability(spammy) > 1 - linear.MARGIN and score(0) == 0.0
    learn(app.store, account.id, blob.hash, True)  # known: no second nudge
    assert score(account.id) == spammy
    learn(app.store, account.id, blob.hash, False)
    assert linear.probability(score(account.id)) < linear.MARGIN


def test_seeding_separates_the_training_set_and_the_combination_follows_it(app: App) -> None:
    spam = [[1, 2, 10], [1, 3, 11], [2, 3, 12]]
    ham = [[4, 5, 10], [4, 6, 11], [5, 6, 12]]
    for i, (toks, is_spam) in enumerate([(t, True) for t in spam] + [(t, False) for t in ham]):
        app.store.filter_learn(0, str(i), toks, is_spam).wait()
    classifier = Classifier(app.store, min_messages=1)
    bayes_only = classifier.classify([1, 2, 4, 10])
    linear.train(app.store, 0, [(t, True) for t in spam] + [(t, False) for t in ham])
    weights = app.store.filter_weights([0], range(13))[0]
    assert min(weights[t] for t in (1, 2, 3)) > 0 > max(weights[t] for t in (4, 5, 6))
    assert all(linear.probability(sum(weights.get(t, 0.0) for t in toks)) > 0.5 for toks in spam)
    assert all(linear.probability(sum(weights.get(t, 0.0) for t in toks)) < 0.5 for toks in ham)
    combined = Classifier(app.store, min_messages=1).classify([1, 2, 4, 10])
    b = bayes_only.probability
    expected = linear.probability((math.log(b / (1 - b)) + sum(weights[t] for t in (1, 2, 4, 10))) / 2 + COMBINED_BIAS)
    assert combined.probability == pytest.approx(expected) and combined.probability != b


async def _deliver(app: App, blob, account_id: int) -> None:  # type: ignore[no-untyped-def]
    await app.store.deliver(blob, [(account_id, "INBOX")])


def test_parse_reused_by_the_store_equals_a_fresh_parse() -> None:
    """The SMTP path hands the filters' parse to the store: trace fields in front must not change it."""
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = "a@b.example", "c@d.example", "=?utf-8?q?caf=C3=A9?="
    outer.set_content("hello\n")
    outer.add_alternative("<p>hello <a href='http://x.example'>x</a></p>", subtype="html")
    outer.add_attachment(b"%PDF-1.4 x", maintype="application", subtype="pdf", filename="a.pdf")
    inner = EmailMessage()
    inner["Subject"] = "forwarded"
    inner.set_content("inner text\n")
    outer.add_attachment(inner)
    front = b"Authentication-Results: mx.example.test; spf=pass\r\nReceived: from a\r\n\tby b; Thu, 1 Jan 2026\r\n"
    for raw in (message(), outer.as_bytes().replace(b"\n", b"\r\n")):
        assert prefixed(parse_message(raw), front, raw) == parse_message(front + raw)


def test_global_counts_kept_in_memory_follow_training(app: App) -> None:
    """The in-memory copy of the global model is dropped when the model learns (its totals change)."""
    classifier = Classifier(app.store, min_messages=1)
    app.store.filter_learn(0, "h1", [1, 2], False).wait()
    app.store.filter_learn(0, "s1", [3], True).wait()
    before = classifier.classify([1, 2, 3, 4])
    assert before.trained and before.used == 3  # token 4 is unknown
    app.store.filter_learn(0, "s2", [4, 1], True).wait()  # as `arobase filter train` in another process would
    after = classifier.classify([1, 2, 3, 4])
    assert after.used == 4 and after.probability > before.probability


def test_html_facts_from_one_pass_over_the_tags() -> None:
    html = (
        "<html><head><style>a {color: red}</style><script>var s = '<a href=x>';</script></head><body>"
        "<p>Dear <b>customer</b>,</p><A HREF='https://evil.example/login'>www.<b>paypal</b>.com</A>"
        '<div style="display:none">invisible words for the filter</div><!-- <form> -->'
        '<form action="https://evil.example/p"><input type="password" name=p><input type=text></form>'
        "<a href=https://second.example>unclosed"
    )
    content = extract(message("", html=html), parse_message(message("", html=html)))
    assert [(link.href, link.text) for link in content.links] == [
        ("https://evil.example/login", "www.paypal.com"),
        ("https://second.example", "unclosed"),
    ]
    assert (content.forms, content.password_inputs, content.scripts) == (1, 1, 1)
    assert content.hidden_text == "invisible words for the filter"


def test_sorted_distinct_is_np_unique() -> None:
    import numpy as np

    rng = np.random.default_rng(3)
    for size in (0, 1, 2, 50, 1300):
        values = rng.integers(-(2**63), 2**63 - 1, size, dtype=np.int64)
        values = np.concatenate((values, values[: size // 3]))  # some repeated
        assert sorted_distinct(values).tolist() == np.unique(values).tolist()
