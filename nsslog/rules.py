"""Load, validate and compile rule files.

A rule is one TOML file; its stem is the rule id. The built-in rules ship in the package
data folder ``nsslog/rules``, built from the top-level ``rules/`` folder of the source tree.
A source checkout or an editable install reads that folder directly. docs/rules.md describes the
format.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import regex

from nsslog.parser import LEVEL_RANK

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SEVERITIES = ("error", "warning", "info")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
DEFAULT_WINDOW = 5.0

_TOP_KEYS = {
    "title", "severity", "priority", "match", "sequence", "follow_up", "cause", "fix",
    "references", "known_problems", "examples",
}
_MATCH_KEYS = {"message", "codes", "levels", "min_level", "modules", "source", "ah", "peer"}
# The peer field of a record: [client ...], [remote ...] (a proxy back-end) or none.
PEER_KINDS = ("client", "remote", "none")
_SEQUENCE_KEYS = _MATCH_KEYS | {"window", "optional"}
_FOLLOW_UP_KEYS = _MATCH_KEYS | {"window"}
_FIX_KEYS = {"directives", "where", "commands", "text"}
_EXAMPLE_KEYS = {"match", "no_match", "todo"}
_TODO_KEYS = {"lines", "expect", "reason"}
_ID_PATTERN = regex.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_GROUP_NAME = regex.compile(r"\(\?P?<([A-Za-z_]\w*)>")


class RuleError(Exception):
    """A rule file that cannot be used; the message names the file, rule and field."""

    def __init__(self, path: str, rule_id: str | None, field: str | None, problem: str):
        where = f'{path}: rule "{rule_id}"' if rule_id else path
        if field:
            where += f': field "{field}"'
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.rule_id = rule_id
        self.field = field


@dataclass(frozen=True, slots=True)
class Matcher:
    """The conditions one record must meet; every condition given must hold."""

    message: Any = None
    codes: frozenset[int] = frozenset()
    levels: frozenset[str] = frozenset()
    min_level: int | None = None
    modules: frozenset[str] | None = None
    source: Any = None
    ah: frozenset[str] = frozenset()
    peers: frozenset[str] | None = None
    window: float = DEFAULT_WINDOW
    # A sequence step that need not be there: when it is, its record joins the finding.
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Fix:
    """The change to make: configuration lines, where they go, commands and prose."""

    directives: tuple[str, ...] = ()
    where: str = ""
    commands: tuple[str, ...] = ()
    text: str = ""


@dataclass(frozen=True, slots=True)
class Example:
    """Log lines a rule must or must not match; a todo example records a known gap."""

    lines: tuple[str, ...]
    expect_match: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Rule:
    """A compiled rule."""

    id: str
    path: str
    title: str
    severity: str
    priority: int
    match: Matcher
    sequence: tuple[Matcher, ...]
    cause: str
    fix: Fix
    references: tuple[str, ...]
    known_problems: str
    examples: tuple[Example, ...]
    todo: tuple[Example, ...]
    # Records that, soon after a record of this rule on the same connection, belong to the
    # same event: they become evidence of its finding instead of matching other rules.
    follow_ups: tuple[Matcher, ...] = ()


def builtin_rules_dir() -> Path:
    """Return the folder of the built-in rules, in a wheel or in a source checkout."""
    packaged = resources.files("nsslog") / "rules"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "rules"


def load_rules(extra_dirs: tuple[str, ...] = ()) -> list[Rule]:
    """Load the built-in rules, then the rules of each extra folder.

    A rule in an extra folder replaces the built-in (or earlier) rule with the same id.
    Raises RuleError for the first invalid file.
    """
    by_id: dict[str, Rule] = {}
    for folder in (builtin_rules_dir(), *map(Path, extra_dirs)):
        for rule in load_folder(folder):
            by_id[rule.id] = rule
    return order_rules(by_id.values())


def order_rules(rules) -> list[Rule]:
    """Sort rules in the order they are tried: sequence rules first, then priority, then id."""
    return sorted(rules, key=lambda rule: (not rule.sequence, -rule.priority, rule.id))


def load_folder(folder: Path) -> list[Rule]:
    """Load every *.toml file of a folder; raise RuleError on the first bad one."""
    if not folder.is_dir():
        raise RuleError(str(folder), None, None, "rules folder not found; give a folder of .toml files")
    return [load_file(path) for path in sorted(folder.glob("*.toml"))]


def load_file(path: Path) -> Rule:
    """Load and validate one rule file."""
    rule_id = path.stem
    where = str(path)
    if not _ID_PATTERN.fullmatch(rule_id):
        raise RuleError(where, rule_id, None, "the file name must be a rule id: lower-case words joined by hyphens")

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise RuleError(where, rule_id, None, f"cannot read the file: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise RuleError(where, rule_id, None, f"invalid TOML: {error}") from None

    return build_rule(data, rule_id, where)


def build_rule(data: dict, rule_id: str, where: str) -> Rule:
    """Validate the parsed TOML of one rule and compile it."""
    check = _Checker(where, rule_id)
    check.known_keys(data, _TOP_KEYS, "")

    severity = check.string(data, "severity", required=True)
    if severity not in SEVERITIES:
        check.fail("severity", f"must be one of {', '.join(SEVERITIES)}, got {severity!r}")

    match = check.matcher(check.table(data, "match", required=True), "match", _MATCH_KEYS)
    sequence = tuple(
        check.matcher(step, f"sequence[{index}]", _SEQUENCE_KEYS)
        for index, step in enumerate(check.table_list(data, "sequence"))
    )
    follow_ups = tuple(
        check.matcher(step, f"follow_up[{index}]", _FOLLOW_UP_KEYS)
        for index, step in enumerate(check.table_list(data, "follow_up"))
    )
    examples, todo = check.examples(check.table(data, "examples", required=True))

    return Rule(
        id=rule_id,
        path=where,
        title=check.string(data, "title", required=True),
        severity=severity,
        priority=check.integer(data, "priority", default=0),
        match=match,
        sequence=sequence,
        cause=reflow(check.string(data, "cause", required=True)),
        fix=check.fix(check.table(data, "fix", required=True)),
        references=check.string_list(data, "references"),
        known_problems=reflow(check.string(data, "known_problems")),
        examples=examples,
        todo=todo,
        follow_ups=follow_ups,
    )


class _Checker:
    """Type checks for one rule file, raising RuleError with the field's dotted name."""

    def __init__(self, where: str, rule_id: str):
        self.where = where
        self.rule_id = rule_id

    def fail(self, field: str, problem: str):
        raise RuleError(self.where, self.rule_id, field, problem)

    def known_keys(self, table: dict, allowed: set[str], prefix: str) -> None:
        for key in table:
            if key not in allowed:
                name = f"{prefix}{key}"
                self.fail(name, f"unknown key; expected one of {', '.join(sorted(allowed))}")

    def string(self, table: dict, key: str, required: bool = False, prefix: str = "") -> str:
        value = table.get(key)
        if value is None:
            if required:
                self.fail(prefix + key, "is missing")
            return ""
        if not isinstance(value, str):
            self.fail(prefix + key, f"must be a string, got {value!r}")
        if required and not value.strip():
            self.fail(prefix + key, "must not be empty")
        return value

    def integer(self, table: dict, key: str, default: int) -> int:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be an integer, got {value!r}")
        return value

    def number(self, table: dict, key: str, default: float, prefix: str) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            self.fail(prefix + key, f"must be a number of seconds, 0 or more, got {value!r}")
        return float(value)

    def string_list(self, table: dict, key: str, prefix: str = "") -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.fail(prefix + key, f"must be a list of strings, got {value!r}")
        return tuple(value)

    def table(self, data: dict, key: str, required: bool = False) -> dict:
        value = data.get(key)
        if value is None:
            if required:
                self.fail(key, "is missing")
            return {}
        if not isinstance(value, dict):
            self.fail(key, f"must be a table, got {value!r}")
        return value

    def table_list(self, data: dict, key: str) -> list[dict]:
        value = data.get(key, [])
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            self.fail(key, "must be a list of tables ([[sequence]])")
        return value

    def regex(self, table: dict, key: str, prefix: str):
        pattern = self.string(table, key, prefix=prefix)
        if not pattern:
            return None
        try:
            compiled = regex.compile(pattern)
        except regex.error as error:
            self.fail(prefix + key, f"invalid regular expression {pattern!r}: {error}")

        # The regex module allows one group name twice, but each name fills one placeholder,
        # and the fast scan reads patterns with Python's re parser, which rejects it.
        names = _GROUP_NAME.findall(pattern)
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            self.fail(prefix + key, f"group name {repeated[0]!r} is used twice; give each named group its own name")
        return compiled

    def matcher(self, table: dict, name: str, allowed: set[str]) -> Matcher:
        prefix = name + "."
        self.known_keys(table, allowed, prefix)
        if not set(table) & _MATCH_KEYS:
            self.fail(name, f"needs at least one condition: {', '.join(sorted(_MATCH_KEYS))}")

        codes = table.get("codes", [])
        if not isinstance(codes, list) or not all(
            isinstance(code, int) and not isinstance(code, bool) for code in codes
        ):
            self.fail(prefix + "codes", f"must be a list of integers such as [-12176], got {codes!r}")

        return Matcher(
            message=self.regex(table, "message", prefix),
            codes=frozenset(codes),
            levels=frozenset(self.levels(table, prefix)),
            min_level=self.min_level(table, prefix),
            modules=frozenset(self.string_list(table, "modules", prefix)) if "modules" in table else None,
            source=self.regex(table, "source", prefix),
            ah=frozenset(self.string_list(table, "ah", prefix)),
            peers=self.peers(table, prefix),
            window=self.number(table, "window", DEFAULT_WINDOW, prefix),
            optional=self.boolean(table, "optional", prefix),
        )

    def boolean(self, table: dict, key: str, prefix: str) -> bool:
        value = table.get(key, False)
        if not isinstance(value, bool):
            self.fail(prefix + key, f"must be true or false, got {value!r}")
        return value

    def peers(self, table: dict, prefix: str) -> frozenset[str] | None:
        if "peer" not in table:
            return None
        peers = self.string_list(table, "peer", prefix)
        for peer in peers:
            if peer not in PEER_KINDS:
                self.fail(prefix + "peer", f"unknown peer kind {peer!r}; use {', '.join(PEER_KINDS)}")
        return frozenset(peers)

    def levels(self, table: dict, prefix: str) -> tuple[str, ...]:
        levels = self.string_list(table, "levels", prefix)
        for level in levels:
            if level not in LEVEL_RANK:
                self.fail(prefix + "levels", f"unknown level {level!r}; use {', '.join(LEVEL_RANK)}")
        return levels

    def min_level(self, table: dict, prefix: str) -> int | None:
        level = self.string(table, "min_level", prefix=prefix)
        if not level:
            return None
        if level not in LEVEL_RANK:
            self.fail(prefix + "min_level", f"unknown level {level!r}; use {', '.join(LEVEL_RANK)}")
        return LEVEL_RANK[level]

    def fix(self, table: dict) -> Fix:
        self.known_keys(table, _FIX_KEYS, "fix.")
        return Fix(
            directives=self.string_list(table, "directives", "fix."),
            where=self.string(table, "where", prefix="fix."),
            commands=self.string_list(table, "commands", "fix."),
            text=reflow(self.string(table, "text", required=True, prefix="fix.")),
        )

    def examples(self, table: dict) -> tuple[tuple[Example, ...], tuple[Example, ...]]:
        self.known_keys(table, _EXAMPLE_KEYS, "examples.")
        matching = self.string_list(table, "match", "examples.")
        not_matching = self.string_list(table, "no_match", "examples.")
        if not matching:
            self.fail("examples.match", "needs at least one log line the rule must match")
        if not not_matching:
            self.fail("examples.no_match", "needs at least one log line the rule must not match")

        examples = tuple(Example(_lines(text), True) for text in matching) + tuple(
            Example(_lines(text), False) for text in not_matching
        )
        todo = tuple(self.todo(item, index) for index, item in enumerate(self.table_list(table, "todo")))
        return examples, todo

    def todo(self, item: dict, index: int) -> Example:
        prefix = f"examples.todo[{index}]."
        self.known_keys(item, _TODO_KEYS, prefix)
        expect = self.string(item, "expect", required=True, prefix=prefix)
        if expect not in ("match", "no_match"):
            self.fail(prefix + "expect", f'must be "match" or "no_match", got {expect!r}')
        return Example(
            _lines(self.string(item, "lines", required=True, prefix=prefix)),
            expect == "match",
            self.string(item, "reason", required=True, prefix=prefix),
        )


def reflow(text: str) -> str:
    """Join the hard-wrapped lines of each paragraph; blank lines separate paragraphs."""
    paragraphs = [" ".join(part.split()) for part in text.strip().split("\n\n")]
    return "\n\n".join(paragraph for paragraph in paragraphs if paragraph)


def _lines(text: str) -> tuple[str, ...]:
    return tuple(line for line in text.strip("\n").split("\n"))
