"""Engine tests: rule matching, sequences, aggregation and generic code findings."""

from pathlib import Path

from nsslog.engine import GENERIC_RULE, Analysis
from nsslog.rules import build_rule


def make_rule(rule_id="test-rule", severity="error", match=None, sequence=None, priority=0):
    data = {
        "title": f"title of {rule_id}",
        "severity": severity,
        "priority": priority,
        "cause": "cause text",
        "match": match or {"message": "boom"},
        "fix": {"directives": ["Directive on"], "text": "fix text"},
        "examples": {"match": ["x"], "no_match": ["y"]},
    }
    if sequence:
        data["sequence"] = sequence
    return build_rule(data, rule_id, f"{rule_id}.toml")


def feed_all(analysis, lines, file="error_log"):
    for number, line in enumerate(lines, 1):
        analysis.feed(file, number, line)
    return analysis.report()


def line24(time, pid, level, message, module=""):
    return f"[Fri Dec 04 19:32:{time} 2026] [{module}:{level}] [pid {pid}:tid {pid}] {message}"


def test_matching_lines_aggregate_into_one_finding():
    rule = make_rule(match={"message": "boom"})
    report = feed_all(Analysis([rule]), [
        line24("40.000001", 1, "error", "boom one"),
        line24("41.000001", 2, "error", "quiet"),
        line24("42.500000", 1, "error", "boom two"),
    ])

    assert len(report.findings) == 1
    finding = report.findings[0]
    assert finding.count == 2
    assert finding.first_seen == "2026-12-04T19:32:40.000001"
    assert finding.last_seen == "2026-12-04T19:32:42.500000"
    assert [item.line for item in finding.evidence] == [1, 3]


def test_match_keys_combine_with_and():
    rule = make_rule(match={"message": "boom", "levels": ["error"], "modules": [""]})
    report = feed_all(Analysis([rule]), [
        line24("40.000001", 1, "warn", "boom"),
        line24("40.000002", 1, "error", "boom", module="ssl"),
    ])

    assert report.findings == ()


def test_min_level_excludes_debug():
    rule = make_rule(match={"message": "boom", "min_level": "warn"})
    report = feed_all(Analysis([rule]), [
        line24("40.000001", 1, "debug", "boom"),
        line24("40.000002", 1, "crit", "boom"),
    ])

    assert report.findings[0].count == 1


def test_sequence_needs_same_connection():
    rule = make_rule(match={"message": "failed"}, sequence=[{"message": "context", "window": 2.0}])
    report = feed_all(Analysis([rule]), [
        line24("40.000001", 1, "debug", "context"),
        line24("40.500000", 2, "debug", "failed"),
    ])

    assert report.findings == ()


def test_sequence_window_is_enforced():
    rule = make_rule(match={"message": "failed"}, sequence=[{"message": "context", "window": 2.0}])
    report = feed_all(Analysis([rule]), [
        line24("40.000001", 1, "debug", "context"),
        line24("43.000000", 1, "debug", "failed"),
    ])

    assert report.findings == ()


def test_sequence_records_become_evidence():
    rule = make_rule(match={"message": "failed"}, sequence=[{"message": "context"}])
    report = feed_all(Analysis([rule]), [
        line24("40.000001", 1, "debug", "context"),
        line24("40.000002", 1, "info", "unrelated"),
        line24("40.000003", 1, "debug", "failed"),
    ])

    assert [item.line for item in report.findings[0].evidence] == [1, 3]


def test_sequence_in_httpd22_uses_nearest_record():
    rule = make_rule(match={"message": "failed"}, sequence=[{"message": "context"}])
    report = feed_all(Analysis([rule]), [
        "[Fri Mar 30 11:43:54 2012] [debug] context",
        "[Fri Mar 30 11:43:55 2012] [debug] failed",
    ])

    assert report.findings[0].count == 1


def test_sequence_rule_is_tried_before_plain_rule():
    specific = make_rule("a-specific", match={"message": "failed"}, sequence=[{"message": "context"}])
    plain = make_rule("b-plain", match={"message": "failed"})
    report = feed_all(Analysis([plain, specific][::-1]), [
        line24("40.000001", 1, "debug", "context"),
        line24("40.000002", 1, "debug", "failed"),
        line24("50.000002", 2, "debug", "failed"),
    ])

    rules = {finding.rule: finding.count for finding in report.findings}
    assert rules == {"a-specific": 1, "b-plain": 1}


