"""`nsslog rules`: list the rules, and check rule files with their examples."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nsslog.cli import ExitStatus, fail, make_console


@click.group(invoke_without_command=True)
@click.option("--rules", "rule_dirs", multiple=True, type=click.Path(file_okay=False),
              help="Folder of extra rule files to list with the built-in ones. Repeatable.")
@click.pass_context
def rules(ctx, rule_dirs):
    """List the rules: id, severity and title."""
    if ctx.invoked_subcommand is not None:
        return

    from rich.table import Table

    from nsslog.rules import RuleError, load_rules

    try:
        loaded = load_rules(tuple(rule_dirs))
    except RuleError as error:
        fail(str(error))

    ordered = sorted(loaded, key=lambda item: item.id)
    console = make_console("auto")
    if not console.is_terminal:
        # One tab-separated line per rule, so that grep and cut work on piped output.
        for rule in ordered:
            click.echo(f"{rule.id}\t{rule.severity}\t{rule.title}")
        return

    table = Table("id", "severity", "title", box=None, show_edge=False)
    for rule in ordered:
        table.add_row(rule.id, rule.severity, rule.title)
    console.print(table)


@rules.command("check")
@click.argument("folder", required=False, type=click.Path(file_okay=False))
def check(folder):
    """Validate the rule files of FOLDER (default: the built-in rules) and run their examples."""
    from nsslog.checks import check_folder
    from nsslog.rules import builtin_rules_dir

    path = Path(folder) if folder else builtin_rules_dir()
    loaded, problems = check_folder(path)
    if path.is_dir() and not loaded and not problems:
        problems.append(f"{path}: no rule files found; a rule file is named RULE-ID.toml")
    for problem in problems:
        click.echo(problem, err=True)
    if path.is_dir():
        for other in sorted(path.iterdir()):
            if other.is_file() and other.suffix != ".toml":
                click.echo(f"{other}: ignored, because only .toml files are rule files", err=True)

    examples = sum(len(rule.examples) for rule in loaded)
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        loaded_noun = "rule" if len(loaded) == 1 else "rules"
        click.echo(f"{len(problems)} {noun} in {path} ({len(loaded)} {loaded_noun} loaded).", err=True)
        sys.exit(ExitStatus.ERROR)
    rule_noun = "rule" if len(loaded) == 1 else "rules"
    example_noun = "example" if examples == 1 else "examples"
    click.echo(f"{len(loaded)} {rule_noun} and {examples} {example_noun} in {path}: all good.")
