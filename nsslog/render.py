"""Render a report as text on a rich console.

Log text is untrusted: clients control parts of it. It reaches the console only as
``rich.text.Text`` built from ``printable()`` output, so rich markup in a log line is never
interpreted and control characters are shown escaped, never emitted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.console import Console
from rich.text import Text

from nsslog.report import Finding, Report, Summary

SEVERITY_STYLES = {"error": "bold red", "warning": "bold yellow", "info": "bold cyan"}

# C0 and C1 controls, DEL, lone surrogates (undecodable bytes), and the Unicode format
# characters that reorder or hide text on a terminal (bidirectional overrides and isolates,
# zero-width characters).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)
_NAMED_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\b": "\\b", "\x0b": "\\v", "\x1b": "\\x1b"}


def printable(text: str) -> str:
    """Escape every character that could drive a terminal or hide text."""
    return _UNSAFE.sub(_escape_char, text)


def _escape_char(match: re.Match) -> str:
    char = match.group(0)
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def safe(text: str, style: str = "") -> Text:
    """Wrap untrusted text for rich: no markup, no control characters."""
    return Text(printable(text), style=style)


def render_report(report: Report, console: Console, show_info: bool = True) -> None:
    """Print the summary, then every finding."""
    render_summary(report.summary, console)

    findings = [item for item in report.findings if show_info or item.severity != "info"]
    print_indented(Text(_count_line(report), style="bold"), console, indent=0)
    console.print()
    for finding in findings:
        render_finding(finding, console)
        console.print()


def render_summary(summary: Summary, console: Console) -> None:
    """Print which files were read, the line accounting and the times of the records."""
    files = ", ".join(printable(name) for name in summary.files) or "none"
    lines = [
        _labelled("Files: ", files),
        _labelled(
            "Lines: ",
            f"{summary.lines} read: {summary.parsed} parsed, {summary.continuation} continuation, "
            f"{summary.unparsed} unparsed",
        ),
    ]
    if summary.first_time:
        lines.append(_labelled("First and last record: ", _span(summary.first_time, summary.last_time)))
    for message in summary.errors:
        lines.append(_labelled("Input error: ", printable(message), "bold red"))
    for message in summary.warnings:
        lines.append(_labelled("Warning: ", printable(message), "bold yellow"))

    for line in lines:
        print_indented(line, console, indent=0)
    console.print()


def render_finding(finding: Finding, console: Console) -> None:
    """Print one finding: title, count and time, codes, cause, fix and evidence."""
    style = SEVERITY_STYLES.get(finding.severity, "bold")
    heading = Text.assemble(
        (f"{finding.severity.upper()} ", style),
        (finding.title, "bold"),
        (f"  [{finding.rule}]", "dim"),
    )
    print_indented(heading, console, indent=0)

    seen = "once" if finding.count == 1 else f"{finding.count} times"
    if finding.first_seen:
        seen += ", " + _span(finding.first_seen, finding.last_seen)
    body = [Text(f"Seen {seen}")]
    if finding.codes:
        names = ", ".join(f"{code} {name}" for code, name in finding.codes)
        body.append(_labelled("Codes: ", names))
    body.append(_labelled("Cause: ", finding.cause))
    body.extend(_fix_lines(finding))
    if finding.known_problems:
        body.append(_labelled("Known problems: ", finding.known_problems))
    body.append(Text("Evidence:", style="bold"))
    for item in body:
        if isinstance(item, _Whole):
            # Directives and commands are meant to be copied, so a line break would break them.
            console.print(Text("  ") + item.text, soft_wrap=True)
        else:
            print_indented(item, console)

    # Evidence lines are printed whole, without wrapping, so they can be copied and searched.
    for item in finding.evidence:
        line = Text.assemble((f"    {printable(item.file)}:{item.line}  ", "dim"), printable(item.text))
        console.print(line, soft_wrap=True)


def _labelled(label: str, text: str, style: str = "bold") -> Text:
    # Text.assemble styles the label alone; adding Texts would spread the label's style.
    return Text.assemble((label, style), text)


def print_indented(text: Text, console: Console, indent: int = 2) -> None:
    """Print text wrapped to the console width, every line indented, with no padding."""
    width = max(20, console.width - indent)
    for line in text.wrap(console, width):
        line.rstrip()
        console.print(Text(" " * indent) + line if line.plain else Text(), soft_wrap=True)


@dataclass(frozen=True)
class _Whole:
    """A report line printed whole, without wrapping."""

    text: Text


def _fix_lines(finding: Finding) -> list[Text | _Whole]:
    fix = finding.filled_fix()
    heading = "Fix" + (f" (in {fix.where})" if fix.where else "") + ":"
    lines = [Text(heading, style="bold")]
    for directive in fix.directives:
        lines.append(_Whole(Text(f"    {directive}", style="green")))
    for command in fix.commands:
        lines.append(_Whole(Text(f"    $ {command}", style="green")))
    lines.append(Text(fix.text))
    if finding.references:
        lines.append(_labelled("References: ", ", ".join(finding.references)))
    return lines


def _count_line(report: Report) -> str:
    findings = report.findings
    if report.summary.lines == 0:
        return "No log lines were read, so nothing was analysed."
    if not findings and report.summary.errors:
        return "No findings in the lines read, but some inputs could not be read (see above)."
    if not findings:
        return "No findings: nothing in these lines points at a TLS or client-certificate problem."
    counts = {}
    for finding in findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    parts = [f"{counts[name]} {name}" for name in ("error", "warning", "info") if name in counts]
    noun = "finding" if len(findings) == 1 else "findings"
    return f"{len(findings)} {noun}: " + ", ".join(parts)


def _span(first: str | None, last: str | None) -> str:
    first_text = (first or "?").replace("T", " ")
    last_text = (last or "?").replace("T", " ")
    return first_text if first_text == last_text else f"{first_text} to {last_text}"
