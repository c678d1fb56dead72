"""The NSS error code table (nsslog.codes) and mod_nss's own error texts.

The table was built from the project's reference lists, kept beside the repository in
shared/reference. The tests that compare against them skip when they are absent.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from nsslog import codes

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference"
REFERENCE_CODES = REFERENCE_DIR / "nss_error_codes.tsv"
REFERENCE_CATALOGUE = REFERENCE_DIR / "mod_nss_catalogue.md"

# The codes an httpd administrator meets with mod_nss: certificate trust, revocation,
# OCSP, protocol and cipher mismatch, renegotiation, database and token passwords,
# resets and timeouts. Each must come with causes and a fix.
ADMIN_CODES = [
    -8038, -8053, -8177, -8174, -8181, -8162, -8179, -8172, -8171, -8180, -8102, -8101,
    -8071, -8073, -8066, -8046, -8048, -8187, -8015, -8016,
    -12285, -12286, -12279, -12190, -12227, -12195, -12271, -12269, -12230, -12263,
    -12276, -12186, -12176, -12175, -12157,
    -5938, -5961, -5990, -5998, -5981, -5928,
]


def reference_rows() -> list[dict[str, str]]:
    if not REFERENCE_CODES.exists():
        pytest.skip(f"reference list not found at {REFERENCE_CODES}")
    with REFERENCE_CODES.open(encoding="utf-8") as stream:
        return list(csv.DictReader(stream, delimiter="\t"))


def catalogue_text_table() -> list[tuple[int, str]]:
    """Read the (code, text) rows of mod_nss's own text table from the catalogue."""
    if not REFERENCE_CATALOGUE.exists():
        pytest.skip(f"mod_nss catalogue not found at {REFERENCE_CATALOGUE}")
    appendix = REFERENCE_CATALOGUE.read_text(encoding="utf-8").split("## Appendix A")[1].split("## Appendix B")[0]
    row = re.compile(r"^\| (-\d+) \| `[A-Z0-9_]+` \| (.*) \| (?:a–h|b–h|h only) \|$", re.MULTILINE)
    return [(int(code), text) for code, text in row.findall(appendix)]


# ---------------------------------------------------------------- the table against the reference


def test_table_has_every_reference_code():
    missing = [row["code"] for row in reference_rows() if codes.lookup(int(row["code"])) is None]
    assert missing == [], f"codes of the reference list missing from nss_codes.tsv: {missing}"


def test_table_names_match_reference():
    wrong = [
        (row["code"], codes.lookup(int(row["code"])).name, row["name"])
        for row in reference_rows()
        if codes.lookup(int(row["code"])) and codes.lookup(int(row["code"])).name != row["name"]
    ]
    assert wrong == [], f"(code, table name, reference name): {wrong}"


def test_table_families_match_reference():
    family = {"NSPR": "NSPR", "SEC": "SEC", "SSL": "SSL", "MOZPKIX": "PKIX"}
    wrong = [
        row["code"]
        for row in reference_rows()
        if codes.lookup(int(row["code"])) and codes.lookup(int(row["code"])).family != family[row["family"]]
    ]
    assert wrong == [], f"codes whose family differs from the reference: {wrong}"


def test_table_obsolete_flags_match_reference():
    marks = ("obsolete", "unused", "no-longer-used", "placeholder-end-of-list")
    wrong = [
        row["code"]
        for row in reference_rows()
        if codes.lookup(int(row["code"]))
        and codes.lookup(int(row["code"])).obsolete != any(mark in row["flags"] for mark in marks)
    ]
    assert wrong == [], f"codes whose obsolete flag differs from the reference flags: {wrong}"


def test_table_has_no_code_beyond_reference():
    reference = {int(row["code"]) for row in reference_rows()}
    extra = [entry.code for entry in codes.all_codes() if entry.code not in reference]
    assert extra == [], f"codes in nss_codes.tsv that the reference does not list: {extra}"


# ---------------------------------------------------------------- the table itself


def test_codes_are_unique():
    numbers = [entry.code for entry in codes.all_codes()]
    assert len(numbers) == len(set(numbers))


def test_names_are_unique():
    names = [name for entry in codes.all_codes() for name in (entry.name, *entry.aliases)]
    assert len(names) == len(set(names))


def test_every_code_lies_in_its_family_range():
    wrong = [entry.code for entry in codes.all_codes() if codes.family_of(entry.code) != entry.family]
    assert wrong == []


