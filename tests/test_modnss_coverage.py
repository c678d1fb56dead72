"""Every mod_nss message at warn level or above is diagnosed by a rule.

tests/data/modnss_messages.tsv lists each such message of mod_nss 1.0.8 to 1.0.14, the RHEL 6
and RHEL 7 builds and the tlsv13 branch, with the versions that write it, its level, its
format string and one error_log line per httpd layout. Each line, fed alone, must give a
finding of a rule file (not the generic per-code finding) whose cause and fix are written,
or of an info rule that classifies the message as harmless.

The second half runs the failure stories whose lines belong together and checks that each
gives one finding with the right rule and codes.
"""

import csv
from pathlib import Path

import pytest
import regex

from nsslog.engine import GENERIC_RULE, Analysis
from nsslog.parser import LEVEL_RANK, parse_line
from nsslog.rules import load_rules

MESSAGES = Path(__file__).parent / "data" / "modnss_messages.tsv"
RULES = load_rules()
RULES_BY_ID = {rule.id: rule for rule in RULES}

# printf conversions mod_nss uses, as they appear in an error_log line.
_CONVERSIONS = {
    "%s": "(.*)",
    "%d": "(-?[0-9]+)",
    "%ld": "(-?[0-9]+)",
    "%04x": "([0-9a-f]{4})",
    "%<APR_SIZE_T_FMT>": "([0-9]+)",
    "%<APR_OFF_T_FMT>": "([0-9]+)",
}
_CONVERSION = regex.compile("|".join(regex.escape(key) for key in _CONVERSIONS))


def read_messages() -> list[dict]:
    with MESSAGES.open(encoding="utf-8") as table:
        lines = [line for line in table if not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))


def format_pattern(fmt: str):
    """Compile a mod_nss format string into a regex for the message it produces."""
    parts = []
    position = 0
    for match in _CONVERSION.finditer(fmt):
        parts.append(regex.escape(fmt[position:match.start()]))
        parts.append(_CONVERSIONS[match.group(0)])
        position = match.end()
    parts.append(regex.escape(fmt[position:]))
    return regex.compile("".join(parts))


def findings_for(lines: list[str]) -> dict:
    analysis = Analysis(RULES)
    for number, line in enumerate(lines, 1):
        analysis.feed("error_log", number, line)
    return {finding.rule: finding for finding in analysis.report().findings}


MESSAGE_ROWS = read_messages()


def _row_id(index: int, row: dict) -> str:
    return f"{row['id']}-{row['layout']}-{index}"


ROW_PARAMS = [pytest.param(row, id=_row_id(index, row)) for index, row in enumerate(MESSAGE_ROWS)]


@pytest.mark.parametrize("row", ROW_PARAMS)
def test_message_line_fits_format(row):
    record = parse_line(row["line"])

    assert record is not None
    assert format_pattern(row["format"]).fullmatch(record.message)


@pytest.mark.parametrize("row", ROW_PARAMS)
def test_message_line_level(row):
    record = parse_line(row["line"])

    assert record.level == row["level"]
    assert LEVEL_RANK[record.level] <= LEVEL_RANK["warn"]


@pytest.mark.parametrize("row", ROW_PARAMS)
def test_message_line_module_empty(row):
    record = parse_line(row["line"])

    assert (record.module or "") == ""


@pytest.mark.parametrize("row", ROW_PARAMS)
def test_message_matched_by_rule(row):
    findings = findings_for([row["line"]])

    assert len(findings) == 1, sorted(findings)
    assert GENERIC_RULE not in findings


@pytest.mark.parametrize("row", ROW_PARAMS)
def test_message_rule_explains(row):
    (rule_id,) = findings_for([row["line"]])
    rule = RULES_BY_ID[rule_id]

    assert rule.cause
    assert rule.fix.text
    assert rule.id.startswith("nss-")


def test_messages_cover_both_layouts():
    layouts = {row["layout"] for row in MESSAGE_ROWS}

    assert layouts == {"2.2", "2.4"}


def test_messages_list_is_complete():
    # mod_nss 1.0.8 to 1.0.14, the RHEL builds and the tlsv13 branch have 104 distinct
    # warn-or-above formats plus the "SSL Library Error" code line. The never-compiled
    # nss_engine_pcache.c is left out.
    assert len({row["id"] for row in MESSAGE_ROWS}) == 105


