"""`nsslog explain`, run through click's CliRunner inside a small group, as the CLI does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from nsslog import nsslib
from nsslog.explain import explain_command

REPOSITORY = Path(__file__).resolve().parents[1]


@click.group()
def cli() -> None:
    """Stand-in for nsslog's own command group."""


cli.add_command(explain_command)


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, ["explain", *args])


def text_of(*args: str) -> str:
    """The command's standard output with line wrapping undone."""
    return " ".join(run(*args).stdout.split())


def run_json(*args: str) -> dict:
    result = run(*args, "--format", "json")
    return json.loads(result.stdout)


@pytest.fixture
def without_nss(monkeypatch):
    """Make the NSS library look absent from this host."""

    def unavailable() -> nsslib.NssLibrary:
        raise nsslib.NssLibraryUnavailable("cannot load libnss3.so: not installed")

    monkeypatch.setattr(nsslib, "default_library", unavailable)


needs_nss = pytest.mark.skipif(not nsslib.available(), reason="the NSS library cannot be loaded here")

CODE_FORMS = [
    "-12176",
    "12176",
    "-0x2F90",
    "0xFFFFD070",
    "4294955120",
    "SSL_ERROR_RENEGOTIATION_NOT_ALLOWED",
    "ssl_error_renegotiation_not_allowed",
]


# ---------------------------------------------------------------- a code in every form


@pytest.mark.parametrize("form", CODE_FORMS)
def test_code_form_exits_zero(form):
    assert run(form).exit_code == 0


@pytest.mark.parametrize("form", CODE_FORMS)
def test_code_form_names_the_code(form):
    assert "-12176 SSL_ERROR_RENEGOTIATION_NOT_ALLOWED" in text_of(form)


@pytest.mark.parametrize("form", CODE_FORMS)
def test_code_form_in_json(form):
    answer = run_json(form)
    assert answer["kind"] == "code"
    assert answer["codes"][0]["code"] == -12176
    assert answer["codes"][0]["name"] == "SSL_ERROR_RENEGOTIATION_NOT_ALLOWED"


def test_unsigned_hex_of_another_code():
    # 0xFFFFD050 is -12208 (offset 80), not -12176 (0xFFFFD070).
    assert run_json("0xFFFFD050")["codes"][0]["name"] == "SSL_ERROR_INIT_CIPHER_SUITE_FAILURE"


def test_negative_code_before_option():
    assert run("-12176", "--format", "json").exit_code == 0


def test_negative_code_after_option():
    assert CliRunner().invoke(cli, ["explain", "--format", "json", "-12176"]).exit_code == 0


def test_text_shows_causes_and_fix():
    output = text_of("-12176")
    assert "Likely causes" in output
    assert "Fix" in output
    assert "NSSRenegotiation on" in output


def test_text_shows_mod_nss_text_with_typo():
    assert "Unable to communicate securely wih peer" in text_of("-12284")


def test_text_says_mod_nss_never_prints_nspr_codes():
    assert "never logs NSPR codes" in text_of("-5961")


def test_success_writes_nothing_to_stderr():
    assert run("-12176").stderr == ""


def test_json_entry_fields():
    entry = run_json("-12176")["codes"][0]
    assert entry["family"] == "SSL"
    assert entry["offset"] == 112
    assert entry["hex"] == "-0x2F90"
    assert entry["unsigned"] == "0xFFFFD070"
    assert entry["obsolete"] is False


def test_json_has_causes_and_fix():
    entry = run_json("-12176")["codes"][0]
    assert entry["causes"]
    assert entry["fix"]


def test_json_mod_nss_texts_by_build():
    texts = run_json("-12176")["codes"][0]["mod_nss_text"]
    assert texts == {"1.0.8": "Unknown", "1.0.10": "Renegotiation not allowed", "tlsv13": "Renegotiation not allowed"}


def test_several_codes():
    answer = run_json("-12176", "-8179")
    assert [entry["code"] for entry in answer["codes"]] == [-12176, -8179]


# ---------------------------------------------------------------- words


