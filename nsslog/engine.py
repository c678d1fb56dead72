"""Match records against rules and aggregate them into findings.

``Analysis`` is incremental: feed it lines one by one (batch mode and follow mode use the
same object) and ask for a report at any time. It also keeps the line accounting: every
line fed is counted as parsed, continuation or unparsed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from nsslog.fill import fill_fix, log_values
from nsslog.index import MatcherIndex
from nsslog.parser import LEVEL_RANK, LineKind, Record, parse_line, parse_time
from nsslog.report import Evidence, Finding, Report, Summary
from nsslog.rules import SEVERITY_RANK, Matcher, Rule

GENERIC_RULE = "nss-code"
MAX_EVIDENCE = 6
REGEX_TIMEOUT = 0.25
FOLLOW_UP_WINDOW = 1.0
# mod_nss 1.0.14 repeats an "SSL Library Error" line of one event within microseconds.
CODE_REPEAT_WINDOW = 0.01
# Timeouts after which a rule is switched off, so one bad regex cannot stall a big log.
MAX_TIMEOUTS = 3
# Per-connection state older than every window is dropped when this many connections have
# a last finding, and in any case every PRUNE_EVERY records.
PRUNE_THRESHOLD = 4096
PRUNE_EVERY = 20000
# Distinct message keys whose matching results are kept; the cache starts over when full.
MATCH_CACHE_SIZE = 4096

_ERROR_RANK = LEVEL_RANK["error"]
_RECORD = LineKind.RECORD.value
_NO_DIGITS = str.maketrans("", "", "0123456789")
# Kinds of index entries, which are also positions in the result of Analysis._matching.
_STEP, _SEQUENCE, _PLAIN = 0, 1, 2
_WARN_RANK = LEVEL_RANK["warn"]


@dataclass
class _FindingState:
    """Mutable aggregate behind one finding while lines are still arriving."""

    rule: Rule | None
    code: int | None
    severity: str
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    codes: dict[int, None] = field(default_factory=dict)
    evidence: list[Record] = field(default_factory=list)


@dataclass
class _FileState:
    name: str
    after_record: bool = False


class Analysis:
    """Incremental analysis of one or more error_logs with one set of rules."""

    def __init__(self, rules: Iterable[Rule], max_evidence: int = MAX_EVIDENCE):
        self.rules = list(rules)
        self.max_evidence = max_evidence
        self.lines = 0
        # Keyed by LineKind value: hashing a str is cheaper than hashing an Enum member.
        self.counts = {kind.value: 0 for kind in LineKind}
        self.files: list[str] = []
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.first_time: str | None = None
        self.last_time: str | None = None
        self._findings: dict[tuple[str, int | None], _FindingState] = {}
        self._file_state: dict[str, _FileState] = {}
        self._timeouts: dict[str, int] = {}
        self._disabled: set[str] = set()
        self._sequence_rules = [rule for rule in self.rules if rule.sequence]
        self._plain_rules = [rule for rule in self.rules if not rule.sequence]
        # One index over every matcher, each entry tagged with its kind, so that a record is
        # looked up once: sequence steps, then sequence rules, then the other rules.
        steps = [(rule, number, step) for rule in self._sequence_rules for number, step in enumerate(rule.sequence)]
        entries = ([(_STEP, entry) for entry in steps] + [(_SEQUENCE, rule) for rule in self._sequence_rules]
                   + [(_PLAIN, rule) for rule in self._plain_rules])
        matchers = ([step for _, _, step in steps] + [rule.match for rule in self._sequence_rules]
                    + [rule.match for rule in self._plain_rules])
        self._index = MatcherIndex(entries, matchers)
        # Last record matching each sequence step, by rule id, step and connection.
        self._steps: dict[tuple[str, int], dict[tuple, Record]] = {}
        # The finding that contains each stored sequence-step record, by (file, line), and
        # whether that finding counted it (a joined code line is evidence only).
        self._owner: dict[tuple[str, int], tuple[tuple[str, int | None], bool]] = {}
        # The finding most recently changed by each connection, with the record that did it.
        self._last_finding: dict[tuple, tuple[tuple[str, int | None], Record]] = {}
        # The same for findings that are not info: follow-ups look past routine lines.
        self._last_event: dict[tuple, tuple[tuple[str, int | None], Record]] = {}
        self._since_prune = 0
        # The current event of each finding and connection: its last record and the
        # message shapes it has had.
        self._events: dict[tuple, tuple[Record, set[str]]] = {}
        # Whether _add counted the record it added last, or made it part of an event.
        self._counted = True
        self._match_cache: dict[tuple, tuple[list, list[Rule], list[Rule]]] = {}

    # -- feeding -------------------------------------------------------------------

    def start_file(self, name: str) -> None:
        """Register an input; lines fed under this name continue its accounting."""
        if name not in self._file_state:
            self._file_state[name] = _FileState(name)
            self.files.append(name)

    def add_error(self, message: str) -> None:
        """Record an input error to report in the summary (the exit status becomes 2)."""
        self.errors.append(message)

    def count_records(self, file: str, count: int, first_time: str | None = None) -> None:
        """Account ``count`` records of ``file`` in bulk, without analysing them.

        Only for records that match no rule and no sequence step and carry no NSS code:
        analysing such a record changes nothing but the line accounting and the time span.
        The caller sets ``last_time`` itself when it has the time of the last record.
        """
        self.start_file(file)
        self.lines += count
        self.counts[_RECORD] += count
        self._file_state[file].after_record = True
        if first_time is not None and self.first_time is None:
            self.first_time = first_time

    def feed(self, file: str, line_number: int, text: str) -> list[tuple[str, int | None]]:
        """Classify and analyse one decoded line; return the keys of findings it changed."""
        self.start_file(file)
        state = self._file_state[file]
        self.lines += 1

        record = parse_line(text, file, line_number)
        if record is None:
            kind = LineKind.CONTINUATION if state.after_record else LineKind.UNPARSED
            self.counts[kind.value] += 1
            return []

        self.counts[_RECORD] += 1
        state.after_record = True
        if record.time:
            if self.first_time is None:
                self.first_time = record.time
            self.last_time = record.time
        return self.analyse(record)

    def analyse(self, record: Record) -> list[tuple[str, int | None]]:
        """Match one record against the rules; return the keys of findings it changed.

        Sequence rules are tried first, then the code-line join, then the other rules, and
        last the generic finding for an uncovered NSS code.
        """
        steps, sequence_rules, plain_rules = self._matching(record)
        step_rules = self._remember_steps(record, steps)

        changed = self._match_rules(record, sequence_rules)
        joined = False
        if not changed:
            changed = self._join_previous(record) or self._join_follow_up(record)
            joined = bool(changed)
        if not changed:
            changed = self._match_rules(record, plain_rules)
        if not changed and record.codes:
            code = record.codes[0]
            changed = [self._add(None, code, _generic_severity(record), record, [])]

        if changed:
            self._last_finding[_connection(record)] = (changed[0], record)
            state = self._findings.get(changed[0])
            if state is not None and state.severity != "info":
                self._last_event[_connection(record)] = (changed[0], record)
            if step_rules:
                self._owner[(record.file, record.line)] = (changed[0], not joined and self._counted)
        self._since_prune += 1
        if (self._since_prune >= PRUNE_EVERY or len(self._last_finding) > PRUNE_THRESHOLD
                or len(self._events) > PRUNE_THRESHOLD):
            self._since_prune = 0
            self._prune(record)
        return changed

    def _prune(self, newest: Record) -> None:
        """Forget per-connection state older than any window, so memory stays flat.

        Every process id gets its own entries, and a busy server goes through many. State
        older than the longest sequence window can no longer change any result.
        """
        now = newest.timestamp
        if now is None:
            return
        windows = [step.window for rule in self.rules for step in (*rule.sequence, *rule.follow_ups)]
        horizon = max([FOLLOW_UP_WINDOW, *windows])

        def stale(record: Record) -> bool:
            when = record.timestamp
            return when is not None and (now - when).total_seconds() > horizon

        for connection in [key for key, (_, record) in self._last_finding.items() if stale(record)]:
            del self._last_finding[connection]
        for connection in [key for key, (_, record) in self._last_event.items() if stale(record)]:
            del self._last_event[connection]
        for slot in [slot for slot, (record, _) in self._events.items() if stale(record)]:
            del self._events[slot]
        for slot in self._steps.values():
            for connection in [key for key, record in slot.items() if stale(record)]:
                record = slot.pop(connection)
                self._owner.pop((record.file, record.line), None)

    def _matching(self, record: Record) -> tuple[list, list[Rule], list[Rule]]:
        """Return the sequence steps, sequence rules and other rules whose matchers hold.

        Matching depends only on the fields in the key, and busy logs repeat the same
        messages many times, so results are kept for recent messages.
        """
        key = (record.message, record.level, record.module, record.source, record.ah, record.peer_kind)
        cached = self._match_cache.get(key)
        if cached is not None:
            return cached

        result = ([], [], [])
        for kind, entry in self._index.candidates(record):
            if kind == _STEP:
                if self._matches(entry[0], entry[2], record):
                    result[_STEP].append(entry)
            elif self._matches(entry, entry.match, record):
                result[kind].append(entry)

        if len(self._match_cache) >= MATCH_CACHE_SIZE:
            self._match_cache.clear()
        self._match_cache[key] = result
        return result

    def _match_rules(self, record: Record, rules: list[Rule]) -> list[tuple[str, int | None]]:
        """Add the record to the first of the matching rules whose sequence steps are also satisfied."""
        for rule in rules:
            earlier = self._sequence_records(rule, record)
            if earlier is None:
                continue
            key = _key(rule, None)
            changed = [key, *self._take_over(earlier, key)]
            self._add(rule, None, rule.severity, record, earlier)
            return changed
        return []

    def _join_previous(self, record: Record) -> list[tuple[str, int | None]]:
        """Attach a code line to the finding its context line just opened.

        mod_nss writes ``SSL Library Error: <code> <text>`` right after the line that gives
        its context, in the same process and thread. The pair is one event, so the code
        line becomes evidence of the same finding without being counted again. It joins
        when that finding already carries the code, or carries no code at all because the
        context line had none.
        """
        if not record.codes or not record.message.startswith("SSL Library Error"):
            return []

        previous = self._last_finding.get(_connection(record))
        if previous is None:
            return []
        key, context = previous
        state = self._findings.get(key)
        if state is None or not _within(context, record, FOLLOW_UP_WINDOW):
            return []
        # An info finding classifies harmless lines; an error code never belongs to one.
        if state.severity == "info":
            return []
        if state.codes and not set(record.codes) <= set(state.codes):
            return []
        # mod_nss may repeat a code line at once, while the same line later is a new event.
        # Times in whole seconds cannot tell the two apart, so there the line joins.
        repeat = context.message == record.message and _subsecond(context) and _subsecond(record)
        if repeat and not _within(context, record, CODE_REPEAT_WINDOW):
            return []

        self._attach(state, record)
        return [key]

    def _join_follow_up(self, record: Record) -> list[tuple[str, int | None]]:
        """Attach a record to the error or warning finding its connection changed last, as a follow-up.

        The record becomes evidence of the finding, with its codes, without being counted.
        """
        previous = self._last_event.get(_connection(record))
        if previous is None:
            return []
        key, context = previous
        state = self._findings.get(key)
        if state is None or state.rule is None or not state.rule.follow_ups:
            return []

        for matcher in state.rule.follow_ups:
            if _within(context, record, matcher.window) and self._matches(state.rule, matcher, record):
                self._attach(state, record)
                return [key]
        return []

    def _attach(self, state: _FindingState, record: Record) -> None:
        """Add a joined record's codes to a finding and keep it as evidence, without counting it."""
        for number in record.codes:
            state.codes[number] = None
        if len(state.evidence) < self.max_evidence:
            state.evidence.append(record)

    def _take_over(self, earlier: list[Record], key) -> list[tuple[str, int | None]]:
        """Move sequence records out of the findings they were first counted in."""
        changed = []
        for record in earlier:
            owner, counted = self._owner.get((record.file, record.line), (None, False))
            if owner is None or owner == key or owner not in self._findings:
                continue

            state = self._findings[owner]
            if record in state.evidence:
                state.evidence.remove(record)
            # A joined code line was evidence only, so the owner's count stays as it is.
            if counted:
                state.count -= 1
            if state.count <= 0:
                del self._findings[owner]
            self._owner[(record.file, record.line)] = (key, True)
            changed.append(owner)
        return changed

    # -- matching ------------------------------------------------------------------

    def _matches(self, rule: Rule, matcher: Matcher, record: Record) -> bool:
        if matcher.codes and matcher.codes.isdisjoint(record.codes):
            return False
        if matcher.ah and record.ah not in matcher.ah:
            return False
        if matcher.levels and record.level not in matcher.levels:
            return False
        if matcher.min_level is not None:
            rank = LEVEL_RANK.get(record.level or "", None)
            if rank is None or rank > matcher.min_level:
                return False
        if matcher.modules is not None and (record.module or "") not in matcher.modules:
            return False
        if matcher.peers is not None and (record.peer_kind or "none") not in matcher.peers:
            return False
        if matcher.source is not None and not self._search(rule, matcher.source, record.source or ""):
            return False
        if matcher.message is not None and not self._search(rule, matcher.message, record.message):
            return False
        return True

    def _search(self, rule: Rule, pattern, text: str) -> bool:
        if rule.id in self._disabled:
            return False
        try:
            return pattern.search(text, timeout=REGEX_TIMEOUT) is not None
        except TimeoutError:
            self._note_timeout(rule)
            return False

    def _note_timeout(self, rule: Rule) -> None:
        """Warn once about a rule whose regex timed out; disable it after repeated timeouts."""
        count = self._timeouts[rule.id] = self._timeouts.get(rule.id, 0) + 1
        if count == 1:
            self.warnings.append(
                f'rule "{rule.id}" ({rule.path}): regular expression timed out after '
                f"{REGEX_TIMEOUT} s on a line and did not match it; simplify the pattern"
            )
        if count == MAX_TIMEOUTS:
            self._disabled.add(rule.id)
            # Cached results may still name the rule.
            self._match_cache.clear()
            self.warnings.append(
                f'rule "{rule.id}" ({rule.path}): disabled for the rest of the run after '
                f"{MAX_TIMEOUTS} regular expression timeouts; its findings may be missing"
            )

    def _remember_steps(self, record: Record, steps: list) -> bool:
        """Store the record under every sequence step it matches; tell whether any did."""
        matched = False
        for rule, index, _ in steps:
            slot = self._steps.setdefault((rule.id, index), {})
            replaced = slot.get(_connection(record))
            if replaced is not None:
                self._owner.pop((replaced.file, replaced.line), None)
            slot[_connection(record)] = record
            matched = True
        return matched

    def _sequence_records(self, rule: Rule, record: Record) -> list[Record] | None:
        """Return the earlier records that satisfy the rule's sequence, or None."""
        earlier = []
        for index, step in enumerate(rule.sequence):
            seen = self._steps.get((rule.id, index), {}).get(_connection(record))
            if seen is None or seen is record or not _within(seen, record, step.window):
                if step.optional:
                    continue
                return None
            earlier.append(seen)
        # In log order, so that the evidence reads as the log does.
        return sorted(earlier, key=lambda item: item.line)

    # -- aggregation ---------------------------------------------------------------

    def _add(self, rule, code, severity, record, earlier) -> tuple[str, int | None]:
        key = _key(rule, code)
        state = self._findings.get(key)
        if state is None:
            state = self._findings[key] = _FindingState(rule, code, severity)

        self._counted = severity == "info" or not self._same_event(key, record)
        if self._counted:
            state.count += 1
        for item in (*earlier, record):
            for number in item.codes:
                state.codes[number] = None

        when = record.timestamp
        if when is not None:
            if state.first_seen is None or when < state.first_seen:
                state.first_seen = when
            if state.last_seen is None or when > state.last_seen:
                state.last_seen = when

        room = self.max_evidence - len(state.evidence)
        if room > 0:
            group = [item for item in earlier if item not in state.evidence] + [record]
            state.evidence.extend(group[:room])
        return key

    def _same_event(self, key: tuple[str, int | None], record: Record) -> bool:
        """Tell whether the record belongs to the event its connection last added to a finding.

        One failure often gives several lines that one rule matches ("Read error -12176",
        then "Re-negotiation handshake failed"). A record continues the event when it comes
        within FOLLOW_UP_WINDOW on the same connection with a message, digits aside, that the
        event has not had. A repeated message starts a new event.
        """
        slot = (key, _connection(record))
        shape = record.message.translate(_NO_DIGITS)
        event = self._events.get(slot)
        if event is not None and shape not in event[1] and _within(event[0], record, FOLLOW_UP_WINDOW):
            event[1].add(shape)
            self._events[slot] = (record, event[1])
            return True
        self._events[slot] = (record, {shape})
        return False

    # -- results -------------------------------------------------------------------

    def finding(self, key: tuple[str, int | None]) -> Finding | None:
        """Return a snapshot of one finding; None when a sequence rule took all its records."""
        state = self._findings.get(key)
        return _freeze(state) if state is not None else None

    def report(self) -> Report:
        """Return the findings so far, most severe and most frequent first."""
        findings = sorted(
            (_freeze(state) for state in self._findings.values()),
            key=lambda finding: (SEVERITY_RANK[finding.severity], -finding.count, finding.rule),
        )
        summary = Summary(
            files=tuple(self.files),
            lines=self.lines,
            parsed=self.counts[_RECORD],
            continuation=self.counts[LineKind.CONTINUATION.value],
            unparsed=self.counts[LineKind.UNPARSED.value],
            first_time=_iso_time(self.first_time),
            last_time=_iso_time(self.last_time),
            errors=tuple(self.errors),
            warnings=tuple(self.warnings),
        )
        return Report(summary=summary, findings=tuple(findings))


