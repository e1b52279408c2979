"""RFC 5256 base subject extraction."""

from __future__ import annotations

import pytest

from arobase.mime import base_subject, parse_message


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: hello", "hello"),
        ("RE: Re: re: hello", "hello"),
        ("Fwd: hello", "hello"),
        ("Fw: hello", "hello"),
        ("Re: Fwd: [list] Re: hello (fwd)", "hello"),
        ("hello (fwd) (FWD)  ", "hello"),
        ("[fwd: Re: hello]", "hello"),
        ("[Fwd: [fwd: hello] (fwd)]", "hello"),
        ("[list] hello", "hello"),
        ("[a] [b] Re: hello", "hello"),
        ("Re [blob]: hello", "hello"),
        ("Re: [list]", "[list]"),  # a blob is kept when nothing else is left
        ("  lots   of\t white\r\n space  ", "lots of white space"),
        ("Reply: not a leader", "Reply: not a leader"),
        ("", ""),
    ],
)
def test_base_subject(subject: str, expected: str) -> None:
    assert base_subject(subject) == expected


def test_base_subject_uses_decoded_subject() -> None:
    m = parse_message(b"Subject: =?utf-8?q?Re=3A_=5Bl=5D_Caf=C3=A9?=\r\n\r\n")
    assert m.subject == "Re: [l] Caf\u00e9"
    assert m.base_subject == "Caf\u00e9"


def test_base_subject_is_linear_on_hostile_input() -> None:
    assert base_subject("x" + " (fwd)" * 20000) == "x"
    assert base_subject("Re: " * 20000 + "x") == "x"
    assert base_subject("[" * 20000 + "x") == "[" * 20000 + "x"
