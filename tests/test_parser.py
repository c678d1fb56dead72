"""Parser tests: every layout with real-shaped lines, codes, and line classification."""

from datetime import datetime

import pytest

from nsslog.engine import Analysis
from nsslog.parser import extract_codes, parse_line, parse_time

# Real lines: httpd 2.2 with mod_nss 1.0.8 (published 2012) and httpd 2.4.71 with
# mod_nss 1.0.14 (lab run).
SEED_22 = "[Fri Mar 30 11:43:54 2012] [debug] nss_engine_kernel.c(418): Re-negotation request failed: returned error -12176"
LAB_24 = "[Fri Dec 04 19:32:40.018155 2026] [:debug] [pid 19343:tid 19343] nss_engine_kernel.c(529): Re-negotation request failed: returned error -12176"
LAB_24_ERROR = "[Fri Dec 04 19:33:11.462185 2026] [:error] [pid 19691:tid 19691] SSL Library Error: -8179 Certificate is signed by an unknown issuer"


def test_httpd22_debug_line():
    record = parse_line(SEED_22, "error_log", 4)

    assert record.layout == "httpd-2.2"
    assert record.time == "Fri Mar 30 11:43:54 2012"
    assert record.level == "debug"
    assert record.module is None
    assert record.pid is None
    assert record.source == "nss_engine_kernel.c"
    assert record.source_line == 418
    assert record.message == "Re-negotation request failed: returned error -12176"
    assert record.codes == (-12176,)
    assert record.file == "error_log"
    assert record.line == 4


def test_httpd24_empty_module_tag():
    record = parse_line(LAB_24)

    assert record.layout == "httpd-2.4"
    assert record.module == ""
    assert record.level == "debug"
    assert record.pid == 19343
    assert record.tid == 19343
    assert record.source_line == 529
    assert record.codes == (-12176,)


def test_httpd24_microseconds_kept():
    record = parse_line(LAB_24)

    assert record.timestamp == datetime(2026, 12, 4, 19, 32, 40, 18155)


def test_httpd24_named_module_and_prefork_pid():
    record = parse_line(
        "[Fri Oct 18 13:22:06.000001 2024] [ssl:error] [pid 5001] [client 192.0.2.20:44310] "
        "AH10158: cannot perform post-handshake authentication"
    )

    assert record.module == "ssl"
    assert record.pid == 5001
    assert record.tid is None
    assert record.peer == "192.0.2.20:44310"
    assert record.peer_kind == "client"
    assert record.ah == "AH10158"
    assert record.message == "cannot perform post-handshake authentication"


def test_httpd24_threaded_status_before_client():
    record = parse_line(
        "[Fri Oct 18 13:21:30.000150 2024] [ssl:debug] [pid 4321:tid 140234567890688] "
        "ssl_engine_io.c(1476): (70014)End of file found: [client 192.0.2.11:40022] "
        "AH02007: SSL handshake interrupted by system [Hint: Stop button pressed in browser?!]"
    )

    assert record.tid == 140234567890688
    assert record.status == "70014"
    assert record.status_text == "End of file found"
    assert record.peer == "192.0.2.11:40022"
    assert record.ah == "AH02007"
    assert record.message.startswith("SSL handshake interrupted")


def test_httpd22_client_before_status():
    record = parse_line(
        "[Fri Oct 18 13:21:30 2024] [info] [client 192.0.2.11] (104)Connection reset by peer: "
        "SSL input filter read failed."
    )

    assert record.peer == "192.0.2.11"
    assert record.status == "104"
    assert record.status_text == "Connection reset by peer"
    assert record.message == "SSL input filter read failed."


def test_unbracketed_ipv6_client_and_referer():
    record = parse_line(
        "[Fri Oct 18 13:22:05.501234 2024] [ssl:error] [pid 4322:tid 140234567891200] "
        "[client 2001:db8::10:51990] AH02261: Re-negotiation handshake failed, "
        "referer: https://www.example.test/portal/"
    )

    assert record.peer == "2001:db8::10:51990"
    assert record.message == "Re-negotiation handshake failed"
    assert record.referer == "https://www.example.test/portal/"


