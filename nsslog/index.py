"""Find the few rules that could match a record without trying every rule.

Trying a hundred rule regexes on every line is slow. Every condition of a matcher must hold,
so one selective condition is enough to rule a matcher out:

- an NSS code list: only records carrying one of the codes can match;
- an AH code list: only records with one of the AH codes can match;
- a message regex anchored at the start with a literal prefix (``^SSL Library Error: ``):
  only messages starting with that prefix can match;
- a message regex containing a literal (``will force renegotiation``): only messages
  containing it can match.

A matcher with none of these (a level-only or source-only matcher, a case-insensitive regex)
is tried on every record. Candidates keep the order of the entries they were built from, so
the engine still tries rules in its documented order.
"""

from __future__ import annotations

import re
import re._constants as sre_constants
import re._parser as sre_parse
from collections.abc import Sequence
from dataclasses import dataclass

from nsslog.parser import Record
from nsslog.rules import Matcher

# Length of the message prefix used as a dictionary key. Anchored prefixes shorter than this
# fall back to a substring check.
PREFIX_KEY = 6

_LITERAL = sre_constants.LITERAL
_BRANCH = sre_constants.BRANCH
_AT = sre_constants.AT
_AT_BEGINNING = sre_constants.AT_BEGINNING
_SUBPATTERN = sre_constants.SUBPATTERN


@dataclass(frozen=True, slots=True)
class Needles:
    """Literal texts a message must start with (anchored) or contain (not anchored).

    A message can only match when it starts with one of ``prefixes`` or contains one of
    ``substrings``: each alternative of the regex contributes to one of the two.
    """

    prefixes: tuple[str, ...] = ()
    substrings: tuple[str, ...] = ()


def message_needles(pattern: str | None) -> Needles | None:
    """Return the literals a message must have to match ``pattern``, or None if unknown."""
    if not pattern:
        return None
    try:
        parsed = sre_parse.parse(pattern)
    except (re.error, OverflowError, RecursionError):
        return None
    if parsed.state.flags & (re.IGNORECASE | re.VERBOSE):
        return None

    prefixes: list[str] = []
    substrings: list[str] = []
    for items in _top_branches(list(parsed)):
        anchored = _anchored_prefixes(items)
        if anchored and all(anchored):
            prefixes.extend(anchored)
            continue
        longest = _longest_literal(items)
        if not longest:
            return None
        substrings.append(longest)
    return Needles(tuple(dict.fromkeys(prefixes)), tuple(dict.fromkeys(substrings)))


def _top_branches(items: list) -> list[list]:
    """Split a parsed pattern into its top-level alternatives.

    The parser turns ``^a|^b`` into ``^(?:a|b)``; each alternative gets the anchor back,
    so that one alternative without a literal prefix does not spoil the others.
    """
    if len(items) == 1 and items[0][0] is _BRANCH:
        return [list(branch) for branch in items[0][1][1]]
    if len(items) >= 2 and items[0] == (_AT, _AT_BEGINNING) and items[1][0] is _BRANCH:
        rest = list(items[2:])
        return [[items[0], *branch, *rest] for branch in items[1][1][1]]
    return [items]


def _anchored_prefixes(items: list) -> list[str] | None:
    """Return the texts a match must start with when the branch is anchored at ``^``."""
    if not items or items[0] != (_AT, _AT_BEGINNING):
        return None
    return _prefixes(items[1:])


def _prefixes(items: list, limit: int = 64) -> list[str] | None:
    """Return texts one of which starts every match of ``items`` ("" when none is known).

    Literals extend every text. An alternation multiplies the texts by the prefixes of its
    alternatives and ends the walk, because an alternative may go on with anything.
    """
    texts = [""]
    for opcode, argument in items:
        if opcode is _LITERAL:
            texts = [text + chr(argument) for text in texts]
            continue
        if opcode is _SUBPATTERN and not argument[1] and not argument[2]:
            inner = _prefixes(list(argument[3]), limit)
            if inner is None:
                return None
            texts = [text + tail for text in texts for tail in inner]
            break
        if opcode is _BRANCH:
            tails = []
            for branch in argument[1]:
                inner = _prefixes(list(branch), limit)
                if inner is None:
                    return None
                tails.extend(inner)
            texts = [text + tail for text in texts for tail in tails]
            break
        break
    return texts if len(texts) <= limit else None


def _longest_literal(items: list) -> str:
    """Return the longest run of literal characters at the top level of a branch."""
    longest = ""
    run: list[str] = []
    for opcode, argument in items:
        if opcode is _LITERAL:
            run.append(chr(argument))
            continue
        if len(run) > len(longest):
            longest = "".join(run)
        run = []
    if len(run) > len(longest):
        longest = "".join(run)
    return longest


class MatcherIndex:
    """Candidate entries for a record, among entries that each carry one matcher.

    ``entries`` is any sequence; ``matchers[i]`` is the matcher of ``entries[i]``.
    """

    def __init__(self, entries: Sequence, matchers: Sequence[Matcher]):
        self.entries = list(entries)
        self._by_code: dict[int, list[int]] = {}
        self._by_ah: dict[str, list[int]] = {}
        self._by_prefix: dict[str, list[int]] = {}
        # (position, prefixes, substrings) checked by substring tests on every record.
        self._by_text: list[tuple[int, tuple[str, ...], tuple[str, ...]]] = []
        self._always: list[int] = []

        for position, matcher in enumerate(matchers):
            self._add(position, matcher)
        self._text_gate = _gate(self._by_text)

    def _add(self, position: int, matcher: Matcher) -> None:
        if matcher.codes:
            for code in matcher.codes:
                self._by_code.setdefault(code, []).append(position)
            return
        if matcher.ah:
            for ah in matcher.ah:
                self._by_ah.setdefault(ah, []).append(position)
            return

        needles = message_needles(matcher.message.pattern) if matcher.message is not None else None
        if needles is None:
            self._always.append(position)
            return

        short = tuple(prefix for prefix in needles.prefixes if len(prefix) < PREFIX_KEY)
        if needles.substrings or short:
            self._by_text.append((position, needles.prefixes, needles.substrings))
            return
        for prefix in needles.prefixes:
            self._by_prefix.setdefault(prefix[:PREFIX_KEY], []).append(position)

    def candidates(self, record: Record) -> list:
        """Return the entries that could match the record, in their original order."""
        positions = set(self._always)
        for code in record.codes:
            positions.update(self._by_code.get(code, ()))
        if record.ah:
            positions.update(self._by_ah.get(record.ah, ()))

        message = record.message
        positions.update(self._by_prefix.get(message[:PREFIX_KEY], ()))
        if self._text_gate is None or not self._text_gate.search(message):
            return [self.entries[position] for position in sorted(positions)]

        for position, prefixes, substrings in self._by_text:
            if any(message.startswith(prefix) for prefix in prefixes) or any(
                text in message for text in substrings
            ):
                positions.add(position)

        return [self.entries[position] for position in sorted(positions)]


def _gate(entries: list[tuple[int, tuple[str, ...], tuple[str, ...]]]) -> re.Pattern | None:
    """Compile one regex that finds a message containing any needle of the entries.

    Most lines contain none, and one search in C is much cheaper than a test per entry.
    """
    if not entries:
        return None
    prefixes = sorted({prefix for _, group, _ in entries for prefix in group}, key=len, reverse=True)
    substrings = sorted({text for _, _, group in entries for text in group}, key=len, reverse=True)
    parts = [re.escape(text) for text in substrings]
    if prefixes:
        parts.append("^(?:" + "|".join(re.escape(prefix) for prefix in prefixes) + ")")
    return re.compile("|".join(parts))
