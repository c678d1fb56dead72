"""`nsslog explain`: what an NSS error code means, looked up by number or name, or found
by words in the names and explanations of the code table.

The command collects the table's entry (nsslog.codes) and, when the library can be
loaded, the installed NSS's name and text (nsslog.nsslib), and prints them as text or
JSON. Imports of rich, json and the library happen inside the functions that need them,
so that `nsslog explain -12176` starts fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import click

EXIT_FOUND = 0
EXIT_NOT_FOUND = 1

_NUMBER_LIKE = re.compile(r"-(0x[0-9a-f]+|\d+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class LibraryAnswer:
    """Name and text that the installed NSS library gives one code."""

    name: str | None
    text: str | None


@dataclass(frozen=True, slots=True)
class CodeReport:
    """One code of a result: nsslog's entry, if any, and the library's name and text."""

    code: int
    entry: object | None  # nsslog.codes.NssCode; typed loosely to keep imports lazy
    library: LibraryAnswer | None


@dataclass(frozen=True, slots=True)
class Explanation:
    """Result of one `nsslog explain` query."""

    query: str
    kind: str  # "code" when the query named codes, "search" when it was words
    reports: tuple[CodeReport, ...]
    library_version: str | None  # None when the library was not requested or not loadable
    library_problem: str | None  # why the library could not be loaded, if it was requested

    @property
    def found(self) -> bool:
        """Tell whether every requested code is in the table, or the search matched something."""
        return bool(self.reports) and all(report.entry is not None for report in self.reports)


@click.command(
    "explain",
    context_settings={"ignore_unknown_options": True, "help_option_names": ["-h", "--help"]},
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--library/--no-library",
    default=True,
    help="Also show the name and text that the NSS library installed on this host gives each code, when it can be loaded (default: on).",
)
@click.argument("query", nargs=-1, required=True, type=click.UNPROCESSED, metavar="CODE|NAME|WORDS...")
@click.pass_context
def explain_command(ctx: click.Context, output_format: str, library: bool, query: tuple[str, ...]) -> None:
    """Explain an NSS error code, or find codes by words.

    A code can be given as NSS prints it (-12176), without its sign (12176), in
    hexadecimal (-0x2F90, or 0xFFFFD070 as an unsigned 32-bit number) or by its name in
    any case (ssl_error_renegotiation_not_allowed). Anything else is taken as words to
    look for in the names and explanations (renegotiation). Negative numbers need no
    `--`. Exit status: 0 found, 1 nothing known or matched, 2 usage error.
    """
    _reject_unknown_options(ctx, query)
    explanation = explain(query, with_library=library)

    if output_format == "json":
        import json

        click.echo(json.dumps(explanation_to_json(explanation), indent=2))
    else:
        render_text(_console(ctx), explanation)
    ctx.exit(EXIT_FOUND if explanation.found else EXIT_NOT_FOUND)


def explain(query: tuple[str, ...] | list[str], with_library: bool = True) -> Explanation:
    """Look up the query: as codes when every word reads as a code, otherwise as words."""
    from nsslog import codes

    text = " ".join(query)
    parsed = [codes.parse_code(word) for word in query]
    if parsed and all(code is not None for code in parsed):
        kind, found = "code", list(dict.fromkeys(parsed))
    else:
        kind, found = "search", [entry.code for entry in codes.search(text)]

    library, version, problem = _library(with_library and bool(found))
    reports = tuple(CodeReport(code, codes.lookup(code), _ask(library, code)) for code in found)
    return Explanation(text, kind, reports, version, problem)


def explanation_to_json(explanation: Explanation) -> dict:
    """Convert the explanation to plain data for `--format json`."""
    library = None
    if explanation.library_version is not None:
        library = {"available": True, "version": explanation.library_version}
    elif explanation.library_problem is not None:
        library = {"available": False, "reason": explanation.library_problem}

    return {
        "query": explanation.query,
        "kind": explanation.kind,
        "found": explanation.found,
        "nss_library": library,
        "codes": [_report_to_json(report) for report in explanation.reports],
    }


def render_text(console, explanation: Explanation) -> None:
    """Print the explanation for a reader, never reading data text as rich markup."""
    if explanation.kind == "search" and len(explanation.reports) != 1:
        _render_matches(console, explanation)
        return

    for number, report in enumerate(explanation.reports):
        if number:
            console.print()
        if report.entry is None:
            _render_unknown(console, report, explanation.library_version)
        else:
            _render_entry(console, report, explanation.library_version)


def _reject_unknown_options(ctx: click.Context, query: tuple[str, ...]) -> None:
    # ignore_unknown_options lets "-12176" through as an argument; anything else that
    # starts with "-" is a mistyped option and must stay a usage error.
    for word in query:
        if word.startswith("-") and not _NUMBER_LIKE.fullmatch(word):
            raise click.NoSuchOption(word, ctx=ctx)


def _library(requested: bool):
    """Return (library, version, problem) for the host's NSS, or Nones when not requested."""
    if not requested:
        return None, None, None
    from nsslog import nsslib

    try:
        library = nsslib.default_library()
    except nsslib.NssLibraryUnavailable as problem:
        return None, None, str(problem)
    return library, library.version, None