def _key(rule: Rule | None, code: int | None) -> tuple[str, int | None]:
    return (rule.id, None) if rule else (GENERIC_RULE, code)


def _iso_time(text: str | None) -> str | None:
    if text is None:
        return None
    when = parse_time(text)
    return when.isoformat() if when else text


def _connection(record: Record) -> tuple:
    # httpd 2.2 writes no pid. Its [client ...] field, where a line has one, separates the
    # clients, and other lines go with the nearest earlier record of the same file.
    if record.pid is None and record.peer_kind is not None:
        return (record.file, None, None, _peer_host(record.peer))
    return (record.file, record.pid, record.tid)


def _peer_host(peer: str | None) -> str | None:
    # 2.2 writes the address alone, but a 2.4 payload without its pid field keeps the port.
    if peer is None or peer.count(":") != 1:
        return peer
    return peer.split(":", 1)[0]


def _subsecond(record: Record) -> bool:
    return record.time is not None and "." in record.time


def _within(earlier: Record, later: Record, window: float) -> bool:
    start, end = earlier.timestamp, later.timestamp
    if start is None or end is None:
        return True
    return 0 <= (end - start).total_seconds() <= window


def _generic_severity(record: Record) -> str:
    rank = LEVEL_RANK.get(record.level or "", None)
    if rank is None or rank <= _ERROR_RANK:
        return "error" if rank is not None else "warning"
    if rank == _WARN_RANK:
        return "warning"
    return "info"


