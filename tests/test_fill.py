"""Values read from the log replace the placeholders of a fix, and unsafe values never do."""

from __future__ import annotations

from pathlib import Path

from nsslog.engine import Analysis
from nsslog.redact import redact_report
from nsslog.report import finding_to_dict
from nsslog.rules import build_rule, load_rules

LAB = Path(__file__).parent / "data" / "modnss-lab"
RULES = load_rules()
TAIL = '. Add "NSSEnforceValidCerts off" to nss.conf so the server can start until the problem can be resolved.'


def make_rule(message: str, commands: list[str]):
    data = {
        "title": "t", "severity": "error", "cause": "c",
        "match": {"message": message},
        "fix": {"text": "f", "commands": commands},
        "examples": {"match": ["[Tue Jun 03 10:00:00 2014] [error] Nickname 'a'"],
                     "no_match": ["[Tue Jun 03 10:00:00 2014] [error] other"]},
    }
    return build_rule(data, "fill-test", "fill-test.toml")


def analyse(lines: list[str], rules=RULES):
    analysis = Analysis(rules)
    for number, line in enumerate(lines, 1):
        analysis.feed("error_log", number, line)
    return analysis.report()


def nickname_lines(nickname: str) -> list[str]:
    return [
        "[Fri Dec 04 19:33:16.921681 2026] [:error] [pid 1:tid 1] SSL Library Error: -8181 Certificate has expired",
        f"[Fri Dec 04 19:33:16.921683 2026] [:error] [pid 1:tid 1] Unable to verify certificate '{nickname}'{TAIL}",
    ]


def test_nickname_from_real_log_fills_commands():
    lines = (LAB / "j1_expired_server_cert_enforce.log").read_text().splitlines()
    finding = finding_to_dict(analyse(lines).findings[0])

    assert finding["rule"] == "nss-server-cert-invalid-at-start"
    assert finding["fix"]["filled"] == {"NSSNickname": "webtls-Expired"}
    assert 'certutil -V -d sql:/etc/httpd/alias -n "webtls-Expired" -u V' in finding["fix"]["commands"]
    assert not any("<NSSNickname>" in command for command in finding["fix"]["commands"])


def test_shell_characters_keep_placeholder():
    finding = finding_to_dict(analyse(nickname_lines('x"; rm -rf ~; echo "')).findings[0])

    assert finding["fix"]["filled"] == {}
    assert any('-n "<NSSNickname>"' in command for command in finding["fix"]["commands"])
    assert not any("rm -rf" in command for command in finding["fix"]["commands"])


def test_value_with_space_fills_quoted_only():
    rule = make_rule(r"^Nickname '(?P<name>.+)'$", ['certutil -L -n "<name>"', "modutil -list <name>"])
    finding = analyse(["[Tue Jun 03 10:00:00 2014] [error] Nickname 'Server Cert'"], [rule]).findings[0]

    assert finding.filled_fix().commands == ('certutil -L -n "Server Cert"', "modutil -list <name>")


def test_two_values_keep_placeholder():
    rule = make_rule(r"^Nickname '(?P<name>.+)'$", ['certutil -L -n "<name>"'])
    lines = ["[Tue Jun 03 10:00:00 2014] [error] Nickname 'one'", "[Tue Jun 03 10:00:09 2014] [error] Nickname 'two'"]
    finding = analyse(lines, [rule]).findings[0]

    assert finding.count == 2
    assert finding.filled_fix().commands == ('certutil -L -n "<name>"',)


def test_redacted_value_keeps_placeholder():
    report = redact_report(analyse(nickname_lines("www.example.com")))
    finding = finding_to_dict(report.findings[0])

    assert finding["fix"]["filled"] == {"NSSNickname": "<host-1>"}
    assert any('-n "<NSSNickname>"' in command for command in finding["fix"]["commands"])
    assert "www.example.com" not in str(finding)


def test_database_path_fills_certutil():
    lines = [
        "[Tue Jul 12 10:00:00.123456 2016] [:error] [pid 2345] NSS_Initialize failed. Certificate database: sql:/etc/pki/nssdb.",
        "[Tue Jul 12 10:00:00.123457 2016] [:error] [pid 2345] SSL Library Error: -8038 SEC_ERROR_NOT_INITIALIZED",
    ]
    finding = analyse(lines).findings[0]

    assert finding.rule == "nss-database-open-failed"
    assert "certutil -L -d sql:/etc/pki/nssdb" in finding.filled_fix().commands
    # ls needs the directory without the database type prefix.
    assert "ls -lZ /etc/pki/nssdb" in finding.filled_fix().commands
