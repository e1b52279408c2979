"""RFC 5256 section 2.1 base subject, used by THREAD=ORDEREDSUBJECT/REFERENCES and SORT.

Input is the already decoded subject (step 1 asks for encoded-words to be
resolved first).  Comparison is left to the caller (i;unicode-casemap).
"""

from __future__ import annotations

import re

_WS = re.compile(r"\s+")
# subj-blob = "[" *BLOBCHAR "]" *WSP
_BLOB = re.compile(r"\[[^\[\]]*\]\s*")
# subj-leader = (*subj-blob subj-refwd) / WSP ; subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
_LEADER = re.compile(r"(?:(?:\[[^\[\]]*\]\s*)*(?:re|fwd?)\s*(?:\[[^\[\]]*\]\s*)?:|\s)", re.IGNORECASE)
_FWD_HDR = re.compile(r"\[fwd:", re.IGNORECASE)


def base_subject(subject: str) -> str:
    """Strip reply/forward decorations so that a whole conversation shares a key."""
    text = _WS.sub(" ", subject)  # step 1: collapse whitespace
    while True:
        text = _strip_trailer(text)  # step 2
        while True:  # steps 3-5
            before = text
            while m := _LEADER.match(text):
                text = text[m.end() :]
            m = _BLOB.match(text)
            if m and text[m.end() :]:
                text = text[m.end() :]
            if text == before:
                break
        # step 6: "[fwd: ... ]"
        if _FWD_HDR.match(text) and text.endswith("]"):
            text = text[5:-1]
            continue
        return text


def _strip_trailer(text: str) -> str:
    """Remove trailing subj-trailer ("(fwd)" / WSP), done by hand to stay linear."""
    while True:
        text = text.rstrip()
        if text[-5:].lower() != "(fwd)":
            return text
        text = text[:-5]
