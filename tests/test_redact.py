"""Tests of redacting addresses, host names, e-mail addresses, DNs and serials in a report."""

from __future__ import annotations

import json

import pytest

from nsslog.redact import Redactor, redact_report
from nsslog.report import Evidence, Finding, Report, Summary, report_to_json
from nsslog.rules import Fix

# Real-shaped lines: mod_ssl's certificate details (httpd 2.4, AH02276), the httpd 2.2
# slash-form DNs, a syslog line with an unbracketed IPv6 peer and mod_nss's name check.
AH02276 = (
    "[Fri Oct 18 13:21:27.123456 2024] [ssl:info] [pid 4321:tid 140234567890688] "
    "[client 192.0.2.10:51234] AH02276: Certificate Verification: Error (10): certificate has "
    "expired [subject: CN=Jos\\\\C3\\\\A9 Example,O=Example Test / issuer: CN=Example Test CA,"
    "O=Example Test / serial: 1A2B / notbefore: Jan  1 00:00:00 2023 GMT / notafter: Jan  1 "
    "00:00:00 2024 GMT]"
)
SLASH_FORM = (
    "[Fri Oct 18 13:21:31 2024] [debug] ssl_engine_kernel.c(1879): [client 192.0.2.10] "
    "Certificate Verification: depth: 0, subject: /C=US/O=Example/CN=alice/"
    "emailAddress=alice@example.com, issuer: /CN=Example Test CA"
)
SYSLOG_IPV6 = (
    "Oct 18 13:21:27 www httpd[4321]: [ssl:error] [pid 4321:tid 140234567890688] "
    "[client 2001:db8::1:51234] AH02039: Certificate Verification: Error (20): unable to get "
    "local issuer certificate"
)
NAME_MISMATCH = (
    "[Fri Oct 18 13:21:27 2024] [:error] [pid 1] Misconfiguration of certificate's CN and "
    "virtual name. The certificate CN has www.example.com. We expected shop.example.org as "
    "virtual name."
)


def test_ipv4_peer_keeps_port():
    assert "[client <ip-1>:51234]" in Redactor().text(AH02276)


def test_ipv4_address_removed():
    assert "192.0.2.10" not in Redactor().text(AH02276)


def test_ipv6_peer_without_brackets():
    text = Redactor().text(SYSLOG_IPV6)

    assert "[client <ip-1>:51234]" in text
    assert "2001" not in text


def test_ipv6_spellings_share_placeholder():
    redactor = Redactor()

    assert redactor.text("from 2001:DB8:0::1") == redactor.text("from 2001:db8::1")


def test_ipv4_mapped_ipv6_is_ipv4_client():
    redactor = Redactor()

    assert redactor.text("[client ::ffff:192.0.2.10:443]") == "[client <ip-1>:443]"
    assert redactor.text("[client 192.0.2.10:80]") == "[client <ip-1>:80]"


def test_httpd22_ipv6_peer_without_port():
    assert Redactor().text("[client 2001:db8::1] x") == "[client <ip-1>] x"


def test_syslog_host_field():
    assert Redactor().text(SYSLOG_IPV6).startswith("Oct 18 13:21:27 <host-1> httpd[4321]: ")


def test_journal_iso_host_field():
    line = "2024-10-18T13:21:27+0200 web01.example.net httpd[4321]: AH00016: Configuration Failed"

    assert Redactor().text(line) == "2024-10-18T13:21:27+0200 <host-1> httpd[4321]: AH00016: Configuration Failed"


def test_host_names_in_message():
    text = Redactor().text(NAME_MISMATCH)

    assert "The certificate CN has <host-1>. We expected <host-2> as virtual name." in text


def test_host_name_in_referer_url():
    assert Redactor().text("x, referer: https://www.example.com/a") == "x, referer: https://<host-1>/a"


def test_host_field_with_name_lookups():
    assert Redactor().text("[client alice-pc.example.com:5555] x") == "[client <host-1>:5555] x"


@pytest.mark.parametrize(
    "text",
    [
        "nss_engine_init.c(1241): x",
        "Add NSSEnforceValidCerts off to nss.conf",
        "/etc/httpd/conf.d/ssl.conf",
        "mod_nss.so and libnss3.so",
        "cert9.db key4.db pkcs11.txt",
        "NSS 3.87.1 httpd 2.4.71",
        "at 13:21:27.123456",
        "could not serialize OCSP request",
        "serial number be checked",
    ],
    ids=["source-file", "conf-file", "conf-path", "shared-object", "nss-db", "versions", "time", "serialize", "no-digit"],
)
def test_near_misses_unchanged(text):
    assert Redactor().text(text) == text