def test_every_code_has_a_one_line_summary():
    bad = [entry.code for entry in codes.all_codes() if not entry.summary.strip() or "\n" in entry.summary]
    assert bad == []


def test_summaries_are_not_mod_nss_texts():
    # nsslog explains in its own words; copying a library's text would explain nothing.
    texts = codes.modnss_texts()
    copied = [
        entry.code
        for entry in codes.all_codes()
        if entry.summary.rstrip(".").casefold() == texts.get(entry.code, "").rstrip(".").casefold()
    ]
    assert copied == []


@pytest.mark.parametrize("code", ADMIN_CODES)
def test_admin_code_has_causes(code):
    assert codes.lookup(code).causes, f"{code} needs likely causes in nss_advice.toml"


@pytest.mark.parametrize("code", ADMIN_CODES)
def test_admin_code_has_fix(code):
    assert codes.lookup(code).fix, f"{code} needs a fix in nss_advice.toml"


def test_causes_and_fix_come_together():
    lopsided = [entry.code for entry in codes.all_codes() if bool(entry.causes) != bool(entry.fix)]
    assert lopsided == []


def test_fix_text_is_unwrapped():
    wrapped = [entry.code for entry in codes.all_codes() if re.search(r"[^\n]\n[^\n]", entry.fix)]
    assert wrapped == []


def test_advice_with_wrong_code_is_rejected(tmp_path, monkeypatch):
    advice = tmp_path / "nss_advice.toml"
    advice.write_text('[SSL_ERROR_RENEGOTIATION_NOT_ALLOWED]\ncode = -1\ncauses = ["x"]\nfix = "y"\n')
    monkeypatch.setattr(codes, "ADVICE_FILE", advice)
    codes._table.cache_clear()
    try:
        with pytest.raises(codes.TableError, match="-12176"):
            codes.lookup(-12176)
    finally:
        codes._table.cache_clear()


def test_advice_for_unknown_name_is_rejected(tmp_path, monkeypatch):
    advice = tmp_path / "nss_advice.toml"
    advice.write_text('[SSL_ERROR_NO_SUCH_THING]\ncode = -12000\ncauses = ["x"]\nfix = "y"\n')
    monkeypatch.setattr(codes, "ADVICE_FILE", advice)
    codes._table.cache_clear()
    try:
        with pytest.raises(codes.TableError, match="SSL_ERROR_NO_SUCH_THING"):
            codes.lookup(-12176)
    finally:
        codes._table.cache_clear()


# ---------------------------------------------------------------- lookup and the entry


def test_lookup_known_code():
    entry = codes.lookup(-12176)
    assert entry.name == "SSL_ERROR_RENEGOTIATION_NOT_ALLOWED"
    assert entry.family == "SSL"
    assert entry.obsolete is False


def test_lookup_unknown_code():
    assert codes.lookup(-12000) is None


def test_entry_numbers():
    entry = codes.lookup(-12176)
    assert entry.offset == 112
    assert entry.hex == "-0x2F90"
    assert entry.unsigned == "0xFFFFD070"


def test_obsolete_entry():
    assert codes.lookup(-12283).obsolete


def test_alias_is_kept():
    assert "SSL_ERROR_RX_MALFORMED_ECH_CONFIG" in codes.lookup(-12112).aliases


@pytest.mark.parametrize(
    ("code", "family"),
    [
        (-6000, "NSPR"),
        (-5924, "NSPR"),
        (-5001, "NSPR"),
        (-8192, "SEC"),
        (-7193, "SEC"),
        (-12288, "SSL"),
        (-12000, "SSL"),
        (-16384, "PKIX"),
        (-5000, None),
        (-7000, None),
        (0, None),
        (12176, None),
    ],
)
def test_family_of(code, family):
    assert codes.family_of(code) == family


# ---------------------------------------------------------------- parse_code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("-12176", -12176),
        ("12176", -12176),
        ("+12176", -12176),
        (" -12176\n", -12176),
        ("0xFFFFD070", -12176),
        ("0xffffd070", -12176),
        ("4294955120", -12176),
        ("-0x2F90", -12176),
        ("0x2F90", -12176),
        ("0xFFFFD050", -12208),  # offset 80, SSL_ERROR_INIT_CIPHER_SUITE_FAILURE
        ("SSL_ERROR_RENEGOTIATION_NOT_ALLOWED", -12176),
        ("ssl_error_renegotiation_not_allowed", -12176),
        ("SSL_ERROR_MALFORMED_PRE_SHARED_KEY", -12141),  # C enum name, differs from the printed name
        ("SSL_ERROR_RX_MALFORMED_ECH_CONFIG", -12112),  # renamed alias
        ("-5961", -5961),
        ("0", 0),
    ],
    ids=repr,
)
def test_parse_code(text, code):
    assert codes.parse_code(text) == code


