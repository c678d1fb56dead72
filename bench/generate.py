"""Generate a realistic, seeded Apache httpd error_log for benchmarks, and its expected findings.

The log mixes the layouts nsslog reads, in segments of a few hundred to a few thousand lines
each, as a rotated set concatenated into one file would. The layouts are httpd 2.2, httpd
2.4 with the prefork MPM (pid only) and a threaded MPM (pid and tid), 2.4 lines forwarded
to syslog, and 2.4 lines with an ISO time from ``ErrorLogFormat "[%{cu}t] ..."``.

Most lines are the debug, trace and info noise of mod_nss, mod_ssl, other modules and httpd
core, and a few are foreign output on httpd's stderr (continuation lines). Into this noise the generator injects real mod_nss and mod_ssl
failure sequences. Each is on a process id that no line near it uses, and at least
``INJECTION_GAP`` seconds from the next. So the findings of the whole log are the sum of
the findings of each snippet analysed alone. About 1 % of the lines are NSS error lines.

Usage: python bench/generate.py --lines 1000000 --seed 1 --output bench/out/log-1m.log
writes the log and ``<output>.expected.json`` (rule ids and counts, and the line
accounting).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

START = datetime(2026, 11, 30, 0, 0, 5)

# Seconds of log time before and after each injected failure. It exceeds the sequence
# windows of the built-in rules (5 s at most), and httpd 2.2 lines carry no pid, so only
# time keeps their failures apart.
INJECTION_GAP = 6.0

# Share of the noise lines that are foreign stderr output (continuation lines).
CONTINUATION_SHARE = 0.004

SEGMENT_LINES = (300, 4000)

PID_POOL = 500

_AH_PREFIX = re.compile(r"AH\d{5}: ")

LAYOUTS = ("2.4-prefork", "2.4-threaded", "2.2", "syslog", "iso")
LAYOUT_WEIGHTS = (30, 30, 15, 15, 10)

_CIPHERS = (
    "rsa_aes_128_sha", "rsa_aes_256_sha", "aes_128_sha_256", "aes_256_sha_256",
    "ecdhe_rsa_aes_128_gcm_sha_256", "ecdhe_ecdsa_aes_128_sha", "rsa_null_md5", "rsa_rc4_128_sha",
    "dhe_rsa_camellia_256_sha", "ecdh_anon_aes_128_sha", "fips_3des_sha", "rsa_des_56_sha",
)

# Noise: (weight, level, module of a 2.4 line, source file or "", message). "{ip}", "{port}",
# "{n}" and "{cipher}" are filled in per line. None of these messages may match a rule.
_NOISE = (
    (5, "debug", "", "nss_engine_init.c(1133)", "Enable cipher: {cipher}"),
    (5, "debug", "", "nss_engine_init.c(1133)", "Disable cipher: {cipher}"),
    (6, "debug", "", "nss_engine_init.c(763)", "NSSProtocol:  Enabling TLSv1.2"),
    (4, "debug", "", "nss_engine_init.c(447)", "SNI: Found nickname webtls for vhost: www.example.test"),
    (4, "debug", "", "nss_engine_kernel.c(91)", "SNI request for www.example.test"),
    (10, "info", "", "", "Connection to child {n} established (server www.example.test:443, client {ip})"),
    (10, "info", "", "", "Connection to child {n} closed (server www.example.test:443, client {ip})"),
    (6, "info", "", "", "Initial (No.1) HTTPS request received for child {n} (server www.example.test:443)"),
    (3, "info", "", "", "Using nickname webtls."),
    (6, "debug", "", "nss_engine_init.c(1070)",
     "NSSCipherSuite:  Configuring permitted SSL ciphers [+aes_128_sha_256,+aes_256_sha_256,"
     "+ecdhe_ecdsa_aes_128_gcm_sha_256,+ecdhe_ecdsa_aes_128_sha,+ecdhe_ecdsa_aes_256_sha,"
     "+ecdhe_rsa_aes_128_gcm_sha_256,+ecdhe_rsa_aes_128_sha,+ecdhe_rsa_aes_256_sha,"
     "+rsa_aes_128_gcm_sha_256,+rsa_aes_128_sha,+rsa_aes_256_sha]"),
    (3, "debug", "", "nss_engine_io.c(1022)", "[client {ip}:{port}] filling buffer, max size 131072 bytes"),
    (12, "debug", "authz_core", "mod_authz_core.c(820)",
     "[client {ip}:{port}] AH01626: authorization result of Require all granted: granted"),
    (8, "debug", "authz_core", "mod_authz_core.c(820)",
     "[client {ip}:{port}] AH01626: authorization result of <RequireAny>: granted"),
    (8, "debug", "ssl", "ssl_engine_kernel.c(2203)", "[client {ip}:{port}] AH02043: SSL virtual host for servername www.example.test found"),
    (6, "info", "ssl", "", "[client {ip}:{port}] AH01964: Connection to child {n} established (server www.example.test:443)"),
    (5, "debug", "ssl", "ssl_engine_io.c(1476)",
     "(70014)End of file found: [client {ip}:{port}] AH02007: SSL handshake interrupted by system [Hint: Stop button pressed in browser?!]"),
    (5, "trace3", "ssl", "ssl_engine_kernel.c(2203)", "[client {ip}:{port}] OpenSSL: Handshake: start"),
    (4, "debug", "proxy", "proxy_util.c(2565)", "AH00942: HTTPS: has acquired connection for (backend.example.test)"),
    (4, "info", "ssl", "", "[client {ip}:{port}] AH02008: SSL library error 1 in handshake (server www.example.test:443)"),
    (3, "notice", "core", "", "AH00094: Command line: '/usr/sbin/httpd -D FOREGROUND'"),
    (3, "debug", "watchdog", "mod_watchdog.c(565)", "AH02981: Watchdog: Created child worker thread (_proxy_hcheck_)."),
    (2, "error", "core", "", "[client {ip}:{port}] AH00126: Invalid URI in request GET /%%% HTTP/1.1"),
    (2, "warn", "proxy", "", "[client {ip}:{port}] AH01144: No protocol handler was valid for the URL /status, referer: https://www.example.test/"),
    (2, "info", "core", "", "[client {ip}:{port}] AH00128: File does not exist: /var/www/html/favicon.ico"),
    (20, "trace2", "rewrite", "mod_rewrite.c(483)",
     "[client {ip}:{port}] {ip} - - [www.example.test/sid#55d0c8a0][rid#7f3a1c002970/initial] init rewrite engine with requested uri /api/v1/items"),
    (15, "debug", "proxy", "proxy_util.c(2797)",
     "[client {ip}:{port}] AH00947: connected /api/v1/items to backend.example.test:8080"),
    (12, "debug", "authz_core", "mod_authz_core.c(843)",
     "[client {ip}:{port}] AH01628: authorization result: granted (no directives), referer: https://www.example.test/"),
    (10, "trace1", "http", "http_request.c(436)", "[client {ip}:{port}] Response sent with status 200, headers:"),
    (8, "debug", "mpm_event", "event.c(1561)", "AH00457: Accepting new connections again: 12 active conns (3 lingering/0 clogged/0 suspended), 2 idle workers"),
)

# Foreign output written to httpd's stderr: no layout fits, so each is a continuation line.
_FOREIGN = (
    "Traceback (most recent call last):",
    '  File "/srv/app/handler.py", line 42, in <module>',
    "    at org.example.Gateway.forward(Gateway.java:118)",
    "\tat java.base/java.lang.Thread.run(Thread.java:833)",
    "PHP Notice:  Undefined index: user in /var/www/html/index.php on line 7",
    "sh: 1: /usr/local/bin/rotate-hook: not found",
)


@dataclass(frozen=True)
class Injection:
    """A failure sequence of (level, module, source, message) lines.

    ``intent`` names the rules the sequence was written for. It documents the sequence; the
    expected file is computed by analysing the sequence alone.
    """

    name: str
    weight: int
    lines: tuple[tuple[str, str, str, str], ...]
    intent: tuple[str, ...]
    layouts: tuple[str, ...] = LAYOUTS


_INJECTIONS = (
    Injection("renegotiation-refused", 20, (
        ("debug", "", "nss_engine_kernel.c(411)", "Changed client verification type will force renegotiation"),
        ("info", "", "", "Requesting connection re-negotiation"),
        ("debug", "", "nss_engine_kernel.c(515)", "Performing full renegotiation: complete handshake protocol"),
        ("debug", "", "nss_engine_kernel.c(529)", "Re-negotation request failed: returned error -12176"),
    ), ("nss-renegotiation-refused",)),
    Injection("renegotiation-success", 10, (
        ("debug", "", "nss_engine_kernel.c(411)", "Changed client verification type will force renegotiation"),
        ("info", "", "", "Requesting connection re-negotiation"),
        ("debug", "", "nss_engine_kernel.c(537)", "Awaiting re-negotiation handshake"),
        ("debug", "", "nss_engine_kernel.c(620)", "Re-negotiated cipher AES-128-GCM"),
    ), ()),
    Injection("client-cert-unknown-issuer", 25, (
        ("error", "", "", "Bad remote server certificate: -8179"),
        ("error", "", "", "SSL Library Error: -8179 Certificate is signed by an unknown issuer"),
        ("error", "", "", "SSL Library Error: -8179 Certificate is signed by an unknown issuer"),
    ), ("nss-client-cert-untrusted-issuer",)),
    Injection("client-cert-expired", 10, (
        ("error", "", "", "Bad remote server certificate: -8181"),
        ("error", "", "", "SSL Library Error: -8181 Certificate has expired"),
    ), ("nss-client-cert-expired",)),
    Injection("client-cert-missing", 15, (
        ("error", "", "", "SSL Library Error: -12285 Unable to find the certificate or key necessary for authentication"),
    ), ("nss-client-cert-missing",)),
    Injection("server-cert-expired-at-start", 3, (
        ("info", "", "", "Using nickname webtls-Expired."),
        ("error", "", "", "SSL Library Error: -8181 Certificate has expired"),
        ("error", "", "", "Unable to verify certificate 'webtls-Expired'. Add \"NSSEnforceValidCerts off\" "
                          "to nss.conf so the server can start until the problem can be resolved."),
    ), ("nss-cert-expired", "nss-server-cert-invalid-at-start")),
    Injection("client-cert-missing-nss-tag", 3, (
        ("error", "nss", "", "SSL Library Error: -12285 Unable to find the certificate or key necessary for authentication"),
    ), ("nss-client-cert-missing",), ("2.4-prefork", "2.4-threaded", "syslog", "iso")),
    Injection("non-tls-traffic", 10, (
        ("error", "", "", "SSL Library Error: -12263 SSL received a record that exceeded the maximum permissible length"),
    ), ("nss-non-tls-traffic",)),
    Injection("body-too-large", 5, (
        ("error", "", "", "[client {ip}:{port}] request body exceeds maximum size (131072) for SSL buffer"),
        ("error", "", "", "[client {ip}:{port}] could not buffer message body to allow SSL renegotiation to proceed"),
    ), ("nss-renegotiation-body-too-large", "nss-renegotiation-body-too-large")),
    Injection("mod-ssl-unknown-ca", 10, (
        ("error", "ssl", "", "[client {ip}:{port}] AH02039: Certificate Verification: Error (20): unable to get local issuer certificate"),
    ), ("ssl-client-cert-unknown-ca",), ("2.4-prefork", "2.4-threaded", "syslog", "iso")),
    Injection("generic-code", 5, (
        ("error", "", "", "SSL Library Error: -12199 Unknown"),
    ), ("nss-code:-12199",)),
)


class _Clock:
    """Log time that moves forward by a random step per line."""

    def __init__(self, rng: random.Random, mean_step: float):
        self.rng = rng
        self.mean_step = mean_step
        self.now = START

    def tick(self, seconds: float | None = None) -> datetime:
        step = self.rng.expovariate(1 / self.mean_step) if seconds is None else seconds
        self.now += timedelta(seconds=step)
        return self.now


def format_line(layout: str, when: datetime, pid: int, tid: int, entry: tuple[str, str, str, str]) -> str:
    """Render one (level, module, source, message) entry in a layout."""
    level, module, source, message = entry
    source = f"{source}: " if source and level in ("debug", "trace3") else ""

    if layout == "2.2":
        return f"[{when:%a %b %d %H:%M:%S %Y}] [{_level_22(level)}] {source}{message}"

    process = f"[pid {pid}]" if layout == "2.4-prefork" else f"[pid {pid}:tid {tid}]"
    header = f"[{module}:{level}] {process} {source}{message}"
    if layout == "syslog":
        return f"{when:%b} {when.day:2d} {when:%H:%M:%S} www httpd[{pid}]: {header}"
    if layout == "iso":
        return f"[{when:%Y-%m-%d %H:%M:%S}.{when.microsecond:06d}] {header}"
    return f"[{when:%a %b %d %H:%M:%S}.{when.microsecond:06d} {when.year}] {header}"


def _level_22(level: str) -> str:
    # httpd 2.2 has no trace levels.
    return "debug" if level.startswith("trace") else level


class Generator:
    """Write a log of a given number of lines and count what was injected."""

    def __init__(self, seed: int, nss_share: float = 0.01):
        self.rng = random.Random(seed)
        self.nss_share = nss_share
        # How often each snippet was written: a noise line or an injected sequence, by layout.
        self.snippets: Counter[tuple] = Counter()
        self.injected: Counter[str] = Counter()
        self.records = 0
        self.continuation = 0
        self.unparsed = 0
        self.pid = 3000
        self._noise_weights = [item[0] for item in _NOISE]
        self._injection_weights = [item.weight for item in _INJECTIONS]
        # Lines per injection so that error lines make up about nss_share of the log.
        error_lines = sum(
            item.weight * sum(1 for line in item.lines if line[0] == "error") for item in _INJECTIONS
        ) / sum(self._injection_weights)
        self.lines_per_injection = max(20, int(error_lines / nss_share))
        self.clock = _Clock(self.rng, INJECTION_GAP * 1.5 / self.lines_per_injection)

    def write(self, out, lines: int) -> None:
        """Write exactly `lines` lines to a text stream."""
        written = self._write_preamble(out)
        while written < lines:
            layout = self.rng.choices(LAYOUTS, LAYOUT_WEIGHTS)[0]
            size = min(self.rng.randint(*SEGMENT_LINES), lines - written)
            written += self._write_segment(out, layout, size)

    def _write_preamble(self, out) -> int:
        # An init script's output before the first record: unparsed lines.
        out.write("Starting httpd: \n")
        self.unparsed += 1
        return 1

    def _write_segment(self, out, layout: str, size: int) -> int:
        pids = [self._new_pid() for _ in range(8)]
        written = 0
        next_injection = self.rng.randint(1, self.lines_per_injection)
        while written < size:
            if written >= next_injection:
                written += self._inject(out, layout, size - written)
                next_injection = written + self.rng.randint(self.lines_per_injection // 2,
                                                            self.lines_per_injection * 3 // 2)
                continue
            written += self._write_noise(out, layout, self.rng.choice(pids))
        return written

    def _write_noise(self, out, layout: str, pid: int) -> int:
        if self.rng.random() < CONTINUATION_SHARE:
            out.write(self.rng.choice(_FOREIGN) + "\n")
            self.continuation += 1
            return 1

        entry = self.rng.choices(_NOISE, self._noise_weights)[0][1:]
        cipher = self.rng.choice(_CIPHERS) if "{cipher}" in entry[3] else ""
        out.write(self._render(layout, pid, entry, self.clock.tick(), cipher) + "\n")
        self.records += 1
        self.snippets[(layout, (entry,), cipher)] += 1
        return 1

    def _inject(self, out, layout: str, room: int) -> int:
        choices = [item for item in _INJECTIONS if layout in item.layouts and len(item.lines) <= room]
        if not choices:
            return self._write_noise(out, layout, self.pid)

        weights = [item.weight for item in choices]
        injection = self.rng.choices(choices, weights)[0]
        pid = self._new_pid()
        when = self.clock.tick(INJECTION_GAP)
        # The lines of one failure come from one connection, so they share the client.
        fields = self._fields("")
        for entry in injection.lines:
            out.write(render(layout, pid, entry, when, fields) + "\n")
            when = self.clock.tick(0.000031)
        self.clock.tick(INJECTION_GAP)

        self.records += len(injection.lines)
        self.injected[injection.name] += 1
        self.snippets[(layout, injection.lines, "")] += 1
        return len(injection.lines)

    def _render(self, layout: str, pid: int, entry: tuple[str, str, str, str], when: datetime,
                cipher: str) -> str:
        return render(layout, pid, entry, when, self._fields(cipher))

    def _fields(self, cipher: str) -> dict:
        """Return a random client, port and child number."""
        return {"ip": f"192.0.2.{self.rng.randint(1, 254)}", "port": self.rng.randint(1024, 65535),
                "n": self.rng.randint(1, 999), "cipher": cipher}

    def _new_pid(self) -> int:
        # Process ids come back round as children are replaced; a pool of PID_POOL ids
        # keeps a long log's number of processes realistic. A reused id is INJECTION_GAP
        # seconds or more away from its last injected failure.
        self.pid = 3000 + (self.pid - 3000 + 1) % PID_POOL
        return self.pid

    def expected(self, lines: int) -> dict:
        """Return the findings and line accounting of what was written.

        Each distinct snippet is analysed alone with the built-in rules, and its findings
        are multiplied by the number of times it was written. Injected sequences stand
        apart in time and process, so the whole log must give exactly the sum.
        """
        findings: Counter[str] = Counter()
        for (layout, entries, cipher), count in self.snippets.items():
            for name, found in snippet_findings(layout, entries, cipher).items():
                findings[name] += found * count
        return {
            "lines": lines,
            "parsed": self.records,
            "continuation": self.continuation,
            "unparsed": self.unparsed,
            "findings": dict(sorted(findings.items())),
            "injected": dict(sorted(self.injected.items())),
        }


def render(layout: str, pid: int, entry: tuple[str, str, str, str], when: datetime, fields: dict) -> str:
    """Fill in an entry's fields and render it in a layout."""
    level, module, source, message = entry
    if layout == "2.2":
        # httpd 2.2 writes no client port and no AH codes.
        message = _AH_PREFIX.sub("", message.replace(":{port}]", "]"))
    message = message.format(**fields)
    # Threaded MPMs print the thread id as a pointer-sized number.
    tid = pid if layout != "2.4-threaded" else 139_871_234_000_000 + pid * 4096
    return format_line(layout, when, pid, tid, (level, module, source, message))


