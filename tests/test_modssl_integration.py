"""Run a real Apache httpd with mod_ssl, drive it with curl and openssl s_client, and check
that nsslog diagnoses the error_log lines the server wrote.

The lab (tests/apache_lab.py) starts Debian's apache2 with its own ServerRoot on 127.0.0.1.
Tests marked needs_apache skip when /usr/sbin/apache2 or mod_ssl is missing; together they take
about 20 s. The tests of the recorded lines in tests/data/modssl run everywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from nsslog.cli import main

from apache_lab import (
    APACHE_BINARY,
    SCENARIOS,
    ApacheLab,
    Recording,
    apache_available,
    record_startup_failure,
    response_status,
)

needs_apache = pytest.mark.skipif(
    not apache_available(),
    reason=f"{APACHE_BINARY} or its mod_ssl is not installed (Debian package apache2)",
)

REPO_ROOT = Path(__file__).resolve().parent.parent
RECORDED = Path(__file__).resolve().parent / "data" / "modssl"
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


@dataclass(frozen=True)
class LabResult:
    """What one scenario did: the recorded lines, the client run and nsslog's JSON report."""

    recording: Recording
    report: dict

    def findings(self, rule: str | None = None) -> list[dict]:
        return [item for item in self.report["findings"] if rule is None or item["rule"] == rule]

    def rules(self) -> set[str]:
        return {item["rule"] for item in self.report["findings"]}


def run_nsslog(path: Path) -> dict:
    """Run the nsslog command in this process and return its JSON report."""
    result = CliRunner().invoke(main, ["--format", "json", str(path)])

    # Exit status 1 means that nsslog made findings, not that it failed.
    assert result.exit_code in (0, 1), f"nsslog failed on {path}: {result.output}"
    return json.loads(result.stdout)