def _ask(library, code: int) -> LibraryAnswer | None:
    if library is None:
        return None
    return LibraryAnswer(library.name(code), library.text(code))


def _console(ctx: click.Context):
    """Return the rich Console that the calling CLI put in ctx.obj, or a plain one."""
    from rich.console import Console

    console = ctx.find_object(Console)
    return console if console is not None else Console(highlight=False)


def _report_to_json(report: CodeReport) -> dict:
    from nsslog import codes

    data: dict = {
        "code": report.code,
        "known": report.entry is not None,
        "family": codes.family_of(report.code),
        "hex": codes.hex_form(report.code),
        "unsigned": codes.unsigned_form(report.code),
    }
    if report.entry is not None:
        data.update(_entry_to_json(report.entry))
    data["library"] = None if report.library is None else {"name": report.library.name, "text": report.library.text}
    return data


def _entry_to_json(entry) -> dict:
    from nsslog import codes

    texts = None
    if entry.family != "NSPR":
        texts = {build: codes.modnss_text(entry.code, build) for build in codes.MODNSS_BUILDS}
    return {
        "name": entry.name,
        "offset": entry.offset,
        "summary": entry.summary,
        "causes": list(entry.causes),
        "fix": entry.fix,
        "obsolete": entry.obsolete,
        "since": entry.since or None,
        "aliases": list(entry.aliases),
        "mod_nss_text": texts,
    }


def _render_matches(console, explanation: Explanation) -> None:
    from rich.text import Text

    count = len(explanation.reports)
    if not count:
        _print_wrapped(console, f'No NSS error code matches "{explanation.query}".', indent=0)
        return

    _print_wrapped(console, f'{count} NSS error codes match "{explanation.query}":', indent=0)
    for report in explanation.reports:
        entry = report.entry
        line = Text("  ")
        line.append(f"{entry.code:>6}", style="bold")
        line.append("  ")
        line.append(entry.name, style="cyan")
        console.print(line, soft_wrap=True)
        _print_wrapped(console, entry.summary, indent=10)
    _print_wrapped(console, "Give one code or name for the full explanation.", indent=0, style="dim")


def _render_entry(console, report: CodeReport, library_version: str | None) -> None:
    from rich.text import Text

    entry = report.entry
    heading = Text()
    heading.append(f"{entry.code}  ", style="bold")
    heading.append(entry.name, style="bold cyan")
    if entry.obsolete:
        heading.append("  (obsolete)", style="yellow")
    console.print(heading, soft_wrap=True)
    _print_wrapped(console, _describe_numbers(entry), indent=2, style="dim")
    if entry.aliases:
        _print_wrapped(console, f"also named {', '.join(entry.aliases)}", indent=2, style="dim")

    console.print()
    _print_wrapped(console, entry.summary, indent=2)
    _render_advice(console, entry)
    _render_section(console, "mod_nss prints", _describe_modnss(entry))
    _render_library(console, report, library_version)