def test_remote_backend_address():
    record = parse_line(
        "[Fri Oct 18 13:24:00.000001 2024] [ssl:info] [pid 4321:tid 140234567890688] "
        "[remote 198.51.100.7:8443] AH02003: SSL Proxy connect failed"
    )

    assert record.peer_kind == "remote"
    assert record.peer == "198.51.100.7:8443"


@pytest.mark.parametrize("level", ["trace1", "trace3", "trace8", "emerg", "alert", "crit", "notice"])
def test_every_level_word(level):
    record = parse_line(f"[Fri Oct 18 13:21:27.100000 2024] [ssl:{level}] [pid 1] OpenSSL: Handshake: start")

    assert record.level == level


def test_syslog_file_layout():
    record = parse_line(
        "Oct 18 13:21:27 www httpd[4321]: [ssl:error] [pid 4321:tid 140234567890688] "
        "[client 192.0.2.10:51234] AH02039: Certificate Verification: Error (10): certificate has expired"
    )

    assert record.layout == "syslog"
    assert record.time == "Oct 18 13:21:27"
    assert record.level == "error"
    assert record.module == "ssl"
    assert record.ah == "AH02039"


def test_journal_short_iso_layout():
    record = parse_line(
        "2024-10-18T13:21:27+0000 www httpd[4321]: [:error] [pid 4321] "
        "SSL Library Error: -8181 Certificate has expired"
    )

    assert record.layout == "journal-iso"
    assert record.module == ""
    assert record.codes == (-8181,)
    assert record.timestamp == datetime(2024, 10, 18, 13, 21, 27)


def test_journal_short_precise_layout():
    record = parse_line(
        "Oct 18 13:21:27.123456 www apache2[4321]: [:error] [pid 4321] Bad remote server certificate: -8179"
    )

    assert record.layout == "syslog"
    assert record.codes == (-8179,)
    assert record.timestamp.microsecond == 123456


def test_journal_startup_payload():
    record = parse_line(
        "Oct 18 13:20:01 www httpd[4300]: AH00558: httpd: Could not reliably determine the server's "
        "fully qualified domain name"
    )

    assert record.ah == "AH00558"
    assert record.pid == 4300
    assert record.level is None


def test_bare_startup_lines():
    failed = parse_line("AH00016: Configuration Failed")
    bind = parse_line("(98)Address already in use: AH00072: make_sock: could not bind to address [::]:443")

    assert failed.layout == "startup"
    assert failed.ah == "AH00016"
    assert bind.status == "98"
    assert bind.ah == "AH00072"


def test_iso_time_errorlogformat():
    record = parse_line(
        "[2024-10-18 13:22:06.000004] [ssl:error] [R:ZxrA1b2/CQA] AH10158: cannot perform post-handshake authentication"
    )

    assert record.ah == "AH10158"
    assert record.timestamp == datetime(2024, 10, 18, 13, 22, 6, 4)


def test_empty_ah_tag_of_httpd_2437():
    record = parse_line(
        "[Fri Oct 18 13:22:06.000000 2024] [ssl:error] [pid 5001:tid 140111111111111] "
        "[client 192.0.2.20:44310] AH: verify client post handshake"
    )

    assert record.ah == "AH"
    assert record.message == "verify client post handshake"


@pytest.mark.parametrize("text", ["", "   at foo.bar()", "Traceback (most recent call last):", "\x00\x01garbage"])
def test_no_layout_returns_none(text):
    assert parse_line(text) is None


@pytest.mark.parametrize(
    ("message", "codes"),
    [
        ("SSL Library Error: -8179 Certificate is signed by an unknown issuer", (-8179,)),
        ("Bad remote server certificate: -8179", (-8179,)),
        ("Read error -12285", (-12285,)),
        ("NSS error -8179 while checking", (-8179,)),
        ("SSL library error -5938 writing data", (-5938,)),
        ("code 0xFFFFD050 from tool", (-12208,)),
        ("returned error -12176 then -12176 again", (-12176,)),
        ("SSL Library Error: 0 Unknown", ()),
        ("port 8443 and offset -1200", ()),
        ("time zone -0700", ()),
        ("SSL Library Error: 336151568 error:14094418:SSL routines", ()),
    ],
)
def test_extract_codes(message, codes):
    assert extract_codes(message) == codes