# Lines that belong to one event, as mod_nss writes them, and the single finding each must
# give: (name, lines, rule, codes).
STORIES = [
    (
        "per-directory client certificate, renegotiation off, httpd 2.2",
        [
            "[Fri Mar 30 11:43:54 2012] [debug] nss_engine_kernel.c(309): Changed client verification type will force renegotiation",
            "[Fri Mar 30 11:43:54 2012] [info] Requesting connection re-negotiation",
            "[Fri Mar 30 11:43:54 2012] [debug] nss_engine_kernel.c(404): Performing full renegotiation: complete handshake protocol",
            "[Fri Mar 30 11:43:54 2012] [debug] nss_engine_kernel.c(418): Re-negotation request failed: returned error -12176",
        ],
        "nss-renegotiation-refused",
        {-12176},
    ),
    (
        "per-directory cipher suite, renegotiation off, httpd 2.4",
        [
            "[Tue Jul 12 10:00:00.123001 2016] [:debug] [pid 2345:tid 2345] nss_engine_kernel.c(341): Reconfigured cipher suite will force renegotiation",
            "[Tue Jul 12 10:00:00.123789 2016] [:debug] [pid 2345:tid 2345] nss_engine_kernel.c(529): Re-negotation request failed: returned error -12176",
        ],
        "nss-renegotiation-refused",
        {-12176},
    ),
    (
        "renegotiation not accepted by a client without a certificate",
        [
            "[Tue Jul 12 10:00:00.120001 2016] [:info] [pid 2345] Requesting connection re-negotiation",
            "[Tue Jul 12 10:00:00.123001 2016] [:info] [pid 2345] Read error -12285",
            "[Tue Jul 12 10:00:00.123101 2016] [:error] [pid 2345] Re-negotiation handshake failed: Not accepted by client!?",
        ],
        "nss-renegotiation-not-accepted",
        {-12285},
    ),
    (
        "database not opened, code masked, httpd 2.2",
        [
            "[Tue May 13 16:13:10 2014] [error] NSS_Initialize failed. Certificate database: /etc/dirsrv/admin-serv.",
            "[Tue May 13 16:13:10 2014] [error] SSL Library Error: -8038 SEC_ERROR_NOT_INITIALIZED",
        ],
        "nss-database-open-failed",
        {-8038},
    ),
    (
        "database not opened with the 1.0.14 hint",
        [
            "[Tue Jul 12 10:00:00.123456 2016] [:error] [pid 2345:tid 2345] NSS_Initialize failed. Certificate database: sql:/etc/httpd/alias.",
            "[Tue Jul 12 10:00:00.123500 2016] [:error] [pid 2345:tid 2345] SSL Library Error: -8038 SEC_ERROR_NOT_INITIALIZED",
            "[Tue Jul 12 10:00:00.123510 2016] [:error] [pid 2345:tid 2345] Does the NSS database exist?",
        ],
        "nss-database-open-failed",
        {-8038},
    ),
    (
        "token password wrong, code masked as busy",
        [
            "[Tue Jul 12 10:00:00.123456 2016] [:error] [pid 2345] Password for slot internal is incorrect.",
            "[Tue Jul 12 10:00:00.123470 2016] [:error] [pid 2345] NSS initialization failed. Certificate database: /etc/httpd/alias.",
            "[Tue Jul 12 10:00:00.123500 2016] [:error] [pid 2345] SSL Library Error: -8053 SEC_ERROR_BUSY",
        ],
        "nss-token-password-incorrect",
        {-8053},
    ),
    (
        "expired server certificate with NSSEnforceValidCerts on",
        [
            "[Fri Dec 04 19:33:16.921681 2026] [:error] [pid 19734:tid 19734] SSL Library Error: -8181 Certificate has expired",
            "[Fri Dec 04 19:33:16.921683 2026] [:error] [pid 19734:tid 19734] Unable to verify certificate 'webtls-Expired'. Add \"NSSEnforceValidCerts off\" to nss.conf so the server can start until the problem can be resolved.",
        ],
        "nss-server-cert-invalid-at-start",
        {-8181},
    ),
    (
        "client certificate from an unknown CA, three lines",
        [
            "[Fri Dec 04 19:33:11.462138 2026] [:error] [pid 19691:tid 19691] Bad remote server certificate: -8179",
            "[Fri Dec 04 19:33:11.462185 2026] [:error] [pid 19691:tid 19691] SSL Library Error: -8179 Certificate is signed by an unknown issuer",
            "[Fri Dec 04 19:33:11.462559 2026] [:error] [pid 19691:tid 19691] SSL Library Error: -8179 Certificate is signed by an unknown issuer",
        ],
        "nss-client-cert-untrusted-issuer",
        {-8179},
    ),
    (
        "expired client certificate, httpd 2.2",
        [
            "[Tue Jun 03 10:00:00 2014] [error] Bad remote server certificate: -8181",
            "[Tue Jun 03 10:00:00 2014] [error] SSL Library Error: -8181 Certificate has expired",
        ],
        "nss-client-cert-expired",
        {-8181},
    ),
    (
        "request body too large during renegotiation",
        [
            "[Tue Jul 12 10:00:00.123456 2016] [:error] [pid 2345] [client 192.0.2.7:51234] request body exceeds maximum size (131072) for SSL buffer",
            "[Tue Jul 12 10:00:00.123556 2016] [:error] [pid 2345] [client 192.0.2.7:51234] could not buffer message body to allow SSL renegotiation to proceed",
        ],
        "nss-renegotiation-body-too-large",
        set(),
    ),
]

