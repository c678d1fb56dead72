"""Real error_logs: each gives the diagnosis its scenario records, with the right codes.

The lab logs come from httpd 2.4.71 with mod_nss 1.0.14 and NSS 3.87.1 driven by real TLS
clients. Each has an expect.json with the codes in the log and whether it shows a problem.
"""

import json
from datetime import datetime
from pathlib import Path

import pytest

from nsslog.engine import Analysis
from nsslog.rules import load_rules

LAB = Path(__file__).parent / "data" / "modnss-lab"
SCENARIOS = sorted(path.stem for path in LAB.glob("*.log"))

# The rule each problem scenario must produce, beyond the codes its expect.json lists.
EXPECTED_RULES = {
    "a1_location_verify_reneg_off": "nss-renegotiation-refused",
    "c1_client_cert_unknown_ca": "nss-client-cert-untrusted-issuer",
    "j1_expired_server_cert_enforce": "nss-server-cert-invalid-at-start",
}


def analyse(path: Path):
    analysis = Analysis(load_rules())
    for number, line in enumerate(path.read_text().splitlines(), 1):
        analysis.feed(path.name, number, line)
    return analysis.report()


def serious(report):
    return [finding for finding in report.findings if finding.severity in ("error", "warning")]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_lab_log_codes_found(scenario):
    expect = json.loads((LAB / f"{scenario}.expect.json").read_text())
    report = analyse(LAB / f"{scenario}.log")
    found = {code for finding in serious(report) for code, _ in finding.codes}

    assert found == set(expect["codes"])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_lab_log_accounting(scenario):
    path = LAB / f"{scenario}.log"
    summary = analyse(path).summary

    assert summary.lines == len(path.read_text().splitlines())
    assert summary.parsed == summary.lines


@pytest.mark.parametrize("scenario", sorted(EXPECTED_RULES))
def test_lab_log_diagnosis(scenario):
    report = analyse(LAB / f"{scenario}.log")
    rules = [finding.rule for finding in serious(report)]

    assert rules[0] == EXPECTED_RULES[scenario]


@pytest.mark.parametrize("scenario", sorted(EXPECTED_RULES))
def test_lab_log_one_serious_finding(scenario):
    report = analyse(LAB / f"{scenario}.log")

    assert len(serious(report)) == 1, [finding.rule for finding in serious(report)]


def test_working_config_has_no_warning():
    report = analyse(LAB / "a2_location_verify_reneg_on.log")

    assert serious(report) == []


def test_renegotiation_fix_directives():
    report = analyse(LAB / "a1_location_verify_reneg_off.log")
    finding = serious(report)[0]

    assert finding.count == 3
    assert finding.fix.directives == ("NSSRenegotiation on", "NSSRequireSafeNegotiation on")


def test_untrusted_issuer_fix_names_certutil():
    report = analyse(LAB / "c1_client_cert_unknown_ca.log")
    finding = serious(report)[0]

    assert any("certutil" in command for command in finding.fix.commands)


def test_expired_server_cert_fix():
    report = analyse(LAB / "j1_expired_server_cert_enforce.log")
    finding = serious(report)[0]

    assert finding.codes[0][0] == -8181
    assert "NSSEnforceValidCerts off" in finding.fix.text or "NSSEnforceValidCerts off" in finding.fix.directives


def test_expired_server_cert_before_final_line():
    # In follow mode the code line arrives before "Unable to verify certificate".
    path = LAB / "j1_expired_server_cert_enforce.log"
    analysis = Analysis(load_rules())
    for number, line in enumerate(path.read_text().splitlines()[:85], 1):
        analysis.feed(path.name, number, line)
    findings = serious(analysis.report())

    assert [finding.rule for finding in findings] == ["nss-server-cert-check-at-start"]
    assert findings[0].codes[0][0] == -8181


def _header_and_payload(line: str) -> tuple[datetime, str]:
    # "[Fri Dec 04 19:33:11.462185 2026] [:error] ..." -> its time and "[:error] ...".
    stamp, payload = line[1:].split("] ", 1)
    return datetime.strptime(stamp, "%a %b %d %H:%M:%S.%f %Y"), payload


# The forms the same lines take in syslog files, journalctl output and custom formats.
RELAYOUTS = {
    "journal-cat": lambda when, payload: payload,
    "journal-monotonic": lambda when, payload: f"[{when.timestamp() % 100000:12.6f}] www httpd[1]: {payload}",
    "journal-full": lambda when, payload: f"{when:%a %Y-%m-%d %H:%M:%S.%f} UTC www httpd[1]: {payload}",
    "journal-unix": lambda when, payload: f"{when.timestamp():.6f} www httpd[1]: {payload}",
    "journal-iso": lambda when, payload: f"{when:%Y-%m-%dT%H:%M:%S.%f}+0000 www httpd[1]: {payload}",
    "syslog": lambda when, payload: f"{when:%b %d %H:%M:%S} www httpd[1]: {payload}",
    "rfc5424": lambda when, payload: f"<11>1 {when:%Y-%m-%dT%H:%M:%S.%f}Z www httpd 1 - - {payload}",
}


@pytest.mark.parametrize("layout", RELAYOUTS)
@pytest.mark.parametrize("scenario", sorted(EXPECTED_RULES))
def test_lab_log_in_other_layouts(scenario, layout, tmp_path):
    lines = (LAB / f"{scenario}.log").read_text().splitlines()
    path = tmp_path / f"{scenario}.log"
    path.write_text("".join(RELAYOUTS[layout](*_header_and_payload(line)) + "\n" for line in lines))

    original = {finding.rule: finding.count for finding in serious(analyse(LAB / f"{scenario}.log"))}
    rewritten = {finding.rule: finding.count for finding in serious(analyse(path))}

    assert rewritten == original
    assert EXPECTED_RULES[scenario] in rewritten
