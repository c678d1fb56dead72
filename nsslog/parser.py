"""Tokenize Apache httpd error_log lines into records.

The parser reads the layouts httpd writes without a custom ErrorLogFormat:

- httpd 2.2: ``[ctime] [level] [file.c(N): ][[client IP] ][(status)text: ]message``
- httpd 2.4: ``[ctime.usec] [module:level] [pid P[:tid T]] [file.c(N): ][(status)text: ]
  [[client|remote IP:port] ]message[, referer: URL]`` (the module is empty for modules
  such as mod_nss that declare none, giving ``[:error]``)
- the same 2.4 line with an ISO time (``%{cu}t``) and with extra ``[X:id]`` log-id fields
- syslog files (``Mon DD HH:MM:SS host ident[pid]: ...``, RFC 3339 and RFC 5424) and
  ``journalctl`` output in the ``short``, ``short-precise``, ``short-iso``, ``short-full``,
  ``short-unix`` and ``short-monotonic`` forms, whose payload is a 2.4 line without its time,
  a start-up line or free text
- that payload alone (``journalctl -o cat``, or an ErrorLogFormat without ``%t``): a record
  without a time
- bare start-up lines (``AH00016: Configuration Failed``, ``(98)Address already in use: ...``)

A line in none of these layouts is a continuation of the record before it when it follows
one in the same file, and unparsed otherwise.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import Enum
from functools import lru_cache
from typing import NamedTuple

LEVELS = (
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug",
    "trace1", "trace2", "trace3", "trace4", "trace5", "trace6", "trace7", "trace8",
)
LEVEL_RANK = {name: rank for rank, name in enumerate(LEVELS)}

_LEVEL = r"(?P<level>emerg|alert|crit|error|warn|notice|info|debug|trace[1-8])"

# ctime as httpd prints it (day zero-padded, optional microseconds, optional zone from
# 2.4.58's %{z}t) or the ISO form of %{c}t / %{cu}t / %{cuz}t.
_TIME = (
    r"(?P<time>[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d{1,6})? \d{4}(?: [+-]\d{4})?"
    r"|\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,6})?(?: ?[+-]\d\d:?\d\d|Z)?)"
)

# Everything that may follow the level field in a 2.2 or 2.4 line. Both orders of status and
# client are accepted: 2.4 writes the status first, 2.2 the client first.
_STATUS = r"\((?P<{0}>-?\d+|EAI -?\d+|OS -?\d+|os 0x[0-9a-fA-F]{{8}})\)(?P<{1}>[^:\n]*): "
_TAIL = (
    r"(?:\[pid (?P<pid>\d{1,10})(?::tid (?P<tid>\d{1,20}))?\] )?"
    r"(?:\[[A-Za-z]:[^\]\n]*\] )*"
    r"(?: *(?P<source>[\w.+-]+\.[a-z]{1,3})\((?P<source_line>\d{1,9})\): )?"
    r"(?:" + _STATUS.format("status", "status_text") + r")?"
    r"(?:\[(?P<peer_kind>client|remote) (?P<peer>[^\]\n]+)\] )?"
    r"(?:" + _STATUS.format("status2", "status_text2") + r")?"
    r"(?P<message>.*)"
)

_BRACKETED = re.compile(
    r"\[" + _TIME + r"\] \[(?:(?P<module>[\w.-]*):)?" + _LEVEL + r"\] " + _TAIL,
    re.DOTALL,
)

# Payload of a syslog or journal line written by httpd: no time of its own.
_SYSLOG_PAYLOAD = re.compile(r"\[(?:(?P<module>[\w.-]*):)?" + _LEVEL + r"\] " + _TAIL, re.DOTALL)

# The time forms: syslog and journalctl short and short-precise, short-iso (and rsyslog's
# RFC 3339 files), short-full with weekday and zone, short-unix seconds since the epoch, and
# short-monotonic seconds since boot in brackets.
_SYSLOG_PREFIX = re.compile(
    r"(?P<time>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d{1,6})?"
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:[+-]\d\d:?\d\d|Z)?"
    r"|[A-Z][a-z]{2} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})? (?:[A-Z]{1,6}|[+-]\d\d(?:\d\d)?)"
    r"|\d{9,11}(?:\.\d{1,6})?"
    r"|\[ *\d{1,10}\.\d{1,6}\])"
    r" (?P<host>\S+) (?P<ident>[^\s\[:]+)(?:\[(?P<ident_pid>\d{1,10})\])?: (?P<rest>.*)",
    re.DOTALL,
)

# RFC 5424 syslog: <PRI>1 TIMESTAMP HOST APP-NAME PROCID MSGID STRUCTURED-DATA MSG, where "-"
# marks a missing field.
_RFC5424_PREFIX = re.compile(
    r"<\d{1,3}>1 (?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:[+-]\d\d:?\d\d|Z)?|-)"
    r" (?P<host>\S+) (?P<ident>\S+) (?:(?P<ident_pid>\d{1,10})|\S+) \S+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+)"
    r"(?: \ufeff?(?P<rest>.*))?",
    re.DOTALL,
)

# httpd start-up messages carry no header at all (APLOG_STARTUP).
_STARTUP = re.compile(
    r"(?:" + _STATUS.format("status", "status_text") + r")?"
    r"(?P<message>(?:AH\d{5}|AH): .*|Syntax error on line \d+ of .*|(?:httpd|apache2): .*)",
    re.DOTALL,
)

_AH_CODE = re.compile(r"(AH\d{5}|AH): ")
_REFERER = ", referer: "

# NSS error codes are negative: NSPR from -6000, SEC from -8192, SSL from -12288,
# mozilla::pkix from -16384 (NSS prerr.h, secerr.h, sslerr.h, pkixnss.h). Each family
# reserves 1000 or 1024 numbers; a number outside these ranges is not an NSS code.
NSS_CODE_RANGES = (
    ("NSPR", -6000, -5001),
    ("SEC", -8192, -7169),
    ("SSL", -12288, -11265),
    ("PKIX", -16384, -15361),
)
_NEGATIVE_NUMBER = re.compile(r"(?<![\w.:/-])-(\d{4,5})(?![\w.]|:\d)")
_UNSIGNED_HEX = re.compile(r"\b0x(?:FFFF|ffff)([0-9A-Fa-f]{4})\b")
_CODE_NAME = re.compile(r"\b(?:(?:PR|SEC|SSL|MOZILLA_PKIX)_ERROR_[A-Z0-9_]+|PR_[A-Z0-9_]+_ERROR)\b")


class LineKind(Enum):
    """Classification of a physical line."""

    RECORD = "parsed"
    CONTINUATION = "continuation"
    UNPARSED = "unparsed"


class Record(NamedTuple):
    """One error_log entry: a physical line that matched a known layout.

    A named tuple rather than a frozen dataclass: it is built for every line that may
    matter, and a tuple is built about three times faster.
    """

    file: str
    line: int
    text: str
    layout: str
    time: str | None
    level: str | None
    module: str | None
    pid: int | None
    tid: int | None
    source: str | None
    source_line: int | None
    peer: str | None
    peer_kind: str | None
    status: str | None
    status_text: str | None
    ah: str | None
    message: str
    referer: str | None
    codes: tuple[int, ...]

    @property
    def connection(self) -> tuple[str, int | None, int | None]:
        """Key of the process and thread that wrote the line, within its file."""
        return (self.file, self.pid, self.tid)

    @property
    def timestamp(self) -> datetime | None:
        """The time as a naive datetime (httpd logs local time without a zone)."""
        return parse_time(self.time) if self.time else None


def is_nss_code(number: int) -> bool:
    """Tell whether a number lies in one of the NSS error code families."""
    return any(low <= number <= high for _, low, high in NSS_CODE_RANGES)


def extract_codes(message: str) -> tuple[int, ...]:
    """Find every NSS or NSPR error code in a message, in order, without repeats."""
    found: list[int] = []

    if "-" in message:
        for match in _NEGATIVE_NUMBER.finditer(message):
            found.append(-int(match.group(1)))

    if "0x" in message:
        for match in _UNSIGNED_HEX.finditer(message):
            found.append(int(match.group(1), 16) - 0x10000)

    if "_ERROR" in message:
        found.extend(_codes_from_names(message))

    if not found:
        return ()
    return tuple(dict.fromkeys(code for code in found if is_nss_code(code)))


def _codes_from_names(message: str) -> list[int]:
    # The code table is only loaded for the rare line that names a code.
    from nsslog import codes

    numbers = []
    for match in _CODE_NAME.finditer(message):
        number = codes.parse_code(match.group(0))
        if number is not None:
            numbers.append(number)
    return numbers


def parse_line(text: str, file: str = "-", line: int = 0) -> Record | None:
    """Parse one physical line (without its line ending); None when no layout fits."""
    if not text:
        return None

    first = text[0]
    if first == "[":
        match = _BRACKETED.match(text)
        if match:
            return _build(match, text, file, line, _bracket_layout(match))
        return _parse_untimed(text, file, line)

    if first.isdigit() or first.isupper():
        match = _SYSLOG_PREFIX.match(text)
        if match:
            return _parse_syslog(match, text, file, line)

    if first == "<":
        match = _RFC5424_PREFIX.match(text)
        if match:
            return _parse_syslog(match, text, file, line, "rfc5424")

    if first in "(AShap":
        match = _STARTUP.match(text)
        if match:
            return _build(match, text, file, line, "startup")

    return None


def _bracket_layout(match: re.Match | None) -> str:
    if match is None:
        return ""
    if match.group("module") is None:
        return "httpd-2.2"
    return "httpd-2.4"


def _parse_untimed(text: str, file: str, line: int) -> Record | None:
    """Parse a line that starts with "[" but not with a bracketed time.

    journalctl's short-monotonic form starts with the seconds since boot, and its cat form,
    like an ErrorLogFormat without %t, starts with the [module:level] field.
    """
    prefix = _SYSLOG_PREFIX.match(text)
    if prefix:
        return _parse_syslog(prefix, text, file, line)

    payload = _SYSLOG_PAYLOAD.match(text)
    return _build(payload, text, file, line, "payload") if payload else None


def _syslog_layout(time: str) -> str:
    if time[0] == "[":
        return "journal-monotonic"
    if time[0].isdigit():
        return "journal-iso" if "-" in time else "journal-unix"
    return "journal-full" if time[8:9] == "-" else "syslog"


def _parse_syslog(prefix: re.Match, text: str, file: str, line: int, layout: str | None = None) -> Record:
    time = prefix.group("time")
    layout = layout or _syslog_layout(time)
    # Seconds since boot and a missing RFC 5424 time ("-") give no wall-clock time.
    if time == "-" or layout == "journal-monotonic":
        time = None
    rest = prefix.group("rest") or ""
    ident_pid = prefix.group("ident_pid")

    inner = _SYSLOG_PAYLOAD.match(rest)
    if inner:
        return _build(inner, text, file, line, layout, time=time)

    startup = _STARTUP.match(rest)
    if startup:
        return _build(startup, text, file, line, layout, time=time, pid=ident_pid)

    return Record(
        file=file, line=line, text=text, layout=layout, time=time,
        level=None, module=None, pid=int(ident_pid) if ident_pid else None, tid=None,
        source=None, source_line=None, peer=None, peer_kind=None, status=None,
        status_text=None, ah=None, message=rest, referer=None, codes=extract_codes(rest),
    )


def _build(
    match: re.Match, text: str, file: str, line: int, layout: str,
    time: str | None = None, pid: str | None = None,
) -> Record:
    groups = match.groupdict()
    message, ah, referer = _split_message(groups["message"])
    status = groups.get("status") or groups.get("status2")
    status_text = groups.get("status_text") if groups.get("status") else groups.get("status_text2")
    pid = groups.get("pid") or pid
    tid = groups.get("tid")
    source_line = groups.get("source_line")

    return Record(
        file=file,
        line=line,
        text=text,
        layout=layout,
        time=groups.get("time") or time,
        level=groups.get("level"),
        module=groups.get("module"),
        pid=int(pid) if pid else None,
        tid=int(tid) if tid else None,
        source=groups.get("source"),
        source_line=int(source_line) if source_line else None,
        peer=groups.get("peer"),
        peer_kind=groups.get("peer_kind"),
        status=status,
        status_text=status_text,
        ah=ah,
        message=message,
        referer=referer,
        codes=extract_codes(message),
    )


def _split_message(message: str) -> tuple[str, str | None, str | None]:
    """Take the AH code off the front and the referer off the end of a message."""
    ah = None
    if message.startswith("AH"):
        match = _AH_CODE.match(message)
        if match:
            ah = match.group(1)
            message = message[match.end():]

    # NOTE: a message that itself contains ", referer: " is cut there; httpd gives no way
    # to tell the two apart.
    referer = None
    if _REFERER in message:
        message, _, referer = message.rpartition(_REFERER)

    return message, ah, referer


# A syslog line may be up to this far ahead of the local clock and still count as this year.
_CLOCK_SKEW = timedelta(days=1)
_CTIME = re.compile(
    r"[A-Z][a-z]{2} ([A-Z][a-z]{2}) ([ \d]?\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? (\d{4})(?: [+-]\d{4})?$"
)
_ISO_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?")
_UNIX_TIME = re.compile(r"(\d{9,11})(?:\.(\d{1,6}))?$")
_SYSLOG_TIME = re.compile(r"([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?$")
_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


# Microsecond times rarely repeat, so the cache only serves the few records being compared
# at a time: 4,096 entries cost 1.1 MB of peak memory on a 5M-line log and gained nothing.
@lru_cache(maxsize=512)
def parse_time(text: str) -> datetime | None:
    """Parse any time field the layouts carry; None when it is not a valid time.

    The zone is dropped: httpd writes local time, and comparing records only needs the
    wall-clock order within one log. Syslog times carry no year, so the latest year that is not in the future is used.
    """
    iso = _ISO_TIME.match(text)
    if iso:
        return _iso_datetime(iso)

    syslog = _SYSLOG_TIME.match(text)
    if syslog:
        return _syslog_datetime(syslog)

    ctime = _CTIME.match(text)
    if ctime:
        return _ctime_datetime(ctime)

    # journalctl short-full ("Fri 2026-12-04 19:32:39 UTC") and short-unix.
    if text[3:4] == " " and text[8:9] == "-":
        iso = _ISO_TIME.match(text, 4)
        return _iso_datetime(iso) if iso else None
    unix = _UNIX_TIME.match(text)
    return _unix_datetime(unix) if unix else None


def _microseconds(fraction: str | None) -> int:
    """Return the microseconds of a fraction of a second given as its digits ("5" is 500000)."""
    return int((fraction or "0")[:6].ljust(6, "0"))


def _unix_datetime(match: re.Match) -> datetime | None:
    # The local time of this machine: httpd's own lines carry the server's local time too.
    try:
        return datetime.fromtimestamp(int(match.group(1))).replace(microsecond=_microseconds(match.group(2)))
    except (OverflowError, OSError, ValueError):
        return None


def _ctime_datetime(match: re.Match) -> datetime | None:
    # Slicing instead of strptime: parsing times is on the hot path of large logs.
    month = _MONTHS.get(match.group(1))
    if month is None:
        return None
    try:
        return datetime(int(match.group(7)), month, int(match.group(2)), int(match.group(3)),
                        int(match.group(4)), int(match.group(5)), _microseconds(match.group(6)))
    except ValueError:
        return None


def _iso_datetime(match: re.Match) -> datetime | None:
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    try:
        return datetime(year, month, day, hour, minute, second, _microseconds(match.group(7)))
    except ValueError:
        return None


def _syslog_datetime(match: re.Match) -> datetime | None:
    month = _MONTHS.get(match.group(1))
    if month is None:
        return None
    parts = (month, int(match.group(2)), int(match.group(3)), int(match.group(4)),
             int(match.group(5)), _microseconds(match.group(6)))

    # syslog and journalctl's short form carry no year: take the latest year that does not
    # put the line in the future, as syslog readers do.
    now = datetime.now()
    for year in range(now.year, now.year - 8, -1):
        try:
            when = datetime(year, *parts)
        except ValueError:
            continue
        if when <= now + _CLOCK_SKEW:
            return when
    return None
