"""Run the nsslog command line with the line-by-line path instead of nsslog.fastscan.

``python bench/plain_cli.py ARGS`` behaves as ``nsslog ARGS`` except that every line is
parsed and analysed one by one, as before the chunked fast path existed. The benchmark uses
it to measure what the fast path gains, in the same run.
"""

from __future__ import annotations

import sys

import click

from nsslog import cli


def analyse_files(paths: list[str], rules, keep_order: bool):
    """Analyse files as cli._analyse_files does, feeding every line to the engine."""
    from nsslog.engine import Analysis
    from nsslog.reader import InputError, decode, iter_lines, open_input, order_by_time

    analysis = Analysis(rules)
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
                for number, raw in enumerate(iter_lines(stream, name), 1):
                    analysis.feed(name, number, decode(raw))
        except InputError as error:
            analysis.add_error(str(error))
            click.echo(f"nsslog: error: {error}", err=True)
    return analysis.report()


if __name__ == "__main__":
    cli._analyse_files = analyse_files
    sys.exit(cli.main())