def _freeze(state: _FindingState) -> Finding:
    from nsslog import codes as code_table

    rule = state.rule
    codes = tuple((code, _code_name(code_table, code)) for code in state.codes)
    evidence = tuple(Evidence(record.file, record.line, record.text) for record in state.evidence)
    common = dict(
        severity=state.severity,
        count=state.count,
        first_seen=state.first_seen.isoformat() if state.first_seen else None,
        last_seen=state.last_seen.isoformat() if state.last_seen else None,
        codes=codes,
        evidence=evidence,
    )

    if rule is not None:
        _, filled = fill_fix(rule.fix, log_values(rule, state.evidence, REGEX_TIMEOUT))
        return Finding(
            rule=rule.id, title=rule.title, cause=rule.cause, fix=rule.fix,
            references=rule.references, known_problems=rule.known_problems,
            filled=tuple(sorted(filled.items())), **common,
        )
    return _generic_finding(code_table, state.code, common)


def _code_name(code_table, code: int) -> str:
    info = code_table.lookup(code)
    return info.name if info else "unknown"


def _generic_finding(code_table, code: int, common: dict) -> Finding:
    from nsslog.rules import Fix

    info = code_table.lookup(code)
    if info is None:
        family = code_table.family_of(code) or "NSS"
        title = f"Unknown {family} error {code}"
        cause = (
            f"{code} lies in the {family} error range but is not in nsslog's table; it may come "
            "from a newer NSS release."
        )
        fix_text = "Look the code up with `nsslog explain` on a host with a current NSS."
    else:
        title = f"NSS error {info.name} ({code})"
        cause = info.summary
        if info.causes:
            cause += " Likely causes: " + "; ".join(info.causes)
        fix_text = info.fix or "No rule covers this message yet; the code's explanation is all nsslog knows."

    return Finding(
        rule=GENERIC_RULE, title=title, cause=cause, fix=Fix(text=fix_text),
        references=(), known_problems="", **common,
    )