def snippet_findings(layout: str, entries: tuple, cipher: str) -> Counter[str]:
    """Analyse one snippet alone; return its findings as counts by name.

    The name is the rule id, or nss-code:<code> for a code no rule covers. The client
    address, port and child number are fixed here: no rule depends on them.
    """
    from nsslog.engine import Analysis

    analysis = Analysis(_builtin_rules())
    fields = {"ip": "192.0.2.1", "port": 40000, "n": 1, "cipher": cipher}
    when = START
    for number, entry in enumerate(entries, 1):
        analysis.feed("snippet", number, render(layout, 1000, entry, when, fields))
        when += timedelta(seconds=0.000031)
    return Counter({finding_name(finding): finding.count for finding in analysis.report().findings})


def finding_name(finding) -> str:
    """Return the name a finding is counted under in the expected file."""
    if finding.rule == "nss-code":
        return f"nss-code:{finding.codes[0][0]}"
    return finding.rule


_RULES: list = []


def _builtin_rules() -> list:
    if not _RULES:
        from nsslog.rules import load_rules

        _RULES.extend(load_rules())
    return _RULES


def generate(path: Path, lines: int, seed: int = 1) -> dict:
    """Write a log of `lines` lines to path and its expected findings beside it."""
    generator = Generator(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as out:
        generator.write(out, lines)

    expected = generator.expected(lines)
    expected_path(path).write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")
    return expected


def expected_path(path: Path) -> Path:
    """Return where the expected findings of a generated log are written."""
    return path.with_name(path.name + ".expected.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000, help="number of lines to write")
    parser.add_argument("--seed", type=int, default=1, help="random seed; the same seed gives the same log")
    parser.add_argument("--output", type=Path, required=True, help="log file to write")
    options = parser.parse_args(argv)

    expected = generate(options.output, options.lines, options.seed)
    print(json.dumps(expected, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
