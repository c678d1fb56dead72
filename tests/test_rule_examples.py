"""Run every example line of every built-in rule, one test per example."""

import pytest

from nsslog.checks import example_matches
from nsslog.rules import builtin_rules_dir, load_folder

RULES = load_folder(builtin_rules_dir())


def _cases():
    for rule in RULES:
        for index, example in enumerate(rule.examples):
            kind = "match" if example.expect_match else "no_match"
            yield pytest.param(rule, example, id=f"{rule.id}-{kind}-{index}")
        for index, example in enumerate(rule.todo):
            mark = pytest.mark.xfail(reason=example.reason, strict=True)
            yield pytest.param(rule, example, id=f"{rule.id}-todo-{index}", marks=mark)


@pytest.mark.parametrize(("rule", "example"), list(_cases()))
def test_rule_example(rule, example):
    assert example_matches(rule, example) == example.expect_match


@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
def test_rule_has_both_kinds_of_example(rule):
    assert any(example.expect_match for example in rule.examples)
    assert any(not example.expect_match for example in rule.examples)


def test_builtin_rules_exist():
    assert len(RULES) >= 3
