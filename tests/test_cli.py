"""Command-line tests: inputs, exit statuses, JSON fields and options."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from nsslog import __version__
from nsslog.cli import main

DATA = Path(__file__).parent / "data"
SEED = DATA / "seed-renegotiation-2.2.log"
LAB = DATA / "modnss-lab"
WORKING = LAB / "a2_location_verify_reneg_on.log"


def run(*args, input=None, env=None):
    return CliRunner().invoke(main, list(args), input=input, env=env)


def run_json(*args, input=None):
    result = run("--format", "json", *args, input=input)
    return result, json.loads(result.stdout)


def test_file_with_error_exits_1():
    result = run(str(SEED))

    assert result.exit_code == 1
    assert "nss-renegotiation-refused" in result.stdout


def test_working_config_exits_0():
    result = run(str(WORKING))

    assert result.exit_code == 0


def test_stdin_pipe_matches_file():
    from_file, file_report = run_json(str(SEED))
    from_stdin, stdin_report = run_json(input=SEED.read_text())

    assert from_stdin.exit_code == 1
    assert stdin_report["summary"]["files"] == ["<stdin>"]
    assert stdin_report["findings"][0]["rule"] == file_report["findings"][0]["rule"]
    assert stdin_report["findings"][0]["count"] == file_report["findings"][0]["count"]


def test_dash_reads_stdin_between_files():
    result, report = run_json(str(WORKING), "-", "--keep-order", input=SEED.read_text())

    assert report["summary"]["files"] == [str(WORKING), "<stdin>"]
    assert report["summary"]["lines"] == 313 + 4


def test_terminal_stdin_is_usage_error():
    primary, secondary = os.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "nsslog"], stdin=secondary, capture_output=True, text=True, timeout=30
        )
    finally:
        os.close(primary)
        os.close(secondary)

    assert result.returncode == 2
    assert "standard input is a terminal" in result.stderr


def test_python_dash_m_runs():
    result = subprocess.run(
        [sys.executable, "-m", "nsslog", "--format", "json", str(SEED)],
        capture_output=True, text=True, timeout=60,
    )

    assert result.returncode == 1
    assert json.loads(result.stdout)["findings"][0]["rule"] == "nss-renegotiation-refused"


def test_version_option():
    result = run("--version")

    assert result.exit_code == 0
    assert result.stdout.strip() == f"nsslog {__version__}"


def test_missing_file_exits_2_and_analyses_others():
    result, report = run_json("/nonexistent/error_log", str(SEED))

    assert result.exit_code == 2
    assert "/nonexistent/error_log" in result.stderr
    assert report["findings"][0]["rule"] == "nss-renegotiation-refused"


@pytest.mark.parametrize(
    ("fail_on", "status"), [("error", 1), ("warning", 1), ("info", 1), ("never", 0)]
)
def test_fail_on_thresholds_with_error_finding(fail_on, status):
    assert run("--fail-on", fail_on, str(SEED)).exit_code == status


def test_fail_on_error_ignores_warnings(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "nss-renegotiation-refused.toml").write_text(
        (Path(__file__).parent.parent / "rules" / "nss-renegotiation-refused.toml")
        .read_text().replace('severity = "error"', 'severity = "warning"')
    )

    assert run("--rules", str(rules), "--fail-on", "error", str(SEED)).exit_code == 0
    assert run("--rules", str(rules), "--fail-on", "warning", str(SEED)).exit_code == 1


def test_rules_dir_replaces_builtin_rule(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    original = (Path(__file__).parent.parent / "rules" / "nss-renegotiation-refused.toml").read_text()
    (rules / "nss-renegotiation-refused.toml").write_text(
        original.replace(original.splitlines()[0], 'title = "Site-specific title"', 1)
    )
    result, report = run_json("--rules", str(rules), str(SEED))

    assert report["findings"][0]["title"] == "Site-specific title"


def test_broken_rule_file_exits_2(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "site-broken.toml").write_text('title = "x"\nseverity = "fatal"\n')
    result = run("--rules", str(rules), str(SEED))

    assert result.exit_code == 2
    assert "site-broken.toml" in result.stderr
    assert '"severity"' in result.stderr
    assert "Traceback" not in result.stderr


def test_json_has_documented_fields():
    result, report = run_json(str(SEED))
    finding = report["findings"][0]

    assert report["schema"] == "nsslog/1"
    for key in ("lines", "parsed", "continuation", "unparsed", "files", "first_time", "last_time"):
        assert key in report["summary"]
    for key in ("rule", "title", "severity", "count", "first_seen", "last_seen", "codes", "cause",
                "fix", "references", "evidence"):
        assert key in finding
    assert finding["codes"] == [{"code": -12176, "name": "SSL_ERROR_RENEGOTIATION_NOT_ALLOWED"}]
    assert finding["fix"]["directives"] == ["NSSRenegotiation on", "NSSRequireSafeNegotiation on"]
    assert finding["evidence"][-1] == {
        "file": str(SEED), "line": 4,
        "text": "[Fri Mar 30 11:43:54 2012] [debug] nss_engine_kernel.c(418): "
                "Re-negotation request failed: returned error -12176",
    }
    assert finding["first_seen"] == "2012-03-30T11:43:54"


def test_text_report_shows_fix_and_evidence():
    result = run("--color", "never", str(SEED))

    assert "NSSRenegotiation on" in result.stdout
    assert "seed-renegotiation-2.2.log:4" in result.stdout
    assert "4 read: 4 parsed, 0 continuation, 0 unparsed" in result.stdout
    assert "\x1b[" not in result.stdout


def test_fix_commands_print_unwrapped():
    from nsslog.rules import load_rules

    rule = next(rule for rule in load_rules() if rule.id == "nss-client-cert-untrusted-issuer")
    result = run("--color", "never", str(LAB / "c1_client_cert_unknown_ca.log"), env={"COLUMNS": "60"})
    printed = [line.strip() for line in result.stdout.splitlines()]

    assert any(len(command) > 60 for command in rule.fix.commands)
    for command in rule.fix.commands:
        assert f"$ {command}" in printed


def test_color_always_emits_escapes():
    result = run("--color", "always", str(SEED))

    assert "\x1b[" in result.stdout


def test_no_color_env_respected_in_auto():
    result = run("--color", "auto", str(SEED), env={"NO_COLOR": "1", "FORCE_COLOR": None})

    assert "\x1b[" not in result.stdout


def test_rules_list_names_rule():
    result = run("rules")

    assert result.exit_code == 0
    assert "nss-renegotiation-refused" in result.stdout


def test_rules_check_reports_failing_example(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "site-demo.toml").write_text(
        'title = "Demo"\nseverity = "warning"\ncause = "c"\n'
        '[match]\nmessage = "needle"\n[fix]\ntext = "t"\n'
        '[examples]\nmatch = ["[Fri Mar 30 11:43:54 2012] [error] no such word"]\n'
        'no_match = ["[Fri Mar 30 11:43:54 2012] [error] needle"]\n'
    )
    result = run("rules", "check", str(rules))

    assert result.exit_code == 2
    assert "example does not match" in result.stderr
    assert "example matches but must not" in result.stderr


def test_rules_check_builtin_passes():
    result = run("rules", "check")

    assert result.exit_code == 0, result.stderr
    assert "all good" in result.stdout


def test_only_missing_input_not_called_clean():
    result = run("--color", "never", "/nonexistent/error_log")

    assert result.exit_code == 2
    assert "No log lines were read" in result.stdout
    assert "nothing in these lines points" not in result.stdout


def test_usage_line_names_nsslog_only():
    result = run("--help")

    assert result.stdout.startswith("Usage: nsslog [OPTIONS] [FILE]...")


def test_rules_list_piped_is_one_line_per_rule():
    result = run("rules")
    first = result.stdout.splitlines()[0].split("\t")

    assert len(first) == 3
    assert first[1] in ("error", "warning", "info")


def test_rules_check_empty_folder_fails(tmp_path):
    (tmp_path / "notes.txt").write_text("not a rule")
    result = run("rules", "check", str(tmp_path))

    assert result.exit_code == 2
    assert "no rule files found" in result.stderr
    assert "notes.txt: ignored" in result.stderr


def test_closed_pipe_ends_quietly():
    # The shell reports a program ended by SIGPIPE as 128 + 13 = 141.
    result = subprocess.run(
        f"{sys.executable} -m nsslog explain renegotiation | head -c 1 > /dev/null; echo ${{PIPESTATUS[0]}}",
        shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=60,
    )

    assert result.stdout.strip() in ("0", "141")
    assert "Traceback" not in result.stderr
    assert "BrokenPipe" not in result.stderr