def test_parse_time_rejects_invalid_date():
    assert parse_time("Fri Feb 31 10:00:00 2024") is None


def test_accounting_continuation_and_unparsed():
    analysis = Analysis([])
    lines = [
        "garbage before any record",
        SEED_22,
        "AH00526: Syntax error on line 12 of /etc/httpd/conf.d/nss.conf:",
        "Invalid command 'NSSBogus', perhaps misspelled",
        "  second line of a foreign message",
        LAB_24_ERROR,
    ]
    for number, text in enumerate(lines, 1):
        analysis.feed("error_log", number, text)
    summary = analysis.report().summary

    assert summary.lines == 6
    assert summary.parsed == 3
    assert summary.continuation == 2
    assert summary.unparsed == 1


def test_continuation_does_not_cross_files():
    analysis = Analysis([])
    analysis.feed("a.log", 1, SEED_22)
    analysis.feed("b.log", 1, "a foreign line at the top of b.log")
    summary = analysis.report().summary

    assert summary.unparsed == 1
    assert summary.continuation == 0


def test_syslog_time_gets_recent_year():
    now = datetime.now()
    when = parse_time("Jan 01 00:00:00")

    assert when.year in (now.year, now.year - 1)
    assert when <= now


def test_summary_labels_first_and_last_record():
    from click.testing import CliRunner

    from nsslog.cli import main

    lines = (
        "[Fri Dec 04 19:33:16.000001 2026] [:error] [pid 1] later first\n"
        "[Fri Dec 04 19:32:51.000001 2026] [:error] [pid 1] earlier last\n"
    )
    result = CliRunner().invoke(main, ["--color", "never"], input=lines)

    assert "First and last record: 2026-12-04 19:33:16.000001 to 2026-12-04 19:32:51.000001" in result.stdout


def test_journal_cat_layout_has_no_time():
    record = parse_line("[:error] [pid 4321:tid 4321] SSL Library Error: -8179 Certificate is signed by an unknown issuer")

    assert record.layout == "payload"
    assert record.time is None
    assert record.level == "error"
    assert record.pid == 4321
    assert record.codes == (-8179,)


def test_journal_monotonic_layout_has_no_time():
    record = parse_line("[ 4711.123456] www httpd[4321]: [ssl:error] [pid 4321] AH02039: Certificate Verification: Error (10)")

    assert record.layout == "journal-monotonic"
    assert record.time is None
    assert record.module == "ssl"
    assert record.ah == "AH02039"


def test_journal_short_full_layout():
    record = parse_line("Fri 2024-10-18 13:21:27.500000 CEST www httpd[4321]: [:error] [pid 4321] Bad remote server certificate: -8179")

    assert record.layout == "journal-full"
    assert record.timestamp == datetime(2024, 10, 18, 13, 21, 27, 500000)
    assert record.codes == (-8179,)


def test_journal_short_unix_layout():
    record = parse_line("1729257687.250000 www httpd[4321]: [:error] [pid 4321] Bad remote server certificate: -8179")

    assert record.layout == "journal-unix"
    assert record.timestamp == datetime.fromtimestamp(1729257687).replace(microsecond=250000)
    assert record.pid == 4321


def test_rfc5424_layout():
    record = parse_line(
        '<11>1 2024-10-18T13:21:27.123456+02:00 www httpd 4321 - [origin ip="192.0.2.1"] '
        "[ssl:error] [pid 4321:tid 7] [client 192.0.2.10:51234] AH02039: Certificate Verification: Error (10)"
    )

    assert record.layout == "rfc5424"
    assert record.timestamp == datetime(2024, 10, 18, 13, 21, 27, 123456)
    assert record.tid == 7
    assert record.peer == "192.0.2.10:51234"


def test_bracketed_text_without_level_is_no_record():
    assert parse_line("[client 192.0.2.10] some program output") is None
    assert parse_line("[ 12.5] not a journal line") is None