@pytest.mark.parametrize(
    "text",
    ["", "   ", "renegotiation", "SSL_ERROR_NO_SUCH_THING", "-12176x", "0x", "0xFFFFD070FF", "99999999999", "-1 2", "--12176"],
    ids=repr,
)
def test_parse_code_rejects(text):
    assert codes.parse_code(text) is None


# ---------------------------------------------------------------- search


def test_search_finds_renegotiation_codes():
    found = {entry.code for entry in codes.search("renegotiation")}
    assert {-12176, -12186, -12175} <= found


def test_search_puts_name_matches_first():
    assert "RENEGOTIATION" in codes.search("renegotiation")[0].name


def test_search_is_case_insensitive():
    assert codes.search("OCSP") == codes.search("ocsp")


def test_search_needs_every_word():
    found = {entry.code for entry in codes.search("ocsp revoked")}
    assert -8046 in found
    assert -12176 not in found


def test_search_finds_words_in_fix():
    assert -12176 in {entry.code for entry in codes.search("NSSRequireSafeNegotiation")}


def test_search_without_match():
    assert codes.search("xyzzy") == []


def test_search_of_nothing():
    assert codes.search("  ") == []


# ---------------------------------------------------------------- mod_nss's own texts


def test_modnss_table_matches_catalogue():
    ours = codes.modnss_texts()
    theirs = dict(catalogue_text_table())
    assert ours == theirs


def test_every_modnss_text_maps_to_its_code():
    wrong = [code for code, text in codes.modnss_texts().items() if code not in codes.modnss_codes_for_text(text)]
    assert wrong == []


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Unable to communicate securely wih peer: peer's certificate was rejected", -12284),
        ("SSL received an unexpected Cllient Key Exchange handshake message", -12239),
        ("SSL peer was unable to succesfully decompress an SSL record it received", -12228),
        ("SEC_ERROR_NOT_INITIALIZED", -8038),
        ("**Internal ONLY module**", -8153),
        ("Certificate is signed by an unknown issuer", -8179),
        ("Renegotiation not allowed", -12176),
    ],
)
def test_modnss_text_with_typo_maps_to_code(text, code):
    assert codes.modnss_codes_for_text(text) == (code,)


def test_modnss_text_shared_by_two_codes():
    assert codes.modnss_codes_for_text("Protocol error") == (-12282, -12281)


def test_modnss_unknown_text_maps_to_no_code():
    assert codes.modnss_codes_for_text(codes.MODNSS_UNKNOWN) == ()


def test_every_modnss_code_is_in_the_table():
    missing = [code for code in codes.modnss_texts() if codes.lookup(code) is None]
    assert missing == []


@pytest.mark.parametrize("build", codes.MODNSS_BUILDS)
def test_modnss_builds_agree_with_table_ranges(build):
    # A text is printed by a build exactly when the code lies inside that build's table.
    wrong = [
        code
        for code in codes.modnss_texts()
        if (build in codes.modnss_builds_printing(code)) != codes.modnss_table_covers(code, build)
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("code", "build", "text"),
    [
        (-12176, "1.0.8", "Unknown"),
        (-12176, "1.0.10", "Renegotiation not allowed"),
        (-12175, "1.0.8", "Unknown"),
        (-12186, "1.0.8", "Peer does not permit renegotiation of SSL security parameters"),
        (-12157, "1.0.10", "Unknown"),
        (-12157, "tlsv13", "Inappropriate fallback alert"),
        (-8038, "1.0.8", "SEC_ERROR_NOT_INITIALIZED"),
        (-8015, "tlsv13", "Unknown"),  # SEC code past mod_nss's SEC table
        (-16370, "tlsv13", "Unknown"),
        (0, "1.0.10", "Unknown"),
    ],
)
def test_modnss_text(code, build, text):
    assert codes.modnss_text(code, build) == text


def test_modnss_never_prints_nspr_codes():
    assert codes.modnss_text(-5961) is None


def test_modnss_text_rejects_unknown_build():
    with pytest.raises(ValueError, match="1.0.10"):
        codes.modnss_text(-12176, "2.0")
