"""Replace client addresses, host names and certificate details in a report with placeholders.

A redacted report can be pasted into a ticket. Evidence lines, file names and the summary's
error and warning messages lose their IPv4 and IPv6 addresses (``<ip-1>``), host names
(``<host-1>``), e-mail addresses (``<email-1>``), certificate subjects and issuers
(``<dn-1>``) and certificate serial numbers (``<serial-1>``). Within one report the same
value always gets the same placeholder, so lines about the same client still visibly belong
together. Ports are kept: they identify a connection, not a person or a host.

Values are replaced in this order: distinguished names (they contain host names and e-mail
addresses), e-mail addresses, serial numbers, the client field and syslog host field of a
line, other IP addresses, and last the remaining dotted host names.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import replace

from nsslog.report import Evidence, Finding, Report, Summary

# Attribute types of X.500 names as OpenSSL (X509_NAME_oneline, RFC 2253) and NSS
# (CERT_NameToAscii) print them, plus dotted OIDs for types they have no name for.
_DN_ATTRIBUTE = (
    r"(?:CN|OU|O|C|ST|SP|L|E|EMAIL|emailAddress|DC|UID|SN|GN|serialNumber|street|title|"
    r"postalCode|initials|pseudonym|dnQualifier|businessCategory|organizationIdentifier|"
    r"jurisdiction(?:C|ST|L)|OID\.\d+(?:\.\d+)+|\d+(?:\.\d+)+)"
)

# A value in the comma form ends at an unescaped comma, plus or semicolon, and also at "/",
# because mod_ssl separates the subject from the issuer with " / ".
_COMMA_VALUE = r"(?:\\.|[^,+;/\\\[\]\n\r'\"<>])+"
_COMMA_DN = re.compile(
    rf"(?<![\w.=-]){_DN_ATTRIBUTE}={_COMMA_VALUE}(?:\s*[,+;]\s*{_DN_ATTRIBUTE}={_COMMA_VALUE})*",
    re.IGNORECASE,
)

# In the slash form (/C=US/O=Example/CN=alice) a value ends at the next "/" or at ", ",
# which httpd 2.2 writes between the subject and the issuer.
# NOTE: a value that itself contains ", " (O=Example, Inc.) keeps the text after the comma.
_SLASH_DN = re.compile(
    rf"(?<![\w.-])(?:/{_DN_ATTRIBUTE}=[^/,\[\]\n\r'\"<>]*)+",
    re.IGNORECASE,
)

_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?![\w-])")

# "serial: 1A2B" (mod_ssl certificate details), "serial number 0123" (OCSP stapling), with
# hex digits that may be colon-separated. The value must contain a decimal digit, so words
# such as "serial number be" stay.
_SERIAL = re.compile(
    r"\b(?P<label>serial(?:[ _-]?number)?(?:\s*[:=]\s*|\s+))"
    r"(?P<value>(?=[0-9a-f:]*\d)(?:[0-9a-f]{1,2}(?::[0-9a-f]{1,2})+|[0-9a-f]+))\b",
    re.IGNORECASE,
)

# httpd writes the peer as "[client ADDRESS]" or "[remote ADDRESS]". httpd 2.4 appends the
# port to it, without brackets even for IPv6 ("2001:db8::1:51234").
_PEER_FIELD = re.compile(r"\[(?P<kind>client|remote) (?P<peer>[^\]\s]+)\]")

# The host field of a line written through syslog or read from journalctl.
_SYSLOG_HOST = re.compile(
    r"^(?P<prefix>(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\dT\S+) )"
    r"(?P<host>[^\s<]+)(?= [^\s\[:]+(?:\[\d+\])?: )"
)

# Anything that may be an IPv6 address: hex digits, colons and dots with at least two
# colons. The ipaddress module decides, and it rejects times such as 13:21:27.
_IPV6_CANDIDATE = re.compile(r"(?<![\w:.])(?=[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:)[0-9A-Fa-f:.]+(?![\w:])")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")

# A dotted name whose last label is alphabetic. The last label must not be a file
# extension that httpd and mod_nss messages carry (nss.conf, cert9.db, mod_nss.so). A name
# may be followed by a hyphen, as in the log file name www.example.com-error_log.
_HOST = re.compile(
    r"(?<![\w.@-])(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?P<tld>[A-Za-z]{2,63})(?!\w|\.\w)"
)
_NOT_HOST_SUFFIXES = frozenset(
    "c h cc cpp py pl php js css html htm shtml xml json txt log conf cfg ini so dll db pem "
    "crt cer csr key der p12 pfx p7b p7c crl gz bz2 xz zip tar tgz pid sock lock tmp bak orig "
    "old new rpm deb jar war sh service socket timer toml yaml yml md rst".split()
)


class Redactor:
    """Placeholders for one report: the same value always gets the same placeholder."""

    def __init__(self) -> None:
        self._placeholders: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}

    def placeholder(self, kind: str, value: str) -> str:
        """Return the placeholder of a value, numbering new values of a kind from 1."""
        key = (kind, value)
        known = self._placeholders.get(key)
        if known is not None:
            return known

        number = self._counts.get(kind, 0) + 1
        self._counts[kind] = number
        self._placeholders[key] = f"<{kind}-{number}>"
        return self._placeholders[key]

    def text(self, text: str) -> str:
        """Return the text with every address, name, DN and serial number replaced."""
        text = _SLASH_DN.sub(self._replace_dn, text)
        text = _COMMA_DN.sub(self._replace_dn, text)
        text = _EMAIL.sub(lambda match: self.placeholder("email", match.group(0).lower()), text)
        text = _SERIAL.sub(self._replace_serial, text)

        text = _PEER_FIELD.sub(self._replace_peer, text)
        text = _SYSLOG_HOST.sub(
            lambda match: match.group("prefix") + self._host_or_address(match.group("host")), text
        )
        text = _IPV6_CANDIDATE.sub(self._replace_ipv6, text)
        text = _IPV4.sub(self._replace_ipv4, text)

        return _HOST.sub(self._replace_host, text)

    def report(self, report: Report) -> Report:
        """Return a copy of the report with its log-derived texts redacted."""
        summary = self._summary(report.summary)
        findings = tuple(self.finding(finding) for finding in report.findings)
        return Report(summary=summary, findings=findings)

    # -- parts of a report ---------------------------------------------------------

    def _summary(self, summary: Summary) -> Summary:
        return replace(
            summary,
            files=tuple(self.text(name) for name in summary.files),
            errors=tuple(self.text(message) for message in summary.errors),
            warnings=tuple(self.text(message) for message in summary.warnings),
        )

    def finding(self, finding: Finding) -> Finding:
        """Return a copy of one finding with its evidence and the values in its fix redacted."""
        evidence = tuple(
            Evidence(file=self.text(item.file), line=item.line, text=self.text(item.text))
            for item in finding.evidence
        )
        # A redacted value ("<host-1>") is not a safe fill-in, so its placeholder stays.
        filled = tuple((name, self.text(value)) for name, value in finding.filled)
        return replace(finding, evidence=evidence, filled=filled)

    # -- replacements --------------------------------------------------------------

    def _replace_dn(self, match: re.Match) -> str:
        # The value pattern stops at a separator, so trailing blanks belong to the text
        # around the DN, not to the DN.
        whole = match.group(0)
        name = whole.rstrip()
        return self.placeholder("dn", name) + whole[len(name):]

    def _replace_serial(self, match: re.Match) -> str:
        value = match.group("value").replace(":", "").upper().lstrip("0") or "0"
        return match.group("label") + self.placeholder("serial", value)

    def _replace_peer(self, match: re.Match) -> str:
        return f"[{match.group('kind')} {self._host_or_address(match.group('peer'))}]"

    def _host_or_address(self, peer: str) -> str:
        """Replace a peer or host field: an address with an optional port, or a host name."""
        if peer.startswith("<"):
            return peer

        address, port = _split_port(peer)
        normal = _normal_address(address)
        if normal is not None:
            return self.placeholder("ip", normal) + port
        if peer == "-" or peer.lower() == "localhost":
            return peer
        return self.placeholder("host", address.lower()) + port

    def _replace_ipv6(self, match: re.Match) -> str:
        candidate = match.group(0)
        address = candidate.rstrip(".:")
        normal = _normal_address(address)
        if normal is None:
            return candidate
        return self.placeholder("ip", normal) + candidate[len(address):]

    def _replace_ipv4(self, match: re.Match) -> str:
        normal = _normal_address(match.group(0))
        if normal is None:
            return match.group(0)
        return self.placeholder("ip", normal)

    def _replace_host(self, match: re.Match) -> str:
        if match.group("tld").lower() in _NOT_HOST_SUFFIXES:
            return match.group(0)
        return self.placeholder("host", match.group(0).lower())


def redact_report(report: Report) -> Report:
    """Return a copy of the report with addresses, names, DNs and serials replaced."""
    return Redactor().report(report)


def _normal_address(text: str) -> str | None:
    """Return the canonical form of an IPv4 or IPv6 address, or None for other text."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None

    # ::ffff:192.0.2.10 is how a dual-stack socket shows an IPv4 client.
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


def _split_port(peer: str) -> tuple[str, str]:
    """Split "ADDRESS:PORT" into the address and ":PORT", which is empty without a port.

    httpd 2.4 writes IPv6 peers without brackets, so the last colon group is taken as
    the port when the text before it is an address on its own.
    NOTE: an httpd 2.2 IPv6 peer carries no port, so its last group may be taken for one.
    """
    if peer.startswith("[") and "]" in peer:
        inner, _, rest = peer[1:].partition("]")
        return inner, rest

    address, colon, port = peer.rpartition(":")
    if not colon or not port.isdigit() or not address:
        return peer, ""
    if _normal_address(peer) is not None and _normal_address(address) is None:
        return peer, ""
    return address, colon + port