def test_words_list_matches():
    output = text_of("renegotiation")
    assert "SSL_ERROR_RENEGOTIATION_NOT_ALLOWED" in output
    assert "SSL_ERROR_NO_RENEGOTIATION_ALERT" in output


def test_words_exit_zero():
    assert run("renegotiation").exit_code == 0


def test_words_in_json():
    answer = run_json("renegotiation")
    assert answer["kind"] == "search"
    assert -12176 in [entry["code"] for entry in answer["codes"]]


def test_several_words():
    assert -8046 in [entry["code"] for entry in run_json("ocsp", "revoked")["codes"]]


def test_single_match_gives_full_explanation():
    assert "Likely causes" in text_of("NSSRequireSafeNegotiation", "RFC", "extension")


def test_words_without_match_exit_one():
    assert run("xyzzy").exit_code == 1


def test_words_without_match_say_so():
    assert 'No NSS error code matches "xyzzy"' in text_of("xyzzy")


def test_rich_markup_in_query_is_printed_literally():
    assert '"[bold]x[/bold] [/x]"' in text_of("[bold]x[/bold]", "[/x]")


# ---------------------------------------------------------------- unknown codes


def test_unknown_code_exits_one():
    assert run("-12000").exit_code == 1


def test_unknown_code_names_its_family_range():
    output = text_of("-12000", "--no-library")
    assert "not in nsslog's table" in output
    assert "SSL (the TLS protocol) range" in output


def test_unknown_code_in_json():
    entry = run_json("-12000")["codes"][0]
    assert entry["known"] is False
    assert entry["family"] == "SSL"


def test_code_outside_every_range():
    assert "outside the NSS ranges" in text_of("-5")


def test_code_outside_every_range_in_json():
    assert run_json("-5")["codes"][0]["family"] is None


def test_zero_means_no_error():
    assert "no NSS error was set" in text_of("0")


# ---------------------------------------------------------------- usage errors


def test_unknown_option_is_usage_error():
    assert run("--bogus").exit_code == 2


def test_unknown_short_option_is_usage_error():
    assert run("-x").exit_code == 2


def test_unknown_option_message_on_stderr():
    assert "--bogus" in run("--bogus").stderr


def test_missing_query_is_usage_error():
    assert run().exit_code == 2


def test_bad_format_is_usage_error():
    assert run("--format", "xml", "-12176").exit_code == 2


# ---------------------------------------------------------------- the installed NSS library


@needs_nss
def test_text_shows_library_answer_labelled():
    output = text_of("-12176")
    assert f"The installed NSS library ({nsslib.library_version()}) says" in output


@needs_nss
def test_json_shows_library_answer():
    answer = run_json("-12176")
    assert answer["nss_library"]["available"] is True
    assert answer["codes"][0]["library"]["name"] == "SSL_ERROR_RENEGOTIATION_NOT_ALLOWED"


@needs_nss
def test_library_does_not_know_pkix_codes():
    assert run_json("-16370")["codes"][0]["library"] == {"name": None, "text": None}


def test_no_library_option_leaves_library_out():
    assert "installed NSS library" not in text_of("-12176", "--no-library")


def test_no_library_option_in_json():
    assert run_json("-12176", "--no-library")["nss_library"] is None


def test_without_nss_still_explains(without_nss):
    assert run("-12176").exit_code == 0


def test_without_nss_shows_no_library_section(without_nss):
    assert "installed NSS library" not in text_of("-12176")


def test_without_nss_json_says_why(without_nss):
    assert run_json("-12176")["nss_library"] == {"available": False, "reason": "cannot load libnss3.so: not installed"}


# ---------------------------------------------------------------- start-up cost


def test_import_stays_light():
    # `nsslog explain` must start fast: importing the command and the table may not pull
    # in rich or read any data.
    probe = (
        "import sys, nsslog.explain, nsslog.codes, nsslog.nsslib; "
        "print(sorted(m for m in ('rich', 'tomllib', 'json') if m in sys.modules)); "
        "print(nsslog.codes._table.cache_info().currsize)"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPOSITORY, capture_output=True, text=True, check=True)
    heavy_modules, tables_loaded = result.stdout.split("\n")[:2]
    assert heavy_modules == "[]"
    assert tables_loaded == "0"
