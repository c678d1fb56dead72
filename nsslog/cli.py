"""The nsslog command line: the only module that reads the environment, prints and exits."""

from __future__ import annotations

import enum
import importlib
import signal
import sys

import click

from nsslog import __version__

FAIL_ON = ("error", "warning", "info", "never")

# Subcommands load lazily so that `nsslog --version` and `nsslog explain` start fast.
_SUBCOMMANDS = {
    "analyze": "nsslog.cli:analyze",
    "rules": "nsslog.cli_rules:rules",
    "explain": "nsslog.explain:explain_command",
}


class ExitStatus(enum.IntEnum):
    """Exit statuses of every nsslog command."""

    OK = 0
    FINDINGS = 1
    ERROR = 2


class DefaultGroup(click.Group):
    """A group whose default subcommand is `analyze`, so `nsslog FILE...` works."""

    def list_commands(self, ctx):
        return ["analyze", "explain", "rules"]

    def get_command(self, ctx, name):
        target = _SUBCOMMANDS.get(name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def parse_args(self, ctx, args):
        if not args or args[0] not in _SUBCOMMANDS:
            args = ["analyze", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Diagnose TLS and client-certificate failures from an Apache httpd error_log."""


def run() -> None:
    """Run the command line as a program: the console script and `python -m nsslog`."""
    # A reader that goes away (`nsslog explain X | head -1`) ends nsslog quietly, as it does
    # other Unix tools, instead of a BrokenPipeError that click turns into exit status 1.
    # Only the program does this: tests call main() inside a process that must survive.
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    main()


def make_console(color: str, stream=None):
    """Build the one rich Console of a run from the --color choice.

    "auto" lets rich decide from NO_COLOR, FORCE_COLOR and whether the stream is a
    terminal; "always" and "never" override those variables.
    """
    from rich.console import Console

    options = {"file": stream, "highlight": False, "soft_wrap": False}
    if color == "always":
        return Console(force_terminal=True, no_color=False, **options)
    if color == "never":
        return Console(no_color=True, color_system=None, **options)
    return Console(**options)


def fail(message: str) -> None:
    """Print an error message on stderr and exit with status 2."""
    click.echo(f"nsslog: error: {message}", err=True)
    sys.exit(ExitStatus.ERROR)


class AnalyzeCommand(click.Command):
    """The default command; its usage line reads `nsslog ...`, as users type it."""

    def format_usage(self, ctx, formatter):
        formatter.write_usage("nsslog", " ".join(self.collect_usage_pieces(ctx)))


@click.command(
    cls=AnalyzeCommand,
    epilog=(
        "Other commands: 'nsslog explain CODE' explains an NSS error code, 'nsslog rules' "
        "lists the rules, 'nsslog rules check DIR' tests rule files of your own. "
        "Exit status: 0 nothing at or above --fail-on, 1 findings at or above it, "
        "2 usage, input or rule-file error."
    ),
)
@click.argument("files", nargs=-1, metavar="[FILE]...",
                type=click.Path(dir_okay=True, allow_dash=True, readable=False))
@click.option("--format", "output_format", type=click.Choice(["text", "json", "jsonl"]), default="text",
              show_default=True,
              help="Report format. jsonl prints one JSON object per event; in follow mode, text "
                   "output that is not a terminal becomes jsonl, and json prints one report at the end.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="Colour in text output; auto follows NO_COLOR, FORCE_COLOR and the terminal.")
@click.option("--fail-on", type=click.Choice(FAIL_ON), default="warning", show_default=True,
              help="Lowest finding severity that makes the exit status 1.")
@click.option("--rules", "rule_dirs", multiple=True, type=click.Path(file_okay=False),
              help="Folder of extra rule files; a rule with a built-in id replaces it. Repeatable.")
@click.option("--keep-order", is_flag=True,
              help="Read files in the order given instead of by the time of their first line.")
@click.option("-f", "--follow", is_flag=True, help="Keep reading as lines are appended, like tail -F.")
@click.option("--from-start", is_flag=True, help="With --follow, read the existing lines first.")
@click.option("--redact", is_flag=True,
              help="Replace client addresses, host names, e-mail addresses, certificate subjects, "
                   "issuers and serial numbers with placeholders such as <ip-1>.")
@click.option("--debug", is_flag=True, help="Show the traceback of an internal error instead of a one-line message.")
@click.version_option(__version__, "--version", prog_name="nsslog", message="%(prog)s %(version)s")
def analyze(files, output_format, color, fail_on, rule_dirs, keep_order, follow, from_start, redact, debug):
    """Read error_log FILEs (or standard input) and report TLS problems with cause and fix.

    FILE may be '-' for standard input; gzip, bzip2 and xz data are decompressed.
    """
    if from_start and not follow:
        raise click.UsageError("--from-start only applies with --follow (-f)")
    files = _resolve_inputs(files)
    rules = _load_rules(rule_dirs)

    try:
        if follow:
            from nsslog import live

            sys.exit(live.run(files, rules, output_format, make_console(color), fail_on, from_start, redact))

        report = _analyse_files(files, rules, keep_order)
        if redact:
            from nsslog.redact import redact_report

            report = redact_report(report)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # noqa: BLE001 - one clean message instead of a traceback
        if debug:
            raise
        fail(f"internal error: {error!r}; run again with --debug and report the traceback")

    _print_report(report, output_format, color)
    sys.exit(exit_status(report, fail_on))


def _resolve_inputs(files: tuple[str, ...]) -> list[str]:
    if files:
        return list(files)
    if sys.stdin is None or sys.stdin.isatty():
        raise click.UsageError("no FILE given and standard input is a terminal; name a file or pipe a log in")
    return ["-"]


def _load_rules(rule_dirs):
    from nsslog.rules import RuleError, load_rules

    try:
        return load_rules(tuple(rule_dirs))
    except RuleError as error:
        hint = "Fix the rule file, or check it with 'nsslog rules check DIR'." if error.rule_id else ""
        fail(f"{error}\n{hint}".rstrip())


def _analyse_files(paths: list[str], rules, keep_order: bool, scanner: str = "auto"):
    from nsslog.engine import Analysis
    from nsslog.fastscan import FastAnalyser
    from nsslog.reader import InputError, open_input, order_by_time

    analysis = Analysis(rules)
    analyser = FastAnalyser(analysis, scanner)
    if len(paths) > 1 and not keep_order:
        paths = order_by_time(paths)

    for path in paths:
        name = "<stdin>" if path == "-" else path
        try:
            stream = open_input(path)
        except InputError as error:
            analysis.add_error(str(error))
            click.echo(f"nsslog: error: {error}", err=True)
            continue

        analysis.start_file(name)
        try:
            with stream:
                analyser.feed_stream(stream, name)
        except InputError as error:
            analysis.add_error(str(error))
            click.echo(f"nsslog: error: {error}", err=True)

        if analyser.nul_lines:
            analysis.warnings.append(
                f"{name}: {analyser.nul_lines} lines contain NUL bytes; this may be a binary file, not an error_log"
            )
    return analysis.report()


def _print_report(report, output_format: str, color: str) -> None:
    if output_format in ("json", "jsonl"):
        from nsslog.report import dumps_json, report_to_dict, report_to_json

        if output_format == "json":
            text = report_to_json(report)
        else:
            text = dumps_json({"event": "summary", **report_to_dict(report)}, indent=None)
        sys.stdout.buffer.write(text.encode("utf-8") + b"\n")
        sys.stdout.flush()
        return

    from nsslog.render import render_report

    render_report(report, make_console(color))


def exit_status(report, fail_on: str) -> int:
    """Return 2 on input errors, 1 when a finding reaches --fail-on, else 0."""
    from nsslog.rules import SEVERITY_RANK

    if report.summary.errors:
        return ExitStatus.ERROR
    if fail_on == "never":
        return ExitStatus.OK
    threshold = SEVERITY_RANK[fail_on]
    if any(SEVERITY_RANK[finding.severity] <= threshold for finding in report.findings):
        return ExitStatus.FINDINGS
    return ExitStatus.OK
