"""The diagnosis report and its JSON form.

JSON output is always valid UTF-8: a byte of the log that was not valid UTF-8 appears in
strings as the four characters ``\\xHH`` (a backslash, x and two lower-case hex digits), the
form httpd itself uses for escaped bytes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from nsslog.fill import fill_fix
from nsslog.rules import Fix

SCHEMA = "nsslog/1"

_C1_CONTROLS = re.compile("[\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class Evidence:
    """One log line behind a finding."""

    file: str
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class Finding:
    """A diagnosed problem: the rule, how often and when, what to do, and the evidence."""

    rule: str
    title: str
    severity: str
    count: int
    first_seen: str | None
    last_seen: str | None
    codes: tuple[tuple[int, str], ...]
    cause: str
    fix: Fix
    references: tuple[str, ...]
    known_problems: str
    evidence: tuple[Evidence, ...]
    # Values read from the evidence for the fix's placeholders, by placeholder name.
    filled: tuple[tuple[str, str], ...] = ()

    def filled_fix(self) -> Fix:
        """Return the fix with the values read from the log in place of its placeholders."""
        return fill_fix(self.fix, dict(self.filled))[0] if self.filled else self.fix


@dataclass(frozen=True, slots=True)
class Summary:
    """The input read: files, line accounting, record times, input errors and warnings."""

    files: tuple[str, ...]
    lines: int
    parsed: int
    continuation: int
    unparsed: int
    first_time: str | None
    last_time: str | None
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Report:
    """The summary and the findings, most severe first."""

    summary: Summary
    findings: tuple[Finding, ...]


def escape_undecodable(text: str) -> str:
    """Replace each lone surrogate (an undecodable byte) with the text ``\\xHH``."""
    if text.isascii():
        return text
    return "".join(
        f"\\x{ord(char) - 0xDC00:02x}" if 0xDC80 <= ord(char) <= 0xDCFF else char for char in text
    )


def finding_to_dict(finding: Finding) -> dict:
    """Return the JSON object of one finding."""
    fix = finding.filled_fix()
    return {
        "rule": finding.rule,
        "title": finding.title,
        "severity": finding.severity,
        "count": finding.count,
        "first_seen": finding.first_seen,
        "last_seen": finding.last_seen,
        "codes": [{"code": code, "name": name} for code, name in finding.codes],
        "cause": finding.cause,
        "fix": {
            "directives": list(fix.directives),
            "where": fix.where,
            "commands": list(fix.commands),
            "text": fix.text,
            "filled": dict(finding.filled),
        },
        "references": list(finding.references),
        "known_problems": finding.known_problems,
        "evidence": [
            {"file": escape_undecodable(item.file), "line": item.line, "text": escape_undecodable(item.text)}
            for item in finding.evidence
        ],
    }


def summary_to_dict(summary: Summary) -> dict:
    """Return the JSON object of the summary."""
    return {
        "files": [escape_undecodable(name) for name in summary.files],
        "lines": summary.lines,
        "parsed": summary.parsed,
        "continuation": summary.continuation,
        "unparsed": summary.unparsed,
        "first_time": summary.first_time,
        "last_time": summary.last_time,
        "errors": [escape_undecodable(message) for message in summary.errors],
        "warnings": [escape_undecodable(message) for message in summary.warnings],
    }


def report_to_dict(report: Report) -> dict:
    """Return the JSON object of a whole report."""
    return {
        "schema": SCHEMA,
        "summary": summary_to_dict(report.summary),
        "findings": [finding_to_dict(finding) for finding in report.findings],
    }


def dumps_json(data, indent: int | None = 2) -> str:
    """Serialise to JSON text in which no character can act on a terminal.

    json.dumps escapes the C0 controls; DEL and the C1 controls are legal in JSON strings,
    but a terminal may act on them (U+009B is a CSI), so they are escaped too.
    """
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    return _C1_CONTROLS.sub(lambda match: f"\\u{ord(match.group(0)):04x}", text)


def report_to_json(report: Report) -> str:
    """Serialise a whole report as JSON text."""
    return dumps_json(report_to_dict(report))
