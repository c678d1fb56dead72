"""The NSS error code table: every NSPR, SEC, SSL and mozilla::pkix code, what it means,
and for the codes an httpd administrator meets, the likely causes and the fix.

The module also reads mod_nss's own error texts: the words that mod_nss prints after
`SSL Library Error: <code>`, which differ from NSS's texts.

Everything is read lazily from the files in `nsslog/data/` on first use, and this module
imports nothing heavy, because `nsslog explain` has to start fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"
CODES_FILE = DATA_DIR / "nss_codes.tsv"
ADVICE_FILE = DATA_DIR / "nss_advice.toml"
MODNSS_TEXTS_FILE = DATA_DIR / "mod_nss_texts.tsv"

# The releases the table was read from (the reference list of the project).
TABLE_NSS_VERSION = "3.123.1"
TABLE_NSPR_VERSION = "4.36"

# First and last code of each family. The bases are PR_NSPR_ERROR_BASE (prerror.h),
# SEC_ERROR_BASE = -0x2000 (secerr.h) and SSL_ERROR_BASE = -0x3000 (sslerr.h), and the
# mozilla::pkix codes start at -0x4000. secerr.h and sslerr.h reserve 1000 codes per
# table (SEC_ERROR_LIMIT, SSL_ERROR_LIMIT), so NSPR and mozilla::pkix get the same width.
FAMILY_RANGES: dict[str, tuple[int, int]] = {
    "NSPR": (-6000, -5001),
    "SEC": (-8192, -7193),
    "SSL": (-12288, -11289),
    "PKIX": (-16384, -15385),
}
FAMILY_TITLES: dict[str, str] = {
    "NSPR": "NSPR (portable runtime: I/O, network, files)",
    "SEC": "SEC (certificates, keys, databases, OCSP)",
    "SSL": "SSL (the TLS protocol)",
    "PKIX": "mozilla::pkix (certificate checks in Firefox)",
}

# The text mod_nss prints for any code outside its text table.
MODNSS_UNKNOWN = "Unknown"

# The three generations of mod_nss's text table. "1.0.8" is upstream 1.0.8. "1.0.10" is
# RHEL 6's 1.0.8-21 and every release from 1.0.10 to 1.0.14, upstream HEAD and RHEL 7.
# "tlsv13" is the upstream tlsv13 branch. The SEC table always covers -8192...-8037, and
# the SSL table ends at the code given here.
MODNSS_BUILDS: tuple[str, ...] = ("1.0.8", "1.0.10", "tlsv13")
_MODNSS_SEC_RANGE = (-8192, -8037)
_MODNSS_SSL_END = {"1.0.8": -12186, "1.0.10": -12174, "tlsv13": -12129}
# The "printed_by" column of mod_nss_texts.tsv names the builds by the catalogue's letters.
_MODNSS_PRINTED_BY = {
    "a-h": ("1.0.8", "1.0.10", "tlsv13"),
    "b-h": ("1.0.10", "tlsv13"),
    "h": ("tlsv13",),
}

_DECIMAL = re.compile(r"[+-]?\d+")
_HEX = re.compile(r"([+-]?)0x([0-9a-f]+)", re.IGNORECASE)
_NAME = re.compile(r"[a-z][a-z0-9_]*", re.IGNORECASE)
_CODES_COLUMNS = ("code", "name", "family", "obsolete", "since", "aliases", "summary")
_MODNSS_COLUMNS = ("code", "printed_by", "text")


class TableError(ValueError):
    """A data file of the code table is malformed; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class NssCode:
    """An NSS error code with nsslog's explanation of it."""

    code: int  # negative, as NSS prints it
    name: str  # the name NSS prints, e.g. "SSL_ERROR_RENEGOTIATION_NOT_ALLOWED"
    family: str  # "NSPR", "SEC", "SSL" or "PKIX"
    summary: str  # one line
    causes: tuple[str, ...]  # may be empty
    fix: str  # may be ""
    obsolete: bool
    since: str = ""  # NSS release that added it, "" for NSPR codes
    aliases: tuple[str, ...] = ()  # other names of the same number

    @property
    def offset(self) -> int:
        """Position of the code in its family's table."""
        return self.code - FAMILY_RANGES[self.family][0]

    @property
    def hex(self) -> str:
        """The code in signed hexadecimal, as NSS's headers write it: -0x2F90 for -12176."""
        return hex_form(self.code)

    @property
    def unsigned(self) -> str:
        """The code as an unsigned 32-bit number, as some tools print it: 0xFFFFD070 for -12176."""
        return unsigned_form(self.code)