def test_uncovered_code_gives_generic_finding():
    report = feed_all(Analysis([]), [
        line24("40.000001", 1, "error", "SSL Library Error: -8181 Certificate has expired"),
    ])

    finding = report.findings[0]
    assert finding.rule == GENERIC_RULE
    assert finding.codes == ((-8181, "SEC_ERROR_EXPIRED_CERTIFICATE"),)
    assert "SEC_ERROR_EXPIRED_CERTIFICATE" in finding.title
    assert finding.severity == "error"
    assert finding.cause


def test_generic_findings_are_kept_per_code():
    report = feed_all(Analysis([]), [
        line24("40.000001", 1, "error", "SSL Library Error: -8181 Certificate has expired"),
        line24("40.000002", 1, "error", "SSL Library Error: -8179 unknown issuer"),
        line24("40.000003", 1, "error", "SSL Library Error: -8181 Certificate has expired"),
    ])

    counts = sorted((finding.codes[0][0], finding.count) for finding in report.findings)
    assert counts == [(-8181, 2), (-8179, 1)]


def test_unknown_code_in_family_range():
    report = feed_all(Analysis([]), [
        line24("40.000001", 1, "error", "SSL Library Error: -12001 Unknown"),
    ])

    finding = report.findings[0]
    assert finding.codes == ((-12001, "unknown"),)
    assert "SSL" in finding.title
    assert "newer NSS" in finding.cause


def test_findings_sorted_by_severity_then_count():
    rules = [
        make_rule("r-info", "info", match={"message": "note"}),
        make_rule("r-warn", "warning", match={"message": "careful"}),
        make_rule("r-error", "error", match={"message": "broken"}),
    ]
    report = feed_all(Analysis(rules), [
        line24("40.000001", 1, "info", "note"),
        line24("40.000002", 1, "info", "note"),
        line24("40.000003", 1, "warn", "careful"),
        line24("40.000004", 1, "error", "broken"),
    ])

    assert [finding.rule for finding in report.findings] == ["r-error", "r-warn", "r-info"]


def test_evidence_is_capped():
    rule = make_rule(match={"message": "boom"})
    analysis = Analysis([rule], max_evidence=3)
    report = feed_all(analysis, [line24(f"40.00000{n}", 1, "error", "boom") for n in range(1, 9)])

    assert report.findings[0].count == 8
    assert len(report.findings[0].evidence) == 3


def test_seed_lines_give_one_finding_with_both_fixes():
    from nsslog.rules import load_rules

    seed = Path(__file__).parent / "data" / "seed-renegotiation-2.2.log"
    report = feed_all(Analysis(load_rules()), seed.read_text().splitlines())

    assert len(report.findings) == 1
    finding = report.findings[0]
    assert finding.rule == "nss-renegotiation-refused"
    assert finding.codes == ((-12176, "SSL_ERROR_RENEGOTIATION_NOT_ALLOWED"),)
    assert "NSSRenegotiation on" in finding.fix.directives
    assert "NSSRequireSafeNegotiation on" in finding.fix.directives
    assert "virtual host" in finding.fix.text.lower()
    assert "TLS 1.3" in finding.fix.text


def test_code_line_joins_context_without_code():
    rule = make_rule("nss-slot", match={"message": "^Slot not found"})
    report = feed_all(Analysis([rule]), [
        line24("40.000001", 1, "error", "Slot not found"),
        line24("40.000002", 1, "error", "SSL Library Error: -8127 Unable to find the token"),
    ])

    assert [finding.rule for finding in report.findings] == ["nss-slot"]
    assert report.findings[0].count == 1
    assert report.findings[0].codes[0][0] == -8127
    assert [item.line for item in report.findings[0].evidence] == [1, 2]


def test_code_line_of_other_connection_stays_apart():
    rule = make_rule("nss-slot", match={"message": "^Slot not found"})
    report = feed_all(Analysis([rule]), [
        line24("40.000001", 1, "error", "Slot not found"),
        line24("40.000002", 2, "error", "SSL Library Error: -8127 Unable to find the token"),
    ])

    assert sorted(finding.rule for finding in report.findings) == ["nss-code", "nss-slot"]


