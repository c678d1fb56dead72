"""The rule index must never drop a rule that matches: it only narrows the search."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nsslog.engine import Analysis
from nsslog.index import MatcherIndex, message_needles
from nsslog.parser import parse_line
from nsslog.rules import load_rules

RULES = load_rules()
DATA = Path(__file__).parent / "data"


def _sample_records():
    lines = []
    for rule in RULES:
        for example in rule.examples:
            lines.extend(example.lines)
    for path in sorted(DATA.glob("**/*.log")):
        lines.extend(path.read_text(errors="surrogateescape").splitlines())
    records = [parse_line(line, "x", number) for number, line in enumerate(lines, 1)]
    return [record for record in records if record is not None]


RECORDS = _sample_records()


@pytest.mark.parametrize(
    ("pattern", "prefixes", "substrings"),
    [
        (r"^Certificate not found: .+$|^Slot not found$", ("Certificate not found: ", "Slot not found"), ()),
        (r"^SSL Library Error: -8(?:177|053) ", ("SSL Library Error: -8177 ", "SSL Library Error: -8053 "), ()),
        (r"Re-negoti?ation request failed", (), ("ation request failed",)),
        (r"^(?:Init: )?Seeding PRNG|^Server: ", ("Seeding PRNG", "Init: Seeding PRNG", "Server: "), ()),
        (r"^NSS(?:Proxy)?Protocol: \S+", ("NSSProtocol: ", "NSSProxyProtocol: "), ()),
        (r"^(?:Read error -?\d+|Re-neg)", ("Read error ", "Read error -", "Re-neg"), ()),
        (r"^\d+ bytes", (), (" bytes",)),
    ],
)
def test_message_needles(pattern, prefixes, substrings):
    needles = message_needles(pattern)

    assert needles.prefixes == prefixes
    assert needles.substrings == substrings


@pytest.mark.parametrize("pattern", [r"(?i)certificate", r"^\d+$", r"^.*$", "", r"(?x) a b"])
def test_message_needles_unknown(pattern):
    assert message_needles(pattern) is None


def test_index_keeps_every_matching_rule():
    analysis = Analysis(RULES)
    index = MatcherIndex(RULES, [rule.match for rule in RULES])
    missing = []
    for record in RECORDS:
        candidates = set(id(rule) for rule in index.candidates(record))
        for rule in RULES:
            if analysis._matches(rule, rule.match, record) and id(rule) not in candidates:
                missing.append((rule.id, record.text))

    assert missing == []
    assert len(RECORDS) > 1000


@settings(max_examples=300, deadline=None)
@given(prefix=st.sampled_from(["", "SSL Library Error: ", "Certificate Verification: Error (", "Re-negotation "]),
       tail=st.text(max_size=60))
def test_index_keeps_matches_on_random_messages(prefix, tail):
    record = parse_line(f"[Fri Mar 30 11:43:54 2012] [error] {prefix}{tail}".replace("\n", " "))
    if record is None:
        return
    analysis = Analysis(RULES)
    index = MatcherIndex(RULES, [rule.match for rule in RULES])
    candidates = set(id(rule) for rule in index.candidates(record))

    for rule in RULES:
        if analysis._matches(rule, rule.match, record):
            assert id(rule) in candidates, rule.id