def test_comma_dn_subject_and_issuer():
    text = Redactor().text(AH02276)

    assert "[subject: <dn-1> / issuer: <dn-2> / serial: <serial-1> / notbefore:" in text


def test_slash_dn_subject_and_issuer():
    text = Redactor().text(SLASH_FORM)

    assert text.endswith("depth: 0, subject: <dn-1>, issuer: <dn-2>")


def test_dn_hides_email_inside():
    assert "alice@example.com" not in Redactor().text(SLASH_FORM)


def test_nss_dn_with_spaces():
    line = 'Certificate subject "CN=alice, O=Example Corp, E=alice@example.com" rejected'

    assert Redactor().text(line) == 'Certificate subject "<dn-1>" rejected'


def test_email_address():
    assert Redactor().text("mail to bob@Example.COM now") == "mail to <email-1> now"


def test_email_case_shares_placeholder():
    redactor = Redactor()
    redactor.text("bob@example.com")

    assert redactor.text("BOB@EXAMPLE.COM") == "<email-1>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("serial: 1A2B / notbefore", "serial: <serial-1> / notbefore"),
        ("for serial number 01:A2:0B", "for serial number <serial-1>"),
        ("Serial Number: 4096", "Serial Number: <serial-1>"),
    ],
    ids=["mod-ssl-details", "colon-hex", "decimal"],
)
def test_serial_numbers(text, expected):
    assert Redactor().text(text) == expected


def test_same_value_same_placeholder():
    redactor = Redactor()
    first = redactor.text(AH02276)
    second = redactor.text(AH02276)

    assert first == second


def test_different_values_numbered_in_order():
    redactor = Redactor()

    assert redactor.text("192.0.2.1 192.0.2.2 192.0.2.1") == "<ip-1> <ip-2> <ip-1>"


def test_placeholders_not_redacted_again():
    redactor = Redactor()
    once = redactor.text(AH02276)

    assert redactor.text(once) == once


def _report() -> Report:
    evidence = (
        Evidence("/var/log/httpd/www.example.com-error_log", 7, AH02276),
        Evidence("/var/log/httpd/www.example.com-error_log", 9, SYSLOG_IPV6),
    )
    finding = Finding(
        rule="ssl-client-cert-expired", title="Client certificate expired", severity="error",
        count=2, first_seen=None, last_seen=None, codes=(), cause="The certificate expired.",
        fix=Fix(text="Renew it."), references=(), known_problems="", evidence=evidence,
    )
    summary = Summary(
        files=("/var/log/httpd/www.example.com-error_log",), lines=10, parsed=10,
        continuation=0, unparsed=0, first_time=None, last_time=None,
        errors=("/var/log/httpd/www.example.com-error_log.1: permission denied",),
    )
    return Report(summary=summary, findings=(finding,))


def test_report_evidence_redacted():
    evidence = redact_report(_report()).findings[0].evidence

    assert evidence[0].text.count("<ip-1>") == 1
    assert "[client <ip-2>:51234]" in evidence[1].text


def test_report_file_names_redacted():
    report = redact_report(_report())

    assert report.summary.files == ("/var/log/httpd/<host-1>-error_log",)
    assert report.findings[0].evidence[0].file == "/var/log/httpd/<host-1>-error_log"


def test_report_errors_redacted():
    errors = redact_report(_report()).summary.errors

    assert errors == ("/var/log/httpd/<host-1>-error_log.1: permission denied",)


def test_report_keeps_rule_texts():
    finding = redact_report(_report()).findings[0]

    assert finding.title == "Client certificate expired"
    assert finding.count == 2


def test_report_input_unchanged():
    report = _report()
    redact_report(report)

    assert "192.0.2.10" in report.findings[0].evidence[0].text


def test_report_json_has_no_address():
    text = report_to_json(redact_report(_report()))

    assert "192.0.2.10" not in text
    assert "example" not in text.lower()
    assert json.loads(text)["findings"][0]["evidence"][0]["line"] == 7


def test_undecodable_bytes_survive():
    text = Redactor().text("[client 192.0.2.1:5] bad \udcff byte")

    assert text == "[client <ip-1>:5] bad \udcff byte"