@dataclass(frozen=True, slots=True)
class _Table:
    entries: tuple[NssCode, ...]
    by_code: dict[int, NssCode]
    by_name: dict[str, int]


@dataclass(frozen=True, slots=True)
class _ModNssTable:
    texts: dict[int, tuple[str, tuple[str, ...]]]  # code -> (text, builds that print it)
    by_text: dict[str, tuple[int, ...]]


def lookup(code: int) -> NssCode | None:
    """Return the table entry for `code`, or None when the code is not in the table."""
    return _table().by_code.get(code)


def all_codes() -> tuple[NssCode, ...]:
    """Return every code of the table: NSPR first, then SEC, SSL and mozilla::pkix."""
    return _table().entries


def family_of(code: int) -> str | None:
    """Return the family whose range contains `code`, whether the code is known or not."""
    for family, (first, last) in FAMILY_RANGES.items():
        if first <= code <= last:
            return family
    return None


def parse_code(text: str) -> int | None:
    """Read a code written as -12176, 12176, 0xFFFFD070, -0x2F90 or a name (any case).

    Positive numbers are taken as the code without its sign, and unsigned 32-bit
    values (0xFFFFD070 or 4294955120 for -12176) are turned back into the negative
    code. A name must be in the table. Anything else, including numbers
    that do not fit in 32 bits, gives None.
    """
    text = text.strip()
    if _DECIMAL.fullmatch(text):
        return _signed(int(text))
    hex_match = _HEX.fullmatch(text)
    if hex_match:
        value = int(hex_match[2], 16)
        return _signed(-value if hex_match[1] == "-" else value)
    if _NAME.fullmatch(text):
        return _table().by_name.get(text.upper())
    return None


def search(words: str) -> list[NssCode]:
    """Find the codes whose name or explanation contains every word, ignoring case.

    Codes with all the words in their name come first; obsolete codes come after the
    others; otherwise the table's order is kept.
    """
    terms = words.casefold().split()
    if not terms:
        return []

    scored = []
    for index, entry in enumerate(all_codes()):
        names = " ".join((entry.name, *entry.aliases)).casefold()
        text = " ".join((entry.summary, *entry.causes, entry.fix)).casefold()
        if all(term in names or term in text for term in terms):
            in_name = all(term in names for term in terms)
            scored.append((not in_name, entry.obsolete, index, entry))
    return [entry for *_, entry in sorted(scored, key=lambda item: item[:3])]


def hex_form(code: int) -> str:
    """Format `code` in signed hexadecimal: -12176 gives -0x2F90."""
    return f"-0x{-code:X}" if code < 0 else f"0x{code:X}"


def unsigned_form(code: int) -> str:
    """Format `code` as an unsigned 32-bit number: -12176 gives 0xFFFFD070."""
    return f"0x{code & 0xFFFFFFFF:08X}"


def modnss_text(code: int, build: str = "1.0.10") -> str | None:
    """Return the text mod_nss prints after `SSL Library Error: <code>` in `build`.

    mod_nss never logs NSPR codes in that line, so they give None. Any other code outside
    the build's table gives "Unknown". `build` is one of MODNSS_BUILDS.
    """
    if build not in _MODNSS_SSL_END:
        raise ValueError(f"unknown mod_nss build {build!r}; expected one of {', '.join(MODNSS_BUILDS)}")
    if family_of(code) == "NSPR":
        return None
    text, builds = _modnss_table().texts.get(code, (MODNSS_UNKNOWN, ()))
    return text if build in builds else MODNSS_UNKNOWN


def modnss_codes_for_text(text: str) -> tuple[int, ...]:
    """Return the codes that mod_nss prints with exactly this text (spaces trimmed).

    Most texts belong to one code; "Protocol error" belongs to two. "Unknown" belongs to
    none: mod_nss prints it for every code outside its table.
    """
    return _modnss_table().by_text.get(text.strip(), ())


def modnss_texts() -> dict[int, str]:
    """Return every code of mod_nss's own text table with its text, in any build."""
    return {code: text for code, (text, _) in _modnss_table().texts.items()}


def modnss_builds_printing(code: int) -> tuple[str, ...]:
    """Return the mod_nss builds (of MODNSS_BUILDS) whose text table contains `code`."""
    return _modnss_table().texts.get(code, ("", ()))[1]


def modnss_table_covers(code: int, build: str) -> bool:
    """Tell whether `code` lies inside the range of mod_nss's text table in `build`."""
    sec_first, sec_last = _MODNSS_SEC_RANGE
    return sec_first <= code <= sec_last or -12288 <= code <= _MODNSS_SSL_END[build]