def test_sequence_takes_over_earlier_finding():
    bare = make_rule("nss-bare", match={"codes": [-8181]})
    context = make_rule("nss-context", match={"message": "^Unable to verify"},
                        sequence=[{"message": "^SSL Library Error: -8181"}])
    report = feed_all(Analysis([bare, context]), [
        line24("40.000001", 1, "error", "SSL Library Error: -8181 Certificate has expired"),
        line24("40.000002", 1, "error", "Unable to verify certificate 'Server-Cert'."),
    ])

    assert [finding.rule for finding in report.findings] == ["nss-context"]
    assert report.findings[0].count == 1


def test_code_line_never_joins_info_finding():
    harmless = make_rule("nss-harmless", "info", match={"message": "^Connection to child"})
    report = feed_all(Analysis([harmless]), [
        line24("40.000001", 1, "info", "Connection to child 0 established"),
        line24("40.000002", 1, "error", "SSL Library Error: -8179 Certificate is signed by an unknown issuer"),
    ])

    severities = {finding.rule: finding.severity for finding in report.findings}
    assert severities == {"nss-harmless": "info", "nss-code": "error"}


def test_takeover_of_joined_line_keeps_host_count():
    host = make_rule("nss-host", "warning", match={"message": "^Using nickname"})
    context = make_rule("nss-context", match={"message": "^Unable to verify"},
                        sequence=[{"message": "^SSL Library Error: -8181"}])
    report = feed_all(Analysis([host, context]), [
        line24("40.000001", 1, "warn", "Using nickname webtls-Expired."),
        line24("40.000002", 1, "error", "SSL Library Error: -8181 Certificate has expired"),
        line24("40.000003", 1, "error", "Unable to verify certificate 'webtls-Expired'."),
    ])

    counts = {finding.rule: finding.count for finding in report.findings}
    assert counts == {"nss-context": 1, "nss-host": 1}


def test_withdrawn_finding_returns_none():
    bare = make_rule("nss-bare", match={"codes": [-8181]})
    context = make_rule("nss-context", match={"message": "^Unable to verify"},
                        sequence=[{"message": "^SSL Library Error: -8181"}])
    analysis = Analysis([bare, context])
    analysis.feed("error_log", 1, line24("40.000001", 1, "error", "SSL Library Error: -8181 expired"))
    changed = analysis.feed("error_log", 2, line24("40.000002", 1, "error", "Unable to verify certificate 'x'."))

    assert ("nss-bare", None) in changed
    assert analysis.finding(("nss-bare", None)) is None


def test_connection_state_is_pruned():
    rule = make_rule(match={"message": "failed"}, sequence=[{"message": "context", "window": 2.0}])
    analysis = Analysis([rule])
    lines = []
    for pid in range(1, 6001):
        second = pid // 100
        lines.append(f"[Fri Dec 04 19:{second // 60:02d}:{second % 60:02d}.000001 2026] [:debug] [pid {pid}] context")
        lines.append(f"[Fri Dec 04 19:{second // 60:02d}:{second % 60:02d}.000002 2026] [:debug] [pid {pid}] failed")
    report = feed_all(analysis, lines)

    assert report.findings[0].count == 6000
    assert len(analysis._last_finding) <= 4096 + 1
    assert all(len(slot) <= 4096 + 200 for slot in analysis._steps.values())


def test_step_state_is_pruned_without_findings():
    rule = make_rule(match={"message": "failed"}, sequence=[{"message": "context", "window": 2.0}])
    analysis = Analysis([rule])
    lines = [
        f"[Fri Dec 04 19:{(pid // 200) // 60:02d}:{(pid // 200) % 60:02d}.000001 2026] [:debug] [pid {pid}] context"
        for pid in range(1, 30001)
    ]
    feed_all(analysis, lines)

    assert all(len(slot) < 25000 for slot in analysis._steps.values())


EVENT_CASES = [
    # (lines as (second, pid, message), severity, expected count)
    ([("40.000001", 1, "boom read"), ("40.000100", 1, "boom handshake")], "error", 1),
    ([("40.000001", 1, "boom 12"), ("40.000100", 1, "boom 13")], "error", 2),
    ([("40.000001", 1, "boom read"), ("40.000100", 2, "boom handshake")], "error", 2),
    ([("40.000001", 1, "boom read"), ("42.000001", 1, "boom handshake")], "error", 2),
    ([("40.000001", 1, "boom read"), ("40.000100", 1, "boom handshake")], "info", 2),
]


