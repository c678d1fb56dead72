"""Tests that log text reaches a terminal and JSON only as inert, escaped text.

Clients control parts of an error_log line (the request path, the SNI name, certificate
fields), so a line may carry rich markup or terminal escape sequences. Neither may change
what the terminal shows.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import pytest
from rich.console import Console

from nsslog.render import printable, render_finding, render_report
from nsslog.report import Evidence, Finding, Report, Summary, report_to_json
from nsslog.rules import Fix

# Markup, an SGR colour sequence, an OSC window-title sequence ended by BEL, a lone BEL,
# a backspace, a carriage return, a C1 CSI and a byte that was not valid UTF-8.
HOSTILE = (
    "[bold red]owned[/bold red] [/x] \x1b[31mred\x1b[0m \x1b]0;title\x07 bell\x07 "
    "back\x08space cr\rreturn csi\x9b2J bad\udcff"
)
HOSTILE_SHOWN = (
    "[bold red]owned[/bold red] [/x] \\x1b[31mred\\x1b[0m \\x1b]0;title\\x07 bell\\x07 "
    "back\\bspace cr\\rreturn csi\\x9b2J bad\\xff"
)
HOSTILE_FILE = "logs/[blink]error_log\x1b[2J"

# Styles that rich itself writes. Any other ESC in the output came from the log.
_RICH_SGR = re.compile(r"\x1b\[[0-9;]*m")
_TERMINAL_CONTROLS = ("\x1b", "\x07", "\x08", "\r", "\x9b")


def _finding() -> Finding:
    return Finding(
        rule="nss-code", title="NSS error SEC_ERROR_UNKNOWN_ISSUER (-8179)", severity="error",
        count=1, first_seen=None, last_seen=None, codes=((-8179, "SEC_ERROR_UNKNOWN_ISSUER"),),
        cause="The issuer is unknown.", fix=Fix(text="Import the CA."), references=(),
        known_problems="", evidence=(Evidence(HOSTILE_FILE, 3, HOSTILE),),
    )


def _report() -> Report:
    summary = Summary(
        files=(HOSTILE_FILE,), lines=1, parsed=1, continuation=0, unparsed=0,
        first_time=None, last_time=None, errors=(f"{HOSTILE_FILE}.1: file not found",),
    )
    return Report(summary=summary, findings=(_finding(),))


def _terminal() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="truecolor", width=100)
    return console, buffer


def _evidence_line(output: str) -> str:
    return next(line for line in output.splitlines() if ":3  " in line)


def test_printable_escapes_controls():
    assert printable(HOSTILE) == HOSTILE_SHOWN


def test_evidence_line_exact_bytes():
    # Only the file and line number are dim; the log text itself carries no style.
    console, buffer = _terminal()
    render_finding(_finding(), console)

    expected = (
        "\x1b[2m    logs/[blink]error_log\\x1b[2J:3  \x1b[0m" + HOSTILE_SHOWN
    )
    assert _evidence_line(buffer.getvalue()) == expected


def test_markup_printed_as_written():
    console, buffer = _terminal()
    render_finding(_finding(), console)

    assert "[bold red]owned[/bold red] [/x]" in buffer.getvalue()


@pytest.mark.parametrize("control", _TERMINAL_CONTROLS, ids=["esc", "bel", "bs", "cr", "csi"])
def test_report_emits_no_control(control):
    console, buffer = _terminal()
    render_report(_report(), console)

    assert control not in _RICH_SGR.sub("", buffer.getvalue())


def test_summary_error_escaped():
    console, buffer = _terminal()
    render_report(_report(), console)

    assert "logs/[blink]error_log\\x1b[2J.1: file not found" in buffer.getvalue()


def test_summary_file_escaped():
    console, buffer = _terminal()
    render_report(_report(), console)

    assert "Files: logs/[blink]error_log\\x1b[2J" in _RICH_SGR.sub("", buffer.getvalue())


def test_summary_file_not_bold():
    console, buffer = _terminal()
    render_report(_report(), console)

    assert "\x1b[1mFiles: \x1b[0mlogs/" in buffer.getvalue()


def test_json_escapes_controls():
    evidence = json.loads(report_to_json(_report()))["findings"][0]["evidence"][0]

    assert evidence["text"] == HOSTILE.replace("\udcff", "\\xff")


def test_json_text_has_no_raw_c0():
    text = report_to_json(_report())

    assert not re.search("[\x00-\x1f]", text.replace("\n", ""))


def test_json_has_no_raw_c1():
    # A terminal that honours 8-bit controls treats U+009B as CSI, so `cat report.json`
    # must not write it raw either.
    text = report_to_json(_report())

    assert "\x9b" not in text


def test_json_encodes_as_utf8():
    report_to_json(_report()).encode("utf-8")


# -- through the command line ------------------------------------------------------

LOG_LINE = (
    b"[Fri Mar 30 11:43:54 2012] [error] SSL Library Error: -8179 [bold red]x[/bold red] [/x] "
    b"\x1b[31mred\x1b[0m \x1b]0;title\x07 back\x08space \xc2\x9b2J bad\xff\n"
)
LOG_LINE_SHOWN = (
    "SSL Library Error: -8179 [bold red]x[/bold red] [/x] \\x1b[31mred\\x1b[0m "
    "\\x1b]0;title\\x07 back\\bspace \\x9b2J bad\\xff"
)


def _run(tmp_path, *options: str) -> subprocess.CompletedProcess:
    log = tmp_path / "error_log"
    log.write_bytes(LOG_LINE)
    return subprocess.run(
        [sys.executable, "-m", "nsslog", *options, str(log)],
        capture_output=True, check=False,
    )


def test_cli_color_shows_escapes(tmp_path):
    result = _run(tmp_path, "--color", "always")

    assert LOG_LINE_SHOWN in result.stdout.decode("utf-8")


@pytest.mark.parametrize("control", [b"\x1b]", b"\x1b[31", b"\x07", b"\x08", b"\xc2\x9b"],
                         ids=["osc", "sgr-from-log", "bel", "bs", "csi"])
def test_cli_color_emits_no_log_control(tmp_path, control):
    result = _run(tmp_path, "--color", "always")

    assert control not in result.stdout


def test_cli_json_evidence_text(tmp_path):
    result = _run(tmp_path, "--format", "json")
    evidence = json.loads(result.stdout)["findings"][0]["evidence"][0]

    assert evidence["text"].endswith(
        "[bold red]x[/bold red] [/x] \x1b[31mred\x1b[0m \x1b]0;title\x07 back\x08space \x9b2J bad\\xff"
    )


@pytest.mark.parametrize("control", [b"\x1b", b"\x07", b"\x08", b"\xc2\x9b"], ids=["esc", "bel", "bs", "csi"])
def test_cli_json_bytes_no_control(tmp_path, control):
    result = _run(tmp_path, "--format", "json")

    assert control not in result.stdout
