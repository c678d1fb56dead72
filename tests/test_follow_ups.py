"""With the built-in rules, a renegotiation failure that a certificate problem caused joins its finding."""

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
    # Without the certificate line before it, the renegotiation line is a finding of its own.
    "renegotiation line alone": ([
        "[Mon Jul 27 10:15:02 2009] [error] Re-negotiation handshake failed: Not accepted by client!?",
    ], [("nss-renegotiation-not-accepted", 1)]),
}


@pytest.mark.parametrize("case", CASES)
def test_renegotiation_failure_joins_cause(case):
    lines, expected = CASES[case]
    analysis = Analysis(RULES)
    for number, line in enumerate(lines, 1):
        analysis.feed("error_log", number, line)
    findings = [finding for finding in analysis.report().findings if finding.severity != "info"]

    assert [(finding.rule, finding.count) for finding in findings] == expected
    assert sum(len(finding.evidence) for finding in findings) == len(lines)