def test_lines_of_one_event_count_once():
    for lines, severity, count in EVENT_CASES:
        rule = make_rule(severity=severity, match={"message": "boom"})
        report = feed_all(Analysis([rule]), [line24(time, pid, "error", text) for time, pid, text in lines])

        assert report.findings[0].count == count, (lines, severity)
        assert len(report.findings[0].evidence) == 2



def follow_up_rules():
    data = {
        "title": "t", "severity": "error", "cause": "c", "match": {"message": "^verify error"},
        "follow_up": [{"message": "^handshake failed$", "window": 1.0}],
        "fix": {"text": "f"}, "examples": {"match": ["x"], "no_match": ["y"]},
    }
    return [build_rule(data, "verify", "verify.toml"), make_rule(rule_id="handshake", match={"message": "^handshake"})]


def test_follow_up_joins_connection_finding():
    report = feed_all(Analysis(follow_up_rules()), [
        line24("40.000001", 1, "error", "verify error 20"),
        line24("40.000200", 1, "error", "handshake failed"),
    ])

    assert [(finding.rule, finding.count) for finding in report.findings] == [("verify", 1)]
    assert len(report.findings[0].evidence) == 2


def test_follow_up_needs_connection_and_window():
    report = feed_all(Analysis(follow_up_rules()), [
        line24("40.000001", 1, "error", "verify error 20"),
        line24("40.000200", 2, "error", "handshake failed"),
        line24("43.000000", 1, "error", "handshake failed"),
    ])

    assert sorted((finding.rule, finding.count) for finding in report.findings) == [("handshake", 2), ("verify", 1)]


def test_optional_step_joins_when_present():
    rule = make_rule(match={"message": "failed"},
                     sequence=[{"message": "context"}, {"message": "detail", "window": 1.0, "optional": True}])
    without = feed_all(Analysis([rule]), [
        line24("40.000001", 1, "debug", "context"),
        line24("40.000100", 1, "error", "failed"),
    ])
    with_detail = feed_all(Analysis([rule]), [
        line24("40.000001", 1, "debug", "detail"),
        line24("40.000050", 1, "debug", "context"),
        line24("40.000100", 1, "error", "failed"),
    ])

    assert [item.line for item in without.findings[0].evidence] == [1, 2]
    assert [item.line for item in with_detail.findings[0].evidence] == [1, 2, 3]


def test_code_repeat_joins_only_at_once():
    rule = make_rule(match={"message": "^SSL Library Error: -12285 "})
    report = feed_all(Analysis([rule]), [
        line24("42.101000", 1, "error", "SSL Library Error: -12285 Unable to find the certificate"),
        line24("42.101050", 1, "error", "SSL Library Error: -12285 Unable to find the certificate"),
        line24("42.409815", 1, "error", "SSL Library Error: -12285 Unable to find the certificate"),
    ])

    assert report.findings[0].count == 2
    assert len(report.findings[0].evidence) == 3


def test_code_repeat_joins_across_second():
    # A syslog time has no fraction: 12:19:06 and 12:19:07 may be microseconds apart.
    rule = make_rule(match={"message": "^Bad remote server certificate"})
    lines = [
        "Dec  4 12:19:06 www httpd[3218]: [:error] [pid 3218:tid 3218] Bad remote server certificate: -8179",
        "Dec  4 12:19:06 www httpd[3218]: [:error] [pid 3218:tid 3218] SSL Library Error: -8179 Certificate is signed by an unknown issuer",
        "Dec  4 12:19:07 www httpd[3218]: [:error] [pid 3218:tid 3218] SSL Library Error: -8179 Certificate is signed by an unknown issuer",
    ]
    report = feed_all(Analysis([rule]), lines)

    assert [(finding.rule, finding.count) for finding in report.findings] == [("test-rule", 1)]
    assert len(report.findings[0].evidence) == 3


def test_peer_condition_survives_match_cache():
    rule = make_rule(match={"message": "^SSL Proxy connect failed$", "peer": ["remote"]})
    report = feed_all(Analysis([rule]), [
        "[Fri Oct 18 13:24:00.000001 2024] [ssl:info] [pid 1:tid 1] [remote 198.51.100.7:8443] SSL Proxy connect failed",
        "[Fri Oct 18 13:24:05.000001 2024] [ssl:info] [pid 2:tid 2] [client 192.0.2.10:51234] SSL Proxy connect failed",
    ])

    assert [item.line for item in report.findings[0].evidence] == [1]
