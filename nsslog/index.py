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

# Maximum length of the message prefix used as a dictionary key.
PREFIX_KEY = 6

_LITERAL = sre_constants.LITERAL
_BRANCH = sre_constants.BRANCH
_AT = sre_constants.AT
_AT_BEGINNING = sre_constants.AT_BEGINNING
_SUBPATTERN = sre_constants.SUBPATTERN
_MAX_REPEAT = sre_constants.MAX_REPEAT
_MIN_REPEAT = sre_constants.MIN_REPEAT


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
    """Return texts one of which starts every match of ``items`` ("" when none is known)."""
    texts, _ = _walk_prefixes(items, [""], limit)
    return texts


def _walk_prefixes(items: list, texts: list[str], limit: int) -> tuple[list[str] | None, bool]:
    """Extend ``texts`` by the literal start of ``items``; tell whether all items were literal.

    Literals extend every text. A group, an alternation or an optional part (``x?``)
    multiplies the texts by the literal starts of its alternatives. The walk goes on after it
    only when those alternatives were all literal, because otherwise a match may go on with
    anything from there.
    """
    for opcode, argument in items:
        if opcode is _LITERAL:
            texts = [text + chr(argument) for text in texts]
            continue

        options, complete = _literal_options(opcode, argument, limit)
        if options is None:
            return texts, False
        texts = [text + option for text in texts for option in options]
        if len(texts) > limit:
            return None, False
        if not complete:
            return texts, False
    return texts, True


def _literal_options(opcode, argument, limit: int) -> tuple[list[str] | None, bool]:
    """Return the literal starts of a group, alternation or optional part, and if all are whole."""
    if opcode is _SUBPATTERN and not argument[1] and not argument[2]:
        alternatives = [list(argument[3])]
    elif opcode is _BRANCH:
        alternatives = [list(branch) for branch in argument[1]]
    elif opcode in (_MAX_REPEAT, _MIN_REPEAT) and argument[0] == 0 and argument[1] == 1:
        alternatives = [[], list(argument[2])]
    else:
        return None, False

    options: list[str] = []
    whole = True
    for alternative in alternatives:
        texts, complete = _walk_prefixes(alternative, [""], limit)
        if texts is None:
            return None, False
        options.extend(texts)
        whole = whole and complete
    return options, whole


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
        # Message prefixes cut to at most PREFIX_KEY characters, by their length.
        self._by_prefix: dict[int, dict[str, list[int]]] = {}
        # Entries whose message must contain one of some substrings.
        self._by_substring: list[tuple[int, tuple[str, ...]]] = []
        self._always: list[int] = []

        for position, matcher in enumerate(matchers):
            self._add(position, matcher)
        self._substring_gate = _gate(self._by_substring)

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

        # A message that starts with none of the prefixes and contains none of the
        # substrings cannot match, so the entry is filed under each of them.
        for prefix in needles.prefixes:
            key = prefix[:PREFIX_KEY]
            self._by_prefix.setdefault(len(key), {}).setdefault(key, []).append(position)
        if needles.substrings:
            self._by_substring.append((position, needles.substrings))

    def candidates(self, record: Record) -> list:
        """Return the entries that could match the record, in their original order."""
        positions = set(self._always)
        for code in record.codes:
            positions.update(self._by_code.get(code, ()))
        if record.ah:
            positions.update(self._by_ah.get(record.ah, ()))

        message = record.message
        for length, table in self._by_prefix.items():
            positions.update(table.get(message[:length], ()))

        if self._substring_gate is not None and self._substring_gate.search(message):
            for position, substrings in self._by_substring:
                if any(text in message for text in substrings):
                    positions.add(position)

        return [self.entries[position] for position in sorted(positions)]


def _gate(entries: list[tuple[int, tuple[str, ...]]]) -> re.Pattern | None:
    """Compile one regex that finds a message containing any substring of the entries.

    Most lines contain none, and one search in C is much cheaper than a test per entry.
    """
    if not entries:
        return None
    substrings = sorted({text for _, group in entries for text in group}, key=len, reverse=True)
    return re.compile("|".join(re.escape(text) for text in substrings))
