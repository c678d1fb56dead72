"""The chunked fast path must give the same records, accounting and findings as the plain path."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from nsslog import fastscan
from nsslog.engine import Analysis
from nsslog.parser import parse_line
from nsslog.reader import InputError, decode, iter_lines
from nsslog.report import report_to_dict
from nsslog.rules import build_rule, load_rules

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import generate  # noqa: E402 - bench/ is not a package

REAL_LOGS = sorted((ROOT.parent / "shared" / "logs").rglob("*.log"))
RULES = load_rules()


def plain_report(data: bytes, rules=RULES) -> dict:
    analysis = Analysis(rules)
    analysis.start_file("log")
    for number, raw in enumerate(iter_lines(io.BytesIO(data), "log"), 1):
        analysis.feed("log", number, decode(raw))
    return report_to_dict(analysis.report())


SCANNERS = ["hyperscan", "re"] if fastscan.hyperscan_installed() else ["re"]


def fast_report(data: bytes, rules=RULES, chunk_size: int = fastscan.CHUNK_SIZE,
                scanner: str = "re") -> dict:
    analysis = Analysis(rules)
    analyser = fastscan.FastAnalyser(analysis, scanner=scanner, min_chunk=chunk_size // 2)
    analyser.feed_stream(io.BytesIO(data), "log", chunk_size)
    return report_to_dict(analysis.report())


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("bench") / "error_log"
    generate.generate(path, 20_000, seed=7)
    return path.read_bytes()


@pytest.mark.parametrize("scanner", SCANNERS)
@pytest.mark.parametrize("log", REAL_LOGS, ids=lambda path: path.name)
def test_real_log_same_report(log, scanner):
    data = log.read_bytes()
    assert fast_report(data, scanner=scanner) == plain_report(data)


@pytest.mark.parametrize("scanner", [*SCANNERS, "auto"])
def test_generated_log_same_report(generated, scanner):
    # A small chunk size makes the 20,000 lines span many chunks, as a large log does.
    assert fast_report(generated, chunk_size=65536, scanner=scanner) == plain_report(generated)


def test_generated_log_expected_findings(tmp_path):
    path = tmp_path / "error_log"
    expected = generate.generate(path, 30_000, seed=3)
    report = fast_report(path.read_bytes(), scanner=SCANNERS[0])
    found = {generate_name(finding): finding["count"] for finding in report["findings"]}
    assert found == expected["findings"]


def generate_name(finding: dict) -> str:
    if finding["rule"] == "nss-code":
        return f"nss-code:{finding['codes'][0]['code']}"
    return finding["rule"]


EDGE_CASES = {
    "crlf": b"[Tue Jun 03 10:00:00 2014] [error] SSL Library Error: -8181 Certificate has expired\r\nfoo\r\n",
    "lone-cr": b"x\r[Tue Jun 03 10:00:00 2014] [error] Bad remote server certificate: -8179\rtail",
    "no-final-newline": b"[Tue Jun 03 10:00:00 2014] [info] Using nickname webtls.",
    "empty-lines": b"\n\n[Tue Jun 03 10:00:00 2014] [info] x\n\n",
    "unparsed-first": b"Starting httpd: \n[Tue Jun 03 10:00:00 2014] [info] x\ncontinued\n",
    "startup-line": b"AH00016: Configuration Failed\n(98)Address already in use: AH00072: make_sock\n",
    "nul-bytes": b"[Tue Jun 03 10:00:00 2014] [info] a\x00b\n\x00\n",
    "invalid-utf8": b"[Tue Jun 03 10:00:00 2014] [error] SSL Library Error: -8179 \xff\xfe\n",
    "unicode-digits": "[Tue Jun 03 10:00:00 2014] [error] SSL Library Error: -８１７９ x\n".encode(),
    "hex-code": b"[Tue Jun 03 10:00:00 2014] [error] failed with 0xFFFFE00D here\n",
    "code-name": b"[Tue Jun 03 10:00:00 2014] [error] failed: SEC_ERROR_UNKNOWN_ISSUER\n",
    "syslog": b"Dec  4 19:33:11 www httpd[4321]: [:error] [pid 4321] Bad remote server certificate: -8179\n",
    "journal-iso": b"2024-10-18T13:21:27+0000 www httpd[4321]: [:error] [pid 4321] Bad remote server certificate: -8179\n",
    "bracket-not-header": b"[Tue Jun 03 10:00:00 2014] [info] x\n[client 192.0.2.1] SSL Library Error: -8179 x\n",
    "journal-cat": b"[:error] [pid 4321] SSL Library Error: -8179 x\n[Tue Jun 03 10:00:00 2014] [info] x\n",
    "journal-monotonic": b"[ 4711.123456] www httpd[4321]: [:error] [pid 4321] Bad remote server certificate: -8179\n",
    "rfc5424": b"<11>1 2024-10-18T13:21:27Z www httpd 4321 - - [:error] [pid 4321] Bad remote server certificate: -8179\n",
}


@pytest.mark.parametrize("scanner", SCANNERS)
@pytest.mark.parametrize("data", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_edge_case_same_report(data, scanner):
    assert fast_report(data, scanner=scanner) == plain_report(data)


@pytest.mark.parametrize("chunk_size", [7, 64, 1000])
def test_chunk_boundaries_same_report(generated, chunk_size):
    data = generated[:20_000] + b"\r\nlast line\r"
    assert fast_report(data, chunk_size=chunk_size) == plain_report(data)


def test_header_lines_parse(generated):
    for line in generated.splitlines():
        if fastscan.HEADER.match(line):
            assert parse_line(decode(line)) is not None, line


def test_example_lines_hold_atoms():
    prefilter = fastscan.build_prefilter(RULES)
    scanner = fastscan.make_scanner(prefilter, "re")
    for position, rule in enumerate(prefilter.rules):
        for example in rule.examples:
            if not example.expect_match:
                continue
            line = example.lines[-1].encode("utf-8")
            possible = prefilter.rules_for(prefilter.add_code_numbers(line, scanner.atoms_in(line)))
            assert rule in possible, f"{rule.id}: {example.lines[-1]}"


def test_prefilter_none_without_literal():
    rule = build_rule(_rule_data({"min_level": "error"}), "level-only", "level-only.toml")
    assert fastscan.build_prefilter([rule]) is None


def test_fallback_same_report(generated):
    rule = build_rule(_rule_data({"min_level": "error"}), "level-only", "level-only.toml")
    rules = [*RULES, rule]
    data = generated[:200_000]
    assert fast_report(data, rules=rules) == plain_report(data, rules=rules)


def _rule_data(match: dict) -> dict:
    return {
        "title": "t", "severity": "info", "cause": "c", "match": match, "fix": {"text": "f"},
        "examples": {"match": ["[Tue Jun 03 10:00:00 2014] [error] x"],
                     "no_match": ["[Tue Jun 03 10:00:00 2014] [info] x"]},
    }


LITERAL_CASES = [
    ("^Bad remote server certificate: -?\\d+$", ["Bad remote server certificate: "], False),
    ("^(?:Read error -?\\d+|Client verification failed)$", ["Read error ", "Client verification failed"], False),
    # re's parser moves a common prefix out of the branches; the rest still has to be there.
    ("^(?:Read error|Re-negotiation failed)$", ["ad error", "-negotiation failed"], False),
    ("(?i)unknown issuer", ["unknown issuer"], True),
    ("Re-negoti?ation", ["Re-negot"], False),
    ("a|\\d+", None, False),
    ("\\p{L}+ x", None, False),
    ("[[:alpha:]]+abc", None, False),
    ("x{e<=1}", None, False),
]


@pytest.mark.parametrize(("pattern", "texts", "caseless"), LITERAL_CASES, ids=[case[0] for case in LITERAL_CASES])
def test_regex_literals(pattern, texts, caseless):
    literals = fastscan.regex_literals(pattern)
    if texts is None:
        assert literals is None
        return
    assert sorted(literal.text for literal in literals) == sorted(texts)
    assert all(literal.caseless == caseless for literal in literals)


CLAUSE_CASES = [
    # Every literal run of a sequence is required, not only the longest.
    ("will force (?:quick )?renegotiation$", [["renegotiation"], ["will force "]]),
    ("^Connection to child -?\\d+ (?:established|closed) \\(server .*, client .*\\)$",
     [["Connection to child "], [" (server "], [", client "]]),
    # (A) or (B and C) becomes (A or B) and (A or C).
    ("^Read failed$|^SSL Library Error: \\S+ with code$",
     [["Read failed", "SSL Library Error: "], ["Read failed", " with code"]]),
    ("a|\\d+", None),
]


@pytest.mark.parametrize(("pattern", "clauses"), CLAUSE_CASES, ids=[case[0] for case in CLAUSE_CASES])
def test_regex_clauses(pattern, clauses):
    found = fastscan.regex_clauses(pattern)
    if clauses is None:
        assert found is None
        return
    assert sorted(sorted(literal.text for literal in clause) for clause in found) == sorted(map(sorted, clauses))


def test_line_missing_clause_is_skipped():
    rule = build_rule(_rule_data({"message": "will force (?:quick )?renegotiation$"}), "force", "force.toml")
    prefilter = fastscan.build_prefilter([rule])
    scanner = fastscan.make_scanner(prefilter, "re")
    for line, possible in ((b"Performing full renegotiation: complete handshake protocol", []),
                           (b"Changed client verification type will force renegotiation", [rule])):
        assert prefilter.rules_for(scanner.atoms_in(line)) == possible


def test_scanned_literals_are_selective():
    # A scanned atom of one or two bytes reports nearly every line, and each report costs a
    # callback: such atoms made the 1M-line benchmark four times slower.
    prefilter = fastscan.build_prefilter(RULES)
    literals = [fastscan._unescape(pattern) for _, pattern, _ in prefilter.scanned()]
    short = [literal for literal in literals if literal is not None and len(literal) < 3]
    assert short == []


def test_hyperscan_and_re_same_hits(generated):
    pytest.importorskip("hyperscan")
    prefilter = fastscan.build_prefilter(RULES)
    block = generated[: generated.rindex(b"\n", 0, 300_000) + 1]
    hyperscan_hits = fastscan.make_scanner(prefilter, "hyperscan").scan(block)
    re_hits = fastscan.make_scanner(prefilter, "re").scan(block)
    assert hyperscan_hits == re_hits


class _FailingStream(io.BytesIO):
    """A stream whose reads fail once its data is used up, like a truncated .gz file."""

    def read(self, size=-1):
        data = super().read(size)
        if not data:
            raise OSError("Compressed file ended before the end-of-stream marker was reached")
        return data

    # The readers use read1 where a stream has it, as decompressing streams do.
    read1 = read


def _plain_feed(analysis, stream, name):
    nul_lines = 0
    try:
        for number, raw in enumerate(iter_lines(stream, name), 1):
            nul_lines += b"\x00" in raw
            analysis.feed(name, number, decode(raw))
    except InputError:
        pass
    return nul_lines


def test_read_error_same_report():
    data = EDGE_CASES["nul-bytes"] + b"[Tue Jun 03 10:00:01 2014] [error] Bad remote server certificate: -8179\npartial"
    plain = Analysis(RULES)
    plain_nul = _plain_feed(plain, _FailingStream(data), "log")

    fast = Analysis(RULES)
    analyser = fastscan.FastAnalyser(fast, scanner="re")
    with pytest.raises(InputError):
        analyser.feed_stream(_FailingStream(data), "log")

    assert report_to_dict(fast.report()) == report_to_dict(plain.report())
    assert analyser.nul_lines == plain_nul


def test_two_files_same_report(generated):
    small = EDGE_CASES["unparsed-first"]
    large = generated[:300_000]
    plain = Analysis(RULES)
    fast = Analysis(RULES)
    # The small file is fed line by line, the large one scanned (with Hyperscan if installed).
    analyser = fastscan.FastAnalyser(fast, scanner="auto", min_chunk=32768)
    for name, data in (("small", small), ("large", large)):
        plain.start_file(name)
        _plain_feed(plain, io.BytesIO(data), name)
        analyser.feed_stream(io.BytesIO(data), name, chunk_size=65536)
    assert report_to_dict(fast.report()) == report_to_dict(plain.report())


CASELESS_LINES = {
    "upper": "[Tue Jun 03 10:00:00 2014] [error] UNKNOWN ISSUER here\n",
    # U+212A KELVIN SIGN folds to "k", so a case-insensitive "unknown" matches it.
    "kelvin-sign": "[Tue Jun 03 10:00:00 2014] [error] un\u212anown issuer here\n",
}


@pytest.mark.parametrize("text", CASELESS_LINES.values(), ids=CASELESS_LINES.keys())
def test_caseless_rule_same_report(text):
    rule = build_rule(_rule_data({"message": "(?i)unknown issuer"}), "caseless", "caseless.toml")
    data = text.encode("utf-8") * 3
    assert fast_report(data, rules=[rule]) == plain_report(data, rules=[rule])
    assert plain_report(data, rules=[rule])["findings"], "the rule should match this line"