def _signed(value: int) -> int | None:
    """Turn a positive or unsigned 32-bit reading into the negative NSS code."""
    if not -(2**31) <= value < 2**32:
        return None
    if value >= 2**31:
        return value - 2**32
    return -value if value > 0 else value


@cache
def _table() -> _Table:
    advice = _read_advice(ADVICE_FILE)
    entries = tuple(_read_codes(CODES_FILE, advice))

    by_code = {entry.code: entry for entry in entries}
    by_name: dict[str, int] = {}
    for entry in entries:
        for name in (entry.name, *entry.aliases):
            by_name.setdefault(name.upper(), entry.code)

    unknown = sorted(set(advice) - {entry.name for entry in entries})
    if unknown:
        raise TableError(f"{ADVICE_FILE.name}: no code in {CODES_FILE.name} is named {', '.join(unknown)}")
    return _Table(entries, by_code, by_name)


def _read_codes(path: Path, advice: dict[str, tuple[int, tuple[str, ...], str]]) -> list[NssCode]:
    entries = []
    for line_number, fields in _read_tsv(path, _CODES_COLUMNS):
        code, name, family, obsolete, since, aliases, summary = fields
        where = f"{path.name}:{line_number}"
        if family not in FAMILY_RANGES:
            raise TableError(f"{where}: family must be one of {', '.join(FAMILY_RANGES)}, got {family!r}")

        number = _table_int(code, where)
        advice_code, causes, fix = advice.get(name, (number, (), ""))
        if advice_code != number:
            raise TableError(f"{ADVICE_FILE.name}: [{name}] has code {advice_code}, but {where} has {number}")

        alias_names = tuple(alias for alias in aliases.split(",") if alias)
        entries.append(NssCode(number, name, family, summary, causes, fix, obsolete == "yes", since, alias_names))
    return entries


def _read_advice(path: Path) -> dict[str, tuple[int, tuple[str, ...], str]]:
    # Imported here because the rest of the module must stay cheap to import.
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    with path.open("rb") as stream:
        data = tomllib.load(stream)

    advice = {}
    for name, table in data.items():
        code, causes, fix = table.get("code"), table.get("causes"), table.get("fix")
        if not isinstance(code, int):
            raise TableError(f"{path.name}: [{name}]: field \"code\" must be an integer, got {code!r}")
        if not isinstance(causes, list) or not all(isinstance(cause, str) for cause in causes):
            raise TableError(f"{path.name}: [{name}]: field \"causes\" must be a list of strings")
        if not isinstance(fix, str) or not fix.strip():
            raise TableError(f"{path.name}: [{name}]: field \"fix\" must be a non-empty string")
        advice[name] = (code, tuple(causes), _unwrap(fix))
    return advice


def _unwrap(text: str) -> str:
    """Join the hard-wrapped lines of each paragraph; paragraphs stay apart."""
    paragraphs = re.split(r"\n\s*\n", text.strip())
    return "\n\n".join(" ".join(line.strip() for line in paragraph.splitlines()) for paragraph in paragraphs)


@cache
def _modnss_table() -> _ModNssTable:
    texts: dict[int, tuple[str, tuple[str, ...]]] = {}
    for line_number, (code, printed_by, text) in _read_tsv(MODNSS_TEXTS_FILE, _MODNSS_COLUMNS):
        where = f"{MODNSS_TEXTS_FILE.name}:{line_number}"
        if printed_by not in _MODNSS_PRINTED_BY:
            raise TableError(f"{where}: printed_by must be one of {', '.join(_MODNSS_PRINTED_BY)}, got {printed_by!r}")
        texts[_table_int(code, where)] = (text, _MODNSS_PRINTED_BY[printed_by])

    by_text: dict[str, tuple[int, ...]] = {}
    for code, (text, _) in texts.items():
        by_text[text] = (*by_text.get(text, ()), code)
    return _ModNssTable(texts, by_text)


def _read_tsv(path: Path, columns: tuple[str, ...]):
    """Yield (line number, fields) for each data row. Lines starting with '#' are comments."""
    header_seen = False
    with path.open(encoding="utf-8") as stream:
        for line_number, line in enumerate(stream, start=1):
            if line.startswith("#") or not line.strip():
                continue
            fields = tuple(line.rstrip("\n").split("\t"))
            if len(fields) != len(columns):
                raise TableError(f"{path.name}:{line_number}: expected {len(columns)} tab-separated fields, got {len(fields)}")
            if not header_seen:
                if fields != columns:
                    raise TableError(f"{path.name}:{line_number}: header must be {' '.join(columns)}")
                header_seen = True
                continue
            yield line_number, fields


def _table_int(text: str, where: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise TableError(f"{where}: code must be an integer, got {text!r}") from None