def _render_unknown(console, report: CodeReport, library_version: str | None) -> None:
    from nsslog import codes
    from rich.text import Text

    heading = Text()
    heading.append(f"{report.code}  ", style="bold")
    heading.append("unknown to nsslog", style="bold yellow")
    console.print(heading, soft_wrap=True)
    numbers = f"hex {codes.hex_form(report.code)}, unsigned {codes.unsigned_form(report.code)}"
    _print_wrapped(console, numbers, indent=2, style="dim")

    console.print()
    _print_wrapped(console, _describe_unknown(report.code), indent=2)
    _render_library(console, report, library_version)


def _render_advice(console, entry) -> None:
    if entry.causes:
        _render_section(console, "Likely causes", [f"- {cause}" for cause in entry.causes], hanging=2)
    if entry.fix:
        _render_section(console, "Fix", entry.fix.split("\n\n"))


def _render_library(console, report: CodeReport, library_version: str | None) -> None:
    if report.library is None or library_version is None:
        return
    title = f"The installed NSS library ({library_version}) says"
    if report.library.name is None:
        _render_section(console, title, ["nothing: it does not know this code."])
    else:
        _render_section(console, title, [f"{report.library.name}: {report.library.text}"])


def _render_section(console, title: str, paragraphs: list[str], hanging: int = 0) -> None:
    console.print()
    _print_wrapped(console, title, indent=2, style="bold")
    for paragraph in paragraphs:
        _print_wrapped(console, paragraph, indent=4, hanging=hanging)


def _print_wrapped(console, text: str, indent: int, style: str = "", hanging: int = 0) -> None:
    """Print `text` wrapped to the console, indented, without rich markup or padding."""
    import textwrap

    from rich.text import Text

    lines = textwrap.wrap(
        text,
        width=max(console.width - 1, indent + 20),
        initial_indent=" " * indent,
        subsequent_indent=" " * (indent + hanging),
        break_long_words=False,
        break_on_hyphens=False,
    )
    for line in lines or [""]:
        console.print(Text(line, style=style), soft_wrap=True)


def _describe_numbers(entry) -> str:
    from nsslog import codes

    parts = [
        f"{codes.FAMILY_TITLES[entry.family]}, offset {entry.offset}",
        f"hex {entry.hex}, unsigned {entry.unsigned}",
    ]
    if entry.since.startswith("<="):
        parts.append(f"in NSS since {entry.since[2:]} or earlier")
    elif entry.since:
        parts.append(f"in NSS since {entry.since}")
    return "; ".join(parts)


_MODNSS_BUILD_LABELS = {
    "1.0.8": "upstream 1.0.8",
    "1.0.10": "1.0.10 to 1.0.14 and RHEL 6 1.0.8-21",
    "tlsv13": "the tlsv13 branch",
}


def _describe_modnss(entry) -> list[str]:
    """Describe what follows the code in mod_nss's `SSL Library Error` line, by build."""
    from nsslog import codes

    if entry.family == "NSPR":
        return ["nothing: mod_nss never logs NSPR codes as SSL Library Error; they appear only as bare numbers in other messages."]

    builds_by_text: dict[str, list[str]] = {}
    for build in codes.MODNSS_BUILDS:
        builds_by_text.setdefault(codes.modnss_text(entry.code, build), []).append(build)
    if len(builds_by_text) == 1:
        return [f"SSL Library Error: {entry.code} {next(iter(builds_by_text))}"]

    lines = []
    for text, builds in builds_by_text.items():
        labels = "; ".join(_MODNSS_BUILD_LABELS[build] for build in builds)
        lines.append(f"SSL Library Error: {entry.code} {text}   ({labels})")
    return lines


def _describe_unknown(code: int) -> str:
    from nsslog import codes

    if code == 0:
        return "0 means that no NSS error was set; mod_nss prints it as \"0 Unknown\". The message next to it tells what failed."
    family = codes.family_of(code)
    if family is None:
        ranges = ", ".join(f"{name} {first}...{last}" for name, (first, last) in codes.FAMILY_RANGES.items())
        return f"{code} is not an NSS error code: it lies outside the NSS ranges ({ranges})."
    first, last = codes.FAMILY_RANGES[family]
    return (
        f"{code} is not in nsslog's table, but it lies in the {codes.FAMILY_TITLES[family]} range "
        f"({first}...{last}), so it most likely comes from an NSS newer than the table's NSS "
        f"{codes.TABLE_NSS_VERSION}."
    )
