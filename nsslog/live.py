"""Follow mode: analyse lines as they are appended and show each finding as it appears.

The lines of a :class:`~nsslog.follow.Follower` go into the same incremental
:class:`~nsslog.engine.Analysis` as batch mode, so the final summary equals the report of
a batch run over the same lines.  A finding is complete when the line that matches its
rule arrives, because a sequence rule only looks back at earlier lines.

There are three outputs.  On a terminal, a rich live view prints each new finding in
full above a table of counts.  Elsewhere, and with ``--format jsonl``, JSON lines carry
``{"event": "finding", ...}`` for a new finding or a change to one and
``{"event": "summary", ...}`` at the end.  With ``--format json`` the JSON report of
batch mode is printed once, at the end.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable

import click
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from nsslog.engine import Analysis
from nsslog.follow import Follower, FollowedLine, FollowNotice, IdleTick, stop_on_signals
from nsslog.reader import STDIN_NAME, decode
from nsslog.render import SEVERITY_STYLES, printable, render_summary
from nsslog.report import Finding, Report, dumps_json, finding_to_dict, report_to_dict, report_to_json
from nsslog.rules import Rule

# Seconds between two outputs of the same finding, and between two redraws of the live
# view: a burst of repeats becomes one updated count, not one output per line.  A new
# finding is always shown at once.
UPDATE_INTERVAL = 0.25

# Ticks flush held-back updates, so a count is never older than this on screen.
TICK_INTERVAL = 0.25

COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")

FindingKey = tuple[str, int | None]


def run(
    files: Iterable[str],
    rules: Iterable[Rule],
    output_format: str,
    console: Console,
    fail_on: str,
    from_start: bool,
    redact: bool = False,
) -> int:
    """Follow ``files`` until SIGINT, SIGTERM or the end of standard input; return the exit status."""
    from nsslog.cli import exit_status

    # A path named twice would have each of its lines counted twice.
    files = list(dict.fromkeys(files))
    _reject_compressed(files)
    analysis = Analysis(rules)
    for path in files:
        analysis.start_file(STDIN_NAME if path == "-" else path)

    output = _make_output(output_format, console, files)
    if redact:
        output = _RedactingOutput(output)
    publisher = _Publisher(analysis, output)
    try:
        with Follower(files, from_start=from_start, tick_interval=TICK_INTERVAL) as follower:
            with stop_on_signals(follower):
                _follow(follower, analysis, publisher)
                output.finish(analysis.report())
    except KeyboardInterrupt:
        # Ctrl-C came while the files were being opened, before the handlers were set.
        output.finish(analysis.report())
    except BrokenPipeError:
        # The reader of standard output went away, as with `| head`, so stop quietly.
        _discard_stdout()
    return exit_status(analysis.report(), fail_on)


def _reject_compressed(files: list[str]) -> None:
    for path in files:
        if path.lower().endswith(COMPRESSED_SUFFIXES):
            raise click.UsageError(
                f"{path}: a compressed file cannot be followed; follow the live log "
                "or analyse this file without --follow"
            )


def _make_output(output_format: str, console: Console, files: list[str]) -> _Output:
    if output_format == "json":
        return _JsonReport()
    if output_format == "jsonl" or not console.is_terminal:
        return _JsonLines()
    return _LiveView(console, files)


def _follow(follower: Follower, analysis: Analysis, publisher: _Publisher) -> None:
    nul_lines: dict[str, int] = {}
    publisher.start()
    try:
        for event in follower.events():
            if isinstance(event, FollowedLine):
                if b"\x00" in event.data:
                    nul_lines[event.source] = nul_lines.get(event.source, 0) + 1
                changed = analysis.feed(event.source, event.line_number, decode(event.data))
                publisher.lines_read(changed)
            elif isinstance(event, FollowNotice):
                publisher.notice(event)
            elif isinstance(event, IdleTick):
                publisher.tick()
        publisher.tick()
    finally:
        publisher.stop()

    for source, count in nul_lines.items():
        analysis.warnings.append(
            f"{source}: {count} lines contain NUL bytes; this may be a binary file, not an error_log"
        )


def _discard_stdout() -> None:
    # Python flushes stdout at exit; pointing it at /dev/null keeps that flush from
    # raising BrokenPipeError again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


class _Publisher:
    """The timing of outputs: a changed finding is shown at once, unless it was shown less than UPDATE_INTERVAL ago."""

    def __init__(self, analysis: Analysis, output: _Output) -> None:
        self.analysis = analysis
        self.output = output
        self.shown_at: dict[FindingKey, float] = {}
        self.pending: set[FindingKey] = set()
        self.view_dirty = False
        self.view_drawn_at = 0.0

    def start(self) -> None:
        self.output.start(self.analysis.report())

    def lines_read(self, changed: list[FindingKey]) -> None:
        now = time.monotonic()
        for key in changed:
            shown_at = self.shown_at.get(key)
            if shown_at is None or now - shown_at >= UPDATE_INTERVAL:
                self._show(key, shown_at is None, now)
            else:
                self.pending.add(key)

        self.view_dirty = True
        if now - self.view_drawn_at >= UPDATE_INTERVAL:
            self._redraw(now)

    def notice(self, notice: FollowNotice) -> None:
        self.output.notice(f"nsslog: {printable(notice.source)}: {notice.message}")

    def tick(self) -> None:
        """Show every held-back update and redraw the view if anything changed."""
        now = time.monotonic()
        for key in sorted(self.pending):
            self._show(key, False, now)
        if self.view_dirty:
            self._redraw(now)

    def stop(self) -> None:
        self.output.stop(self.analysis.report())

    def _show(self, key: FindingKey, new: bool, now: float) -> None:
        finding = self.analysis.finding(key)
        if finding is None:
            # A sequence rule took over every record of this finding.
            if key in self.shown_at:
                self.output.withdraw(key)
            self.shown_at.pop(key, None)
        else:
            self.output.show(finding, new)
            self.shown_at[key] = now
        self.pending.discard(key)

    def _redraw(self, now: float) -> None:
        self.output.redraw(self.analysis.report())
        self.view_dirty = False
        self.view_drawn_at = now


class _Output:
    """An output of follow mode; this base class shows nothing."""

    def start(self, report: Report) -> None:
        pass

    def show(self, finding: Finding, new: bool) -> None:
        pass

    def withdraw(self, key: FindingKey) -> None:
        pass

    def redraw(self, report: Report) -> None:
        pass

    def notice(self, message: str) -> None:
        click.echo(message, err=True)

    def stop(self, report: Report) -> None:
        pass

    def finish(self, report: Report) -> None:
        pass


class _RedactingOutput(_Output):
    """Another output, fed redacted findings and reports; one Redactor keeps placeholders stable."""

    def __init__(self, inner: _Output) -> None:
        from nsslog.redact import Redactor

        self.inner = inner
        self.redactor = Redactor()

    def start(self, report: Report) -> None:
        self.inner.start(self.redactor.report(report))

    def show(self, finding: Finding, new: bool) -> None:
        self.inner.show(self.redactor.finding(finding), new)

    def withdraw(self, key: FindingKey) -> None:
        self.inner.withdraw(key)

    def redraw(self, report: Report) -> None:
        self.inner.redraw(self.redactor.report(report))

    def notice(self, message: str) -> None:
        self.inner.notice(self.redactor.text(message))

    def stop(self, report: Report) -> None:
        self.inner.stop(self.redactor.report(report))

    def finish(self, report: Report) -> None:
        self.inner.finish(self.redactor.report(report))


class _JsonLines(_Output):
    """One JSON object per line and event, flushed at once so a pipe reader sees it."""

    def show(self, finding: Finding, new: bool) -> None:
        _write_json_line({"event": "finding", **finding_to_dict(finding)})

    def withdraw(self, key: FindingKey) -> None:
        rule, code = key
        _write_json_line({"event": "withdrawn", "rule": rule, "code": code})

    def finish(self, report: Report) -> None:
        _write_json_line({"event": "summary", **report_to_dict(report)})


class _JsonReport(_Output):
    """The JSON report of batch mode, printed once when following stops."""

    def finish(self, report: Report) -> None:
        sys.stdout.buffer.write(report_to_json(report).encode("utf-8") + b"\n")
        sys.stdout.flush()


class _LiveView(_Output):
    """A table of findings with counts and last times, each new finding printed in full above it."""

    def __init__(self, console: Console, files: list[str]) -> None:
        self.console = console
        self.files = ", ".join(printable(STDIN_NAME if path == "-" else path) for path in files)
        # Redraws come from the publisher only, so an idle view costs no CPU.
        # The view stays on screen when following stops: erasing it would leave a stray
        # line whenever the terminal echoes ^C after the last line.
        self.live = Live(console=console, auto_refresh=False)

    def start(self, report: Report) -> None:
        self.live.update(self._view(report))
        self.live.start(refresh=True)

    def show(self, finding: Finding, new: bool) -> None:
        if new:
            from nsslog.render import render_finding

            render_finding(finding, self.console)
            self.console.print()

    def redraw(self, report: Report) -> None:
        self.live.update(self._view(report), refresh=True)

    def notice(self, message: str) -> None:
        # Through the console, because text written to stderr behind rich's back would
        # be overwritten by the next redraw.
        self.console.print(Text(message, style="yellow"))

    def stop(self, report: Report) -> None:
        self.live.update(self._view(report, stopped=True), refresh=True)
        self.live.stop()
        self.console.print()

    def finish(self, report: Report) -> None:
        render_summary(report.summary, self.console)

    def _view(self, report: Report, stopped: bool = False) -> Group:
        lines = report.summary.lines
        if stopped:
            heading = Text(f"Stopped following {self.files}: {lines} lines read", style="bold")
        else:
            heading = Text(f"Following {self.files}: {lines} lines read; Ctrl-C stops", style="bold")
        return Group(heading, findings_table(report))


def findings_table(report: Report) -> Table:
    """Build a table of the findings of ``report``: severity, title, rule, count and last time."""
    table = Table(expand=False)
    table.add_column("Severity")
    table.add_column("Finding")
    table.add_column("Rule", style="dim")
    table.add_column("Count", justify="right")
    table.add_column("Last seen")

    for finding in report.findings:
        style = SEVERITY_STYLES.get(finding.severity, "bold")
        last_seen = (finding.last_seen or "-").replace("T", " ")
        table.add_row(
            Text(finding.severity.upper(), style=style),
            Text(printable(finding.title)),
            Text(finding.rule),
            Text(str(finding.count)),
            Text(last_seen),
        )
    if not report.findings:
        table.add_row(Text("-"), Text("no findings yet"), Text(""), Text(""), Text(""))
    return table


def _write_json_line(event: dict) -> None:
    line = dumps_json(event, indent=None) + "\n"
    sys.stdout.buffer.write(line.encode("utf-8"))
    sys.stdout.flush()
