"""With the built-in rules, the lines one failure writes give one finding, with all of them as evidence."""

from __future__ import annotations

import pytest

from nsslog.engine import Analysis
from nsslog.rules import load_rules

RULES = load_rules()

CASES = {
    # mod_nss on httpd 2.2 at LogLevel warn: an OCSP failure during a per-directory
    # NSSVerifyClient renegotiation, twice.
    "mod_nss OCSP failure": ([
        "[Mon Jul 27 10:15:02 2009] [error] Bad remote server certificate: -8071",
        "[Mon Jul 27 10:15:02 2009] [error] SSL Library Error: -8071 The OCSP server experienced an internal error",
        "[Mon Jul 27 10:15:02 2009] [error] Re-negotiation handshake failed: Not accepted by client!?",
        "[Mon Jul 27 10:20:11 2009] [error] Bad remote server certificate: -8071",
        "[Mon Jul 27 10:20:11 2009] [error] SSL Library Error: -8071 The OCSP server experienced an internal error",
        "[Mon Jul 27 10:20:11 2009] [error] Re-negotiation handshake failed: Not accepted by client!?",
    ], [("nss-client-cert-ocsp-failed", 2)]),
    # mod_ssl on httpd 2.2 writes the same renegotiation words as mod_nss.
    "mod_ssl 2.2 unknown CA": ([
        "[Fri Oct 18 13:21:27 2013] [error] [client 192.0.2.10] Certificate Verification: Error (20): unable to get local issuer certificate",
        "[Fri Oct 18 13:21:27 2013] [error] [client 192.0.2.10] Re-negotiation handshake failed: Not accepted by client!?",
    ], [("ssl-client-cert-unknown-ca", 1)]),
    # httpd 2.4's mod_ssl: AH02039 then AH02261 on the same thread.
    "mod_ssl 2.4 unknown CA": ([
        "[Fri Dec 04 20:11:22.672849 2026] [ssl:error] [pid 7609:tid 7615] [client 127.0.0.1:40354] AH02039: Certificate Verification: Error (20): unable to get local issuer certificate",
        "[Fri Dec 04 20:11:22.673001 2026] [ssl:error] [pid 7609:tid 7615] [client 127.0.0.1:40354] AH02261: Re-negotiation handshake failed",
    ], [("ssl-client-cert-unknown-ca", 1)]),
    # mod_nss 1.0.8 with NSSEnforceValidCerts on: its own line, the code, then the fatal line.
    "mod_nss 1.0.8 server certificate": ([
        "[Thu Jul 16 09:00:02 2015] [error] Certificate not verified: 'Server-Cert'",
        "[Thu Jul 16 09:00:02 2015] [error] SSL Library Error: -8181 Certificate has expired",
        "[Thu Jul 16 09:00:02 2015] [error] Unable to verify certificate 'Server-Cert'. Add \"NSSEnforceValidCerts off\" "
        "to nss.conf so the server can start until the problem can be resolved.",
    ], [("nss-server-cert-invalid-at-start", 1)]),
    # OpenSSL 3 refusing a renegotiation under httpd 2.4: AH02261, then the library's reason.
    "mod_ssl refused renegotiation": ([
        "[Fri Oct 18 15:00:00.000001 2024] [ssl:error] [pid 4321:tid 7] [client 192.0.2.70:50500] AH02261: Re-negotiation handshake failed",
        "[Fri Oct 18 15:00:00.000050 2024] [ssl:error] [pid 4321:tid 7] SSL Library Error: error:0A000153:SSL routines::no renegotiation",
    ], [("ssl-renegotiation-refused", 1)]),
    # httpd 2.2 writes no pid: the [client ...] field keeps interleaved clients apart.
    "mod_ssl 2.2 interleaved clients": ([
        "[Thu Feb 12 14:25:30 2015] [error] [client 192.0.2.61] Certificate Verification: Error (20): unable to get local issuer certificate",
        "[Thu Feb 12 14:25:30 2015] [error] [client 192.0.2.62] Certificate Verification: Error (20): unable to get local issuer certificate",
        "[Thu Feb 12 14:25:30 2015] [error] [client 192.0.2.61] Re-negotiation handshake failed: Not accepted by client!?",
        "[Thu Feb 12 14:25:30 2015] [error] [client 192.0.2.63] Re-negotiation handshake failed: Not accepted by client!?",
        "[Thu Feb 12 14:25:30 2015] [error] [client 192.0.2.62] Re-negotiation handshake failed: Not accepted by client!?",
    ], [("ssl-client-cert-unknown-ca", 2), ("ssl-renegotiation-failed", 1)]),
    # A proxied back-end's certificate: the info-level library line between the rejection
    # and the 502 does not keep the 502 lines out of the finding.
    "mod_ssl proxy back-end": ([
        "[Fri Oct 16 08:20:04.124511 2026] [ssl:info] [pid 5123:tid 7] [remote 10.20.0.12:8443] AH02276: Certificate Verification: Error (20): unable to get local issuer certificate",
        "[Fri Oct 16 08:20:04.124602 2026] [ssl:info] [pid 5123:tid 7] [remote 10.20.0.12:8443] AH02003: SSL Proxy connect failed",
        "[Fri Oct 16 08:20:04.124633 2026] [ssl:info] [pid 5123:tid 7] SSL Library Error: error:0A000086:SSL routines::certificate verify failed",
        "[Fri Oct 16 08:20:04.124701 2026] [ssl:info] [pid 5123:tid 7] [remote 10.20.0.12:8443] AH01997: SSL handshake failed: sending 502",
        "[Fri Oct 16 08:20:04.124771 2026] [proxy:error] [pid 5123:tid 7] [client 203.0.113.9:55120] AH00898: Error during SSL Handshake with remote server returned by /app2/",
    ], [("ssl-proxy-backend-cert-rejected", 1)]),
    # Without the certificate line before it, the renegotiation line is a finding of its own.
    "renegotiation line alone": ([
        "[Mon Jul 27 10:15:02 2009] [error] Re-negotiation handshake failed: Not accepted by client!?",
    ], [("nss-renegotiation-not-accepted", 1)]),
}


@pytest.mark.parametrize("case", CASES)
def test_one_failure_gives_one_finding(case):
    lines, expected = CASES[case]
    analysis = Analysis(RULES)
    for number, line in enumerate(lines, 1):
        analysis.feed("error_log", number, line)
    report = analysis.report()
    findings = [finding for finding in report.findings if finding.severity != "info"]
    info_lines = sum(len(finding.evidence) for finding in report.findings if finding.severity == "info")

    assert [(finding.rule, finding.count) for finding in findings] == expected
    assert sum(len(finding.evidence) for finding in findings) + info_lines == len(lines)
