"""Broken rule files and slow rule regexes, through `nsslog --rules DIR` and `nsslog rules check`.

A broken file must stop nsslog with exit status 2 and one message that names the file, the
rule id and the field, without a traceback. A regular expression that runs too long on a
line is skipped there, reported once, and the analysis goes on.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
SEED_LOG = DATA / "seed-renegotiation-2.2.log"

VALID_RULE = """\
title = "Line of a's"
severity = "warning"
cause = "A test rule."

[match]
message = '^a+$'

[fix]
text = "Nothing to do."

[examples]
match = ["[Fri Mar 30 11:43:54 2012] [error] aaaa"]
no_match = ["[Fri Mar 30 11:43:54 2012] [error] aaab"]
"""


def run(*args: str | Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "nsslog", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


# Each case: file stem, how to break the valid rule, and the field the message must name
# (None where the file cannot be read far enough to know one).
BROKEN = [
    pytest.param("bad-toml", lambda text: text.replace('title = "Line', 'title = "Line\n'), None,
                 "invalid TOML", id="bad-toml"),
    pytest.param("unknown-key", lambda text: "colour = 'red'\n" + text, "colour",
                 "unknown key", id="unknown-top-key"),
    pytest.param("unknown-match-key", lambda text: text.replace("message = ", "mesage = "),
                 "match.mesage", "unknown key", id="unknown-match-key"),
    pytest.param("wrong-type", lambda text: text.replace('severity = "warning"', "severity = 3"),
                 "severity", "must be a string", id="severity-not-string"),
    pytest.param("wrong-code", lambda text: text.replace("message = '^a+$'", "codes = ['-8179x']"),
                 "match.codes", "must be a list of integers", id="codes-not-integers"),
    pytest.param("wrong-priority", lambda text: 'priority = "high"\n' + text, "priority",
                 "must be an integer", id="priority-not-integer"),
    pytest.param("bad-regex", lambda text: text.replace("'^a+$'", "'^(a+$'"), "match.message",
                 "invalid regular expression", id="bad-regex"),
    pytest.param("no-cause", lambda text: text.replace('cause = "A test rule."\n', ""), "cause",
                 "is missing", id="missing-cause"),
    pytest.param("no-fix-text", lambda text: text.replace('text = "Nothing to do."\n', ""), "fix.text",
                 "is missing", id="missing-fix-text"),
    pytest.param("bad-severity", lambda text: text.replace('"warning"', '"fatal"'), "severity",
                 "must be one of", id="unknown-severity"),
    pytest.param("bad-window", lambda text: text + "\n[[sequence]]\nmessage = 'x'\nwindow = -1\n",
                 "sequence[0].window", "must be a number", id="negative-window"),
    pytest.param("bad-peer", lambda text: text.replace("[match]\n", "[match]\npeer = ['server']\n"),
                 "match.peer", "unknown peer kind", id="unknown-peer"),
    pytest.param("same-group", lambda text: text.replace("'^a+$'", "'^(?P<x>a)|(?P<x>b)$'"), "match.message",
                 "group name 'x' is used twice", id="group-name-twice"),
    pytest.param("bad-optional", lambda text: text + "\n[[sequence]]\nmessage = 'x'\noptional = 'yes'\n",
                 "sequence[0].optional", "must be true or false", id="optional-not-boolean"),
    pytest.param("optional-follow-up", lambda text: text + "\n[[follow_up]]\nmessage = 'x'\noptional = true\n",
                 "follow_up[0].optional", "unknown key", id="optional-in-follow-up"),
]


def _broken_folder(tmp_path: Path, stem: str, breaker) -> tuple[Path, Path]:
    folder = tmp_path / "rules"
    folder.mkdir()
    path = folder / f"{stem}.toml"
    path.write_text(breaker(VALID_RULE), encoding="utf-8")
    return folder, path


def _expected_start(path: Path, stem: str, field: str | None) -> str:
    where = f'{path}: rule "{stem}"'
    return where + (f': field "{field}"' if field else "")


@pytest.mark.parametrize(("stem", "breaker", "field", "problem"), BROKEN)
def test_analyse_with_broken_rule(tmp_path, stem, breaker, field, problem):
    folder, path = _broken_folder(tmp_path, stem, breaker)
    result = run("--rules", folder, SEED_LOG)

    assert result.returncode == 2
    assert result.stderr.startswith(f"nsslog: error: {_expected_start(path, stem, field)}: {problem}")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(("stem", "breaker", "field", "problem"), BROKEN)
def test_analyse_reports_one_error(tmp_path, stem, breaker, field, problem):
    folder, _ = _broken_folder(tmp_path, stem, breaker)
    result = run("--rules", folder, SEED_LOG)

    assert result.stderr.count("nsslog: error:") == 1


@pytest.mark.parametrize(("stem", "breaker", "field", "problem"), BROKEN)
def test_check_broken_rule(tmp_path, stem, breaker, field, problem):
    folder, path = _broken_folder(tmp_path, stem, breaker)
    result = run("rules", "check", folder)

    assert result.returncode == 2
    assert result.stderr.startswith(f"{_expected_start(path, stem, field)}: {problem}")
    assert "Traceback" not in result.stderr


def test_check_lists_every_broken_file(tmp_path):
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "first.toml").write_text("colour = 'red'\n" + VALID_RULE, encoding="utf-8")
    (folder / "second.toml").write_text(VALID_RULE.replace("'^a+$'", "'('"), encoding="utf-8")
    (folder / "third.toml").write_text(VALID_RULE, encoding="utf-8")
    result = run("rules", "check", folder)

    assert result.returncode == 2
    assert 'rule "first": field "colour"' in result.stderr
    assert 'rule "second": field "match.message"' in result.stderr
    assert "2 problems" in result.stderr


def test_check_valid_rule(tmp_path):
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "line-of-a.toml").write_text(VALID_RULE, encoding="utf-8")
    result = run("rules", "check", folder)

    assert result.returncode == 0
    assert "1 rule and 2 examples" in result.stdout


def test_file_name_not_rule_id(tmp_path):
    folder = tmp_path / "rules"
    folder.mkdir()
    path = folder / "Bad_Name.toml"
    path.write_text(VALID_RULE, encoding="utf-8")
    result = run("--rules", folder, SEED_LOG)

    assert result.returncode == 2
    assert f'{path}: rule "Bad_Name": the file name must be a rule id' in result.stderr


def test_rules_folder_missing(tmp_path):
    result = run("--rules", tmp_path / "nothing", SEED_LOG)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_example_that_fails(tmp_path):
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "wrong-example.toml").write_text(VALID_RULE.replace("] aaab", "] aaaa"), encoding="utf-8")
    result = run("rules", "check", folder)

    assert result.returncode == 2
    assert 'rule "wrong-example": example matches but must not' in result.stderr


# -- regular expressions that run too long -----------------------------------------

# `regex` backtracks through every split of the a's between the inner and outer `+` before
# it reaches the final b. With 100 000 a's one search runs far past the engine's time limit.
CATASTROPHIC_RULE = VALID_RULE.replace("'^a+$'", "'^(a+)+$'")
SLOW_LINE = "[Fri Mar 30 11:43:54 2012] [error] " + "a" * 100_000 + "b\n"


def _slow_run(tmp_path: Path, slow_lines: int = 2) -> tuple[subprocess.CompletedProcess, float]:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "catastrophic.toml").write_text(CATASTROPHIC_RULE, encoding="utf-8")
    log = tmp_path / "error_log"
    # Each slow line differs, because the engine keeps the result for a repeated message.
    slow = "".join(SLOW_LINE.replace("b\n", "b" * (index + 1) + "\n") for index in range(slow_lines))
    log.write_text(slow + SEED_LOG.read_text(encoding="utf-8"), encoding="utf-8")

    started = time.monotonic()
    result = run("--format", "json", "--rules", folder, log)
    return result, time.monotonic() - started


def test_slow_regex_finishes(tmp_path):
    result, elapsed = _slow_run(tmp_path)

    assert result.returncode == 1
    # Two lines at the engine's limit of 0.25 s each, plus start-up.
    assert elapsed < 20


def test_slow_regex_warned_once(tmp_path):
    result, _ = _slow_run(tmp_path)
    warnings = json.loads(result.stdout)["summary"]["warnings"]

    assert len(warnings) == 1
    assert 'rule "catastrophic"' in warnings[0]


def test_slow_regex_rest_analysed(tmp_path):
    result, _ = _slow_run(tmp_path)
    report = json.loads(result.stdout)

    assert report["summary"]["lines"] == 6
    assert "nss-renegotiation-refused" in {finding["rule"] for finding in report["findings"]}


def test_slow_regex_disabled_after_repeats(tmp_path):
    result, _ = _slow_run(tmp_path, slow_lines=5)
    report = json.loads(result.stdout)
    warnings = report["summary"]["warnings"]

    assert len(warnings) == 2
    assert "disabled for the rest of the run" in warnings[1]
    assert report["summary"]["lines"] == 9
    assert "nss-renegotiation-refused" in {finding["rule"] for finding in report["findings"]}


def test_slow_regex_warning_in_text(tmp_path):
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "catastrophic.toml").write_text(CATASTROPHIC_RULE, encoding="utf-8")
    log = tmp_path / "error_log"
    log.write_text(SLOW_LINE, encoding="utf-8")
    result = run("--color", "never", "--rules", folder, log)

    assert 'Warning: rule "catastrophic"' in result.stdout
