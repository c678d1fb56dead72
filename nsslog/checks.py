"""Run the example lines of rules: the check behind `nsslog rules check` and the tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nsslog.engine import Analysis
from nsslog.rules import Example, Rule, RuleError, load_file

EXAMPLE_FILE = "<example>"


@dataclass(frozen=True, slots=True)
class ExampleFailure:
    """An example that did not behave as its rule file states."""

    rule: Rule
    example: Example
    problem: str

    def __str__(self) -> str:
        lines = "\n".join(f"    {line}" for line in self.example.lines)
        return f'{self.rule.path}: rule "{self.rule.id}": {self.problem}:\n{lines}'


def example_matches(rule: Rule, example: Example) -> bool:
    """Feed an example's lines through the rule alone; tell whether the last line matched.

    A no_match example passes only when no line at all gives a finding of the rule.
    """
    analysis = Analysis([rule])
    hits = []
    for number, line in enumerate(example.lines, 1):
        changed = analysis.feed(EXAMPLE_FILE, number, line)
        hits.append(any(key[0] == rule.id for key in changed))

    if example.expect_match:
        return hits[-1]
    return any(hits)


def check_rule(rule: Rule) -> list[ExampleFailure]:
    """Return the examples of a rule that fail; todo examples must still fail."""
    failures = []
    for example in rule.examples:
        matched = example_matches(rule, example)
        if example.expect_match and not matched:
            failures.append(ExampleFailure(rule, example, "example does not match"))
        if not example.expect_match and matched:
            failures.append(ExampleFailure(rule, example, "example matches but must not"))

    for example in rule.todo:
        if example_matches(rule, example) == example.expect_match:
            failures.append(ExampleFailure(
                rule, example,
                "todo example now behaves as expected; move it to [examples] and drop the todo",
            ))
    return failures


def check_folder(folder: Path) -> tuple[list[Rule], list[str]]:
    """Load every rule file of a folder and run its examples; return rules and problems."""
    rules: list[Rule] = []
    problems: list[str] = []
    if not folder.is_dir():
        return rules, [f"{folder}: rules folder not found; give a folder of .toml files"]

    for path in sorted(folder.glob("*.toml")):
        try:
            rule = load_file(path)
        except RuleError as error:
            problems.append(str(error))
            continue
        rules.append(rule)
        problems.extend(str(failure) for failure in check_rule(rule))
    return rules, problems