def run_nsslog_process(path: Path) -> dict:
    """Run `python -m nsslog` as a user would and return its JSON report."""
    done = subprocess.run(
        [sys.executable, "-m", "nsslog", "--format", "json", str(path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode in (0, 1), f"nsslog failed on {path}: {done.stderr}"
    return json.loads(done.stdout)


def _lab_folder() -> Path:
    # Not pytest's tmp_path: its parent is private to the user running pytest, and httpd's
    # children, started as root, switch to an unprivileged user that must read the documents.
    folder = Path(tempfile.mkdtemp(prefix="nsslog-apache-"))
    folder.chmod(0o755)
    return folder


@pytest.fixture(scope="module")
def lab():
    folder = _lab_folder()
    lab = ApacheLab.create(folder)
    yield lab
    lab.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def results(lab) -> dict[str, LabResult]:
    lab.configure_lab()
    started = lab.start()
    assert lab.pid is not None, f"httpd did not start: {started.stderr}"

    try:
        recordings = [lab.run_scenario(scenario) for scenario in SCENARIOS]
    finally:
        lab.stop()

    # The start-up failure tests later replace the error_log, so keep the whole file.
    shutil.copyfile(lab.error_log, lab.root / "logs" / "lab-full.log")

    results = {}
    for recording in recordings:
        path = lab.root / "logs" / f"{recording.scenario.name}.log"
        path.write_text(recording.lines)
        results[recording.scenario.name] = LabResult(recording, run_nsslog(path))
    return results


@pytest.fixture(scope="module")
def startup_failures(lab, results) -> dict[str, tuple[dict, dict, dict]]:
    # Depends on results so that the lab's working server has been stopped first.
    reports = {}
    for problem in ("key-mismatch", "missing-ca-file", "no-certificate-own-log"):
        texts = record_startup_failure(lab, problem)
        files = []
        for suffix, text in zip(("log", "stderr", "vhost.log"), texts):
            path = lab.root / "logs" / f"startup-{problem}.{suffix}"
            path.write_text(text)
            files.append(run_nsslog(path))
        reports[problem] = tuple(files)
    return reports


def _pairs(field: str) -> list:
    return [
        pytest.param(scenario.name, value, id=f"{scenario.name}:{value}")
        for scenario in SCENARIOS
        for value in getattr(scenario, field)
    ]


def _fix_directives(result: LabResult, rules: tuple[str, ...]) -> list[str]:
    return [
        directive
        for rule in rules
        for finding in result.findings(rule)
        for directive in finding["fix"]["directives"]
    ]


@needs_apache
@pytest.mark.parametrize("name", [scenario.name for scenario in SCENARIOS])
def test_client_outcome(results, name):
    result = results[name]
    assert response_status(result.recording.run) == BY_NAME[name].status, result.recording.run


@needs_apache
@pytest.mark.parametrize(("name", "rule"), _pairs("rules"))
def test_expected_rule_found(results, name, rule):
    result = results[name]
    assert rule in result.rules(), f"{name}: findings {sorted(result.rules())}\n{result.recording.lines}"


@needs_apache
@pytest.mark.parametrize(("name", "rule"), _pairs("absent_rules"))
def test_unexpected_rule_absent(results, name, rule):
    assert rule not in results[name].rules()


@needs_apache
@pytest.mark.parametrize(("name", "directive"), _pairs("directives"))
def test_fix_names_directive(results, name, directive):
    directives = _fix_directives(results[name], BY_NAME[name].rules)
    assert any(item.startswith(directive) for item in directives), directives


@needs_apache
@pytest.mark.parametrize("name", [scenario.name for scenario in SCENARIOS if scenario.clean])
def test_working_request_has_no_problem_finding(results, name):
    severities = {item["rule"]: item["severity"] for item in results[name].findings()}
    assert not {rule for rule, severity in severities.items() if severity != "info"}, severities


@needs_apache
@pytest.mark.parametrize("name", [scenario.name for scenario in SCENARIOS if scenario.rules])
def test_every_recorded_line_parsed(results, name):
    summary = results[name].report["summary"]
    assert summary["unparsed"] == 0, summary


@needs_apache
def test_warn_level_logs_no_missing_certificate(results):
    # At LogLevel warn a handshake without the required client certificate leaves nothing.
    assert results["vhost-warn-no-cert"].recording.lines == ""


@needs_apache
def test_verify_error_at_warn_is_ah02039(results):
    evidence = results["vhost-warn-unknown-ca"].findings("ssl-client-cert-unknown-ca")[0]["evidence"]
    assert "AH02039: Certificate Verification: Error (20)" in evidence[0]["text"]


@needs_apache
def test_verify_error_at_info_is_ah02276(results):
    evidence = results["vhost-info-unknown-ca"].findings("ssl-client-cert-unknown-ca")[0]["evidence"]
    assert "AH02276: Certificate Verification: Error (20)" in evidence[0]["text"]


@needs_apache
def test_self_signed_client_cert_is_error_18(results):
    evidence = results["vhost-warn-self-signed"].findings("ssl-client-cert-unknown-ca")[0]["evidence"]
    assert "Error (18)" in evidence[0]["text"]


@needs_apache
def test_post_handshake_auth_lines_are_one_event(results):
    finding = results["tls13-location-no-pha"].findings("tls13-post-handshake-auth-unsupported")[0]

    # One refused request writes two lines, so they are one event with both as evidence.
    assert finding["count"] == 1
    assert len(finding["evidence"]) == 2


@needs_apache
def test_renegotiation_failure_joins_verification_error(results):
    result = results["tls12-location-unknown-ca"]
    finding = result.findings("ssl-client-cert-unknown-ca")[0]

    assert any("AH02261" in item["text"] for item in finding["evidence"])
    assert result.findings("ssl-renegotiation-failed") == []


@needs_apache
def test_refused_renegotiation_is_one_finding(results):
    result = results["tls12-location-refuses-renegotiation"]
    finding = result.findings("ssl-renegotiation-refused")[0]

    assert finding["count"] == 1
    assert any("AH02261" in item["text"] for item in finding["evidence"])
    assert result.findings("ssl-renegotiation-failed") == []


@needs_apache
def test_key_mismatch_diagnosed(startup_failures):
    main_log, _, _ = startup_failures["key-mismatch"]
    rules = {item["rule"] for item in main_log["findings"]}
    assert {"ssl-server-key-mismatch", "httpd-configuration-failed"} <= rules


@needs_apache
def test_key_mismatch_fix_names_key_file(startup_failures):
    main_log, _, _ = startup_failures["key-mismatch"]
    finding = next(item for item in main_log["findings"] if item["rule"] == "ssl-server-key-mismatch")
    assert any(item.startswith("SSLCertificateKeyFile") for item in finding["fix"]["directives"])


@needs_apache
def test_missing_ca_file_reported_on_stderr(startup_failures):
    _, stderr, _ = startup_failures["missing-ca-file"]
    assert "httpd-config-syntax-error" in {item["rule"] for item in stderr["findings"]}


@needs_apache
def test_own_error_log_named_in_main_log(startup_failures):
    main_log, _, _ = startup_failures["no-certificate-own-log"]
    assert "ssl-init-failed" in {item["rule"] for item in main_log["findings"]}


@needs_apache
def test_own_error_log_holds_missing_certificate(startup_failures):
    _, _, vhost_log = startup_failures["no-certificate-own-log"]
    assert "ssl-server-cert-missing" in {item["rule"] for item in vhost_log["findings"]}


@needs_apache
def test_command_line_diagnoses_whole_log(lab, results):
    report = run_nsslog_process(lab.root / "logs" / "lab-full.log")
    rules = {item["rule"] for item in report["findings"]}
    assert {"tls13-post-handshake-auth-unsupported", "ssl-client-cert-unknown-ca"} <= rules, sorted(rules)


@needs_apache
def test_lab_runs_as_unprivileged_user_when_root(lab):
    text = lab.config_file.read_text()
    assert ("User " in text) == (os.geteuid() == 0)


# The recorded lines: the same diagnoses must come out of the files in tests/data/modssl,
# so a rule change that breaks them fails even where apache2 is not installed.

RECORDED_PAIRS = [
    pytest.param(scenario.name, rule, id=f"{scenario.name}:{rule}")
    for scenario in SCENARIOS
    for rule in scenario.rules
]

RECORDED_STARTUP = [
    ("startup-key-mismatch.log", "ssl-server-key-mismatch"),
    ("startup-key-mismatch.log", "httpd-configuration-failed"),
    ("startup-missing-ca-file.stderr", "httpd-config-syntax-error"),
    ("startup-no-certificate.log", "ssl-server-cert-missing"),
    ("startup-no-certificate.log", "ssl-init-failed"),
    ("startup-no-certificate-own-log.log", "ssl-init-failed"),
    ("startup-no-certificate-own-log.vhost.log", "ssl-server-cert-missing"),
    ("lab-full.log", "ssl-server-cert-name-mismatch"),
]


@pytest.fixture(scope="module")
def recorded_reports() -> dict[str, dict]:
    return {path.name: run_nsslog(path) for path in sorted(RECORDED.iterdir()) if path.suffix != ".md"}


@pytest.mark.parametrize(("name", "rule"), RECORDED_PAIRS)
def test_recorded_scenario_diagnosed(recorded_reports, name, rule):
    rules = {item["rule"] for item in recorded_reports[f"{name}.log"]["findings"]}
    assert rule in rules, sorted(rules)


@pytest.mark.parametrize(("file", "rule"), RECORDED_STARTUP, ids=[f"{f}:{r}" for f, r in RECORDED_STARTUP])
def test_recorded_startup_diagnosed(recorded_reports, file, rule):
    rules = {item["rule"] for item in recorded_reports[file]["findings"]}
    assert rule in rules, sorted(rules)


def test_recorded_lines_all_parsed(recorded_reports):
    unparsed = {name: report["summary"]["unparsed"] for name, report in recorded_reports.items()}
    assert not {name: count for name, count in unparsed.items() if count}, unparsed


def test_recorded_full_log_has_no_generic_finding(recorded_reports):
    rules = {item["rule"] for item in recorded_reports["lab-full.log"]["findings"]}
    assert "nss-code" not in rules
