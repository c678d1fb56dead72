"""nsslog's code table checked against the real NSS library of the host (Debian's libnss3).

The library is loaded through ctypes, initialised without a database and made to register
its SSL error table. Then every code of the table must carry the library's name, and every
code in the library's tables must be in nsslog's table. The tests skip, with the reason,
only when the library cannot be loaded.
"""

from __future__ import annotations

import pytest

from nsslog import codes, nsslib


@pytest.fixture(scope="module")
def library() -> nsslib.NssLibrary:
    try:
        return nsslib.default_library()
    except nsslib.NssLibraryUnavailable as problem:
        pytest.skip(f"the NSS library cannot be loaded here ({problem}); install libnss3 to run this check")


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.lstrip("<=").split("."))


def test_library_reports_its_version(library):
    assert version_tuple(library.version) >= (3,)


def test_ssl_error_table_is_registered(library):
    assert library.name(-12176) == "SSL_ERROR_RENEGOTIATION_NOT_ALLOWED"


def test_sec_error_table_is_registered(library):
    assert library.name(-8179) == "SEC_ERROR_UNKNOWN_ISSUER"


def test_nspr_error_table_is_registered(library):
    assert library.name(-5961) == "PR_CONNECT_RESET_ERROR"


def test_table_names_match_library(library):
    wrong = [
        (entry.code, entry.name, library.name(entry.code))
        for entry in codes.all_codes()
        if library.name(entry.code) is not None and library.name(entry.code) != entry.name
    ]
    assert wrong == [], f"(code, nsslog name, library name): {wrong}"


def test_library_codes_are_all_in_table(library):
    missing = [(code, library.name(code)) for code in library.codes() if codes.lookup(code) is None]
    assert missing == [], f"codes the installed NSS {library.version} knows but nsslog does not: {missing}"


def test_codes_library_lacks_are_newer_or_pkix(library):
    # The table may know more than the installed NSS, but only codes of later NSS
    # releases, or mozilla::pkix codes, which only Firefox registers.
    installed = version_tuple(library.version)
    unexplained = [
        entry.code
        for entry in codes.all_codes()
        if library.name(entry.code) is None
        and entry.family != "PKIX"
        and not (entry.since and version_tuple(entry.since) > installed)
    ]
    assert unexplained == [], f"codes the installed NSS {library.version} should know: {unexplained}"


def test_summaries_are_not_library_texts(library):
    # nsslog explains in its own words.
    copied = [
        entry.code
        for entry in codes.all_codes()
        if (library.text(entry.code) or "").rstrip(".").casefold() == entry.summary.rstrip(".").casefold()
    ]
    assert copied == []


def test_library_text(library):
    assert library.text(-8181)


def test_library_does_not_know_unassigned_code(library):
    assert library.name(-12000) is None


def test_library_text_of_unknown_code(library):
    assert library.text(-12000) is None


def test_module_functions_agree_with_library(library):
    assert nsslib.library_name(-8179) == library.name(-8179)
    assert nsslib.library_version() == library.version


def test_missing_library_raises_clear_error():
    with pytest.raises(nsslib.NssLibraryUnavailable, match="libnsslog-does-not-exist.so"):
        nsslib.open_library(nss="libnsslog-does-not-exist.so")
