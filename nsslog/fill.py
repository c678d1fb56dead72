"""Put values read from the log into a rule's fix, in place of its placeholders.

A rule's fix names things the log often gives: ``certutil -V -n "<NSSNickname>"`` when the
log contains ``Unable to verify certificate 'webtls-Expired'``. A named group of a rule's
message regex captures the value, and the placeholder with the group's name (``<NSSNickname>``
for ``(?P<NSSNickname>...)``) is replaced in the fix's directives and commands.

Log text is untrusted and the commands are meant to be pasted into a shell, so a value is
used only when it consists of letters, digits and ``._:/@+=-``. A value with spaces is
used only where every occurrence of the placeholder is inside double quotes. When the
evidence gives two different values for one placeholder, the placeholder stays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from nsslog.parser import Record
from nsslog.rules import Fix, Rule

MAX_VALUE_LENGTH = 200
_SAFE_WORD = r"[A-Za-z0-9._:/@+=-]+"
_SAFE_VALUE = re.compile(rf"{_SAFE_WORD}(?: {_SAFE_WORD})*")


def log_values(rule: Rule, records: Iterable[Record], timeout: float) -> dict[str, str]:
    """Return the value each named group of the rule captures in the records.

    A group that captures two different values is left out: the fix cannot name both.
    """
    patterns = [matcher.message for matcher in (rule.match, *rule.sequence)
                if matcher.message is not None and matcher.message.groupindex]
    if not patterns:
        return {}

    found: dict[str, set[str]] = {}
    for record in records:
        for pattern in patterns:
            try:
                match = pattern.search(record.message, timeout=timeout)
            except TimeoutError:
                continue
            if match is None:
                continue
            for name, value in match.groupdict().items():
                if value is not None:
                    found.setdefault(name, set()).add(value)
    return {name: values.pop() for name, values in found.items() if len(values) == 1}


def fill_fix(fix: Fix, values: dict[str, str]) -> tuple[Fix, dict[str, str]]:
    """Return the fix with placeholders replaced, and the values that were used."""
    used: dict[str, str] = {}

    def fill(template: str) -> str:
        for name, value in values.items():
            placeholder = f"<{name}>"
            if placeholder in template and _safe(value, template, placeholder):
                template = template.replace(placeholder, value)
                used[name] = value
        return template

    directives = tuple(fill(line) for line in fix.directives)
    commands = tuple(fill(line) for line in fix.commands)
    if not used:
        return fix, used
    return replace(fix, directives=directives, commands=commands), used


def _safe(value: str, template: str, placeholder: str) -> bool:
    if len(value) > MAX_VALUE_LENGTH or not _SAFE_VALUE.fullmatch(value):
        return False
    if " " not in value:
        return True
    # A space splits a shell word, so each occurrence must be quoted.
    return template.count(placeholder) == template.count(f'"{placeholder}"')