STORY_PARAMS = [pytest.param(lines, rule, codes, id=name) for name, lines, rule, codes in STORIES]


@pytest.mark.parametrize(("lines", "rule", "codes"), STORY_PARAMS)
def test_story_one_finding(lines, rule, codes):
    findings = findings_for(lines)

    assert list(findings) == [rule]


@pytest.mark.parametrize(("lines", "rule", "codes"), STORY_PARAMS)
def test_story_codes(lines, rule, codes):
    finding = findings_for(lines)[rule]

    assert {code for code, _ in finding.codes} == codes


@pytest.mark.parametrize(("lines", "rule", "codes"), STORY_PARAMS)
def test_story_evidence_has_code_lines(lines, rule, codes):
    finding = findings_for(lines)[rule]
    evidence = {item.text for item in finding.evidence}
    with_codes = {line for line in lines if parse_line(line).codes}

    assert with_codes <= evidence
    assert lines[-1] in evidence


@pytest.mark.parametrize(
    "line",
    [
        "[Tue Jun 03 10:00:00 2014] [error] SSL Library Error: -8179 Certificate is signed by an unknown issuer",
        "[Tue Jul 12 10:00:00.123456 2016] [:error] [pid 2345] SSL Library Error: -12176 Renegotiation not allowed",
        "[Tue Jul 12 10:00:00.123456 2016] [:error] [pid 2345] SSL Library Error: -12285 Unable to find the certificate or key necessary for authentication",
        "[Tue May 13 16:13:10 2014] [error] SSL Library Error: -8038 SEC_ERROR_NOT_INITIALIZED",
    ],
    ids=["unknown-issuer", "renegotiation", "no-client-cert", "not-initialized"],
)
def test_bare_code_line_names_log_level(line):
    (rule_id,) = findings_for([line])
    cause = RULES_BY_ID[rule_id].cause

    assert "LogLevel debug" in cause or "main error_log" in cause


@pytest.mark.parametrize(
    "line",
    [
        "[Tue Jun 03 10:00:00 2014] [error] SSL Library Error: -8179 Certificate is signed by an unknown issuer",
        "[Tue Jul 12 10:00:00.123456 2016] [:error] [pid 2345] SSL Library Error: -12176 Renegotiation not allowed",
        "[Tue Jul 12 10:00:00.123456 2016] [:error] [pid 2345] SSL Library Error: -12285 Unable to find the certificate or key necessary for authentication",
    ],
    ids=["unknown-issuer", "renegotiation", "no-client-cert"],
)
def test_bare_code_line_warns_about_module_level(line):
    (rule_id,) = findings_for([line])

    assert "nss:debug" in RULES_BY_ID[rule_id].cause


def test_masked_code_not_reported_as_cause():
    finding = findings_for(STORIES[3][1])["nss-database-open-failed"]

    assert "not the cause" in finding.cause
