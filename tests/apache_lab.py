"""Run a private Apache httpd with mod_ssl on 127.0.0.1 and drive it with real TLS clients.

The lab builds a test CA and certificates with the ``openssl`` command, writes an httpd.conf
with its own ServerRoot in a scratch folder, starts Debian's ``apache2`` binary on free
loopback ports and stops it by the PID it wrote. Each scenario runs one client (curl or
``openssl s_client``) against one of the lab's virtual hosts. The lab then cuts the lines the
scenario produced out of the whole error_log.

Run ``python tests/apache_lab.py record tests/data/modssl`` to record every scenario's lines
again; the integration test uses the same scenarios.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

APACHE_BINARY = Path("/usr/sbin/apache2")
MODULE_DIR = Path("/usr/lib/apache2/modules")

# Every client and server command gets a hard limit, so a hung handshake fails the test
# instead of blocking it.
CLIENT_TIMEOUT = 10.0
SERVER_TIMEOUT = 15.0

# httpd writes a connection's last lines (the close, the library errors) after the client
# has seen the response, so the lab waits until the error_log stops growing.
LOG_SETTLE_SECONDS = 0.3

OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no

[dn]
CN = placeholder

[ca]
default_ca = lab_ca

[lab_ca]
database = index.txt
new_certs_dir = issued
serial = serial
default_md = sha256
policy = any_name
unique_subject = no
copy_extensions = none

[any_name]
commonName = supplied
organizationName = optional

[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,DNS:a.test,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


@dataclass(frozen=True)
class KeyPair:
    """A certificate file and its private key file, both PEM."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    """The test CA and the certificates the scenarios use."""

    ca_cert: Path
    server: KeyPair
    client: KeyPair
    unknown_client: KeyPair
    expired_client: KeyPair
    self_signed_client: KeyPair
    chained_client: KeyPair
    revoked_client: KeyPair
    foreign_key: Path
    crl: Path
    other_crl: Path


@dataclass(frozen=True)
class ClientRun:
    """What one client command did."""

    command: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Scenario:
    """One client run against one lab virtual host, with the outcome and diagnosis expected.

    ``status`` is the HTTP status the client should receive, "000" when the TLS layer fails
    before any response. ``rules`` must all appear among the findings, ``absent_rules`` must
    not, ``directives`` must each start one of the fix directives of the expected rules, and
    ``clean`` means no finding of severity error or warning at all.
    """

    name: str
    summary: str
    vhost: str
    client: str
    status: str
    options: tuple[str, ...] = ()
    path: str = "/"
    rules: tuple[str, ...] = ()
    directives: tuple[str, ...] = ()
    absent_rules: tuple[str, ...] = ()
    clean: bool = False


@dataclass(frozen=True)
class Recording:
    """The error_log lines one scenario produced and the client's result."""

    scenario: Scenario
    lines: str
    run: ClientRun


# The lab's virtual hosts, each on its own port so that each has its own LogLevel: mod_ssl
# logs handshake lines at the level of the default virtual host of the address and port.
#
# - "info": LogLevel info ssl:debug and no client certificate at virtual-host level, but
#   SSLVerifyClient require under /cert-required/ (per directory), so TLS 1.2 renegotiates and
#   TLS 1.3 uses post-handshake authentication.
# - "warn": LogLevel warn, SSLVerifyClient require for the whole virtual host.
# - "require-info": the same at LogLevel info.
# - "sni": two name-based virtual hosts with SSLStrictSNIVHostCheck on. b.test also requires
#   a client certificate, so its SSL setup differs from a.test's, and the server certificate
#   does not name it, so httpd warns with AH01909 at start-up.
# - "tls13-only": SSLProtocol limited to TLS 1.3.
# - "crl": LogLevel info, SSLVerifyClient require and a CRL of the test CA that revokes dave.
# - "crl-missing": the same with only the unknown CA's CRL, so the test CA has none.
# - "cipher": LogLevel info, TLS 1.2 only with a single cipher suite.
VHOSTS = ("info", "warn", "require-info", "sni", "tls13-only", "crl", "crl-missing", "cipher")


# The per-directory SSLVerifyClient require of the "info" virtual host protects this file.
PROTECTED = "/cert-required/index.html"


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="tls12-location-cert-ok",
        summary="TLS 1.2 client with a valid certificate; per-directory SSLVerifyClient require renegotiates",
        vhost="info", client="curl", status="200", path=PROTECTED,
        options=("--tlsv1.2", "--tls-max", "1.2", "@client"),
        rules=("ssl-renegotiation-requested",), clean=True,
    ),
    Scenario(
        name="tls12-location-no-cert",
        summary="TLS 1.2 client without a certificate under per-directory SSLVerifyClient require",
        vhost="info", client="curl", status="000", path=PROTECTED,
        options=("--tlsv1.2", "--tls-max", "1.2"),
        rules=("ssl-client-cert-missing", "ssl-renegotiation-failed"),
        directives=("SSLVerifyClient", "SSLCACertificateFile"),
    ),
    Scenario(
        name="tls12-location-refuses-renegotiation",
        summary="openssl s_client over TLS 1.2 with renegotiation switched off",
        vhost="info", client="s_client", status="000", path=PROTECTED,
        options=("-tls1_2", "-no_renegotiation"),
        # AH02261 comes just before OpenSSL's reason and joins its finding.
        rules=("ssl-renegotiation-refused",),
        directives=("SSLVerifyClient optional", "Require expr"),
    ),
    Scenario(
        name="tls13-location-cert-ok",
        summary="curl over TLS 1.3 with a valid certificate: it offers post-handshake authentication",
        vhost="info", client="curl", status="200", path=PROTECTED,
        options=("--tlsv1.3", "@client"),
        rules=("ssl-post-handshake-auth-requested",),
        absent_rules=("tls13-post-handshake-auth-unsupported",), clean=True,
    ),
    Scenario(
        name="tls13-location-no-cert",
        summary="curl over TLS 1.3 without a certificate under per-directory SSLVerifyClient require",
        vhost="info", client="curl", status="000", path=PROTECTED,
        options=("--tlsv1.3",),
        rules=("ssl-client-cert-missing",),
        directives=("SSLVerifyClient",),
        absent_rules=("tls13-post-handshake-auth-unsupported",),
    ),
    Scenario(
        name="tls13-location-no-pha",
        summary="openssl s_client over TLS 1.3 without -enable_pha, as browsers behave",
        vhost="info", client="s_client", status="403", path=PROTECTED,
        options=("-tls1_3", "@client"),
        rules=("tls13-post-handshake-auth-unsupported",),
        directives=("SSLVerifyClient optional", "Require expr", "SSLProtocol -all +TLSv1.2"),
    ),
    Scenario(
        name="tls12-location-unknown-ca",
        summary="TLS 1.2 client certificate from a CA the server does not know (per directory)",
        vhost="info", client="curl", status="000", path=PROTECTED,
        options=("--tlsv1.2", "--tls-max", "1.2", "@unknown"),
        # The AH02261 line that ends the renegotiation is a follow-up of the verification error.
        rules=("ssl-client-cert-unknown-ca",),
        directives=("SSLCACertificateFile",),
    ),
    Scenario(
        name="tls13-location-unknown-ca",
        summary="client certificate from an unknown CA over TLS 1.3 with post-handshake authentication",
        vhost="info", client="curl", status="000", path=PROTECTED,
        options=("--tlsv1.3", "@unknown"),
        rules=("ssl-client-cert-unknown-ca", "ssl-client-verification-failed"),
        directives=("SSLCACertificateFile",),
    ),
    Scenario(
        name="tls13-location-expired",
        summary="expired client certificate over TLS 1.3 with post-handshake authentication",
        vhost="info", client="curl", status="000", path=PROTECTED,
        options=("--tlsv1.3", "@expired"),
        rules=("ssl-client-cert-expired", "ssl-client-verification-failed"),
    ),
    Scenario(
        name="vhost-warn-unknown-ca",
        summary="client certificate from an unknown CA, SSLVerifyClient require, LogLevel warn",
        vhost="warn", client="curl", status="000",
        options=("@unknown",),
        rules=("ssl-client-cert-unknown-ca",),
        directives=("SSLCACertificateFile",),
    ),
    Scenario(
        name="vhost-warn-expired",
        summary="expired client certificate, SSLVerifyClient require, LogLevel warn",
        vhost="warn", client="curl", status="000",
        options=("@expired",),
        rules=("ssl-client-cert-expired",),
    ),
    Scenario(
        name="vhost-warn-self-signed",
        summary="self-signed client certificate, SSLVerifyClient require, LogLevel warn",
        vhost="warn", client="curl", status="000",
        options=("@self-signed",),
        rules=("ssl-client-cert-unknown-ca",),
        directives=("SSLCACertificateFile",),
    ),
    Scenario(
        name="vhost-warn-no-cert",
        summary="client without a certificate, SSLVerifyClient require, LogLevel warn: nothing is logged",
        vhost="warn", client="curl", status="000", clean=True,
    ),
    Scenario(
        name="vhost-info-unknown-ca",
        summary="client certificate from an unknown CA, SSLVerifyClient require, LogLevel info",
        vhost="require-info", client="curl", status="000",
        options=("--tlsv1.2", "--tls-max", "1.2", "@unknown"),
        rules=("ssl-client-cert-unknown-ca", "ssl-handshake-failed", "ssl-client-cert-verify-detail"),
        directives=("SSLCACertificateFile",),
    ),
    Scenario(
        name="vhost-info-no-cert",
        summary="TLS 1.2 client without a certificate, SSLVerifyClient require, LogLevel info",
        vhost="require-info", client="curl", status="000",
        options=("--tlsv1.2", "--tls-max", "1.2"),
        rules=("ssl-client-cert-missing", "ssl-handshake-failed"),
        directives=("SSLVerifyClient",),
    ),
    Scenario(
        name="vhost-info-chain-too-long",
        summary="client certificate from an intermediate CA, sent with its chain, SSLVerifyDepth 1",
        vhost="require-info", client="curl", status="000",
        options=("--tlsv1.2", "--tls-max", "1.2", "@chained"),
        rules=("ssl-client-cert-chain-too-long",),
        directives=("SSLVerifyDepth",),
    ),
    Scenario(
        name="vhost-info-server-cert-as-client",
        summary="the server's certificate (extendedKeyUsage serverAuth) used as a client certificate",
        vhost="require-info", client="curl", status="000",
        options=("--tlsv1.2", "--tls-max", "1.2", "@server-cert"),
        rules=("ssl-client-cert-wrong-usage",),
    ),
    Scenario(
        name="crl-valid",
        summary="valid client certificate checked against the CA's CRL",
        vhost="crl", client="curl", status="200", path="/index.html",
        options=("@client",), clean=True,
    ),
    Scenario(
        name="crl-revoked",
        summary="client certificate that the CA's CRL lists as revoked",
        vhost="crl", client="curl", status="000",
        options=("@revoked",),
        rules=("ssl-client-cert-revoked",),
    ),
    Scenario(
        name="crl-missing",
        summary="SSLCARevocationCheck leaf without a CRL of the client certificate's CA",
        vhost="crl-missing", client="curl", status="000",
        options=("@client",),
        rules=("ssl-client-crl-problem",),
        directives=("SSLCARevocationFile", "SSLCARevocationCheck"),
    ),
    Scenario(
        name="no-shared-cipher",
        summary="TLS 1.2 client offering only a cipher suite the virtual host does not allow",
        vhost="cipher", client="curl", status="000",
        options=("--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-CHACHA20-POLY1305"),
        rules=("ssl-no-shared-cipher",),
        directives=("SSLCipherSuite",),
    ),
    Scenario(
        name="untrusted-server-cert",
        summary="client that does not trust the server certificate's CA",
        vhost="info", client="curl", status="000",
        options=("--tlsv1.2", "--tls-max", "1.2", "@no-ca"),
        rules=("ssl-server-cert-rejected-by-client",),
        directives=("SSLCertificateFile",),
    ),
    Scenario(
        name="protocol-mismatch",
        summary="TLS 1.2 client against a virtual host limited to TLS 1.3",
        vhost="tls13-only", client="curl", status="000",
        options=("--tlsv1.2", "--tls-max", "1.2"),
        rules=("ssl-protocol-mismatch",),
        directives=("SSLProtocol",),
    ),
    Scenario(
        name="http-on-https-port",
        summary="plain HTTP sent to the TLS port",
        vhost="info", client="curl", status="400",
        options=("@plain-http",),
        rules=("ssl-http-on-https-port",),
    ),
    Scenario(
        name="sni-missing",
        summary="client without SNI against name-based virtual hosts with SSLStrictSNIVHostCheck on",
        vhost="sni", client="curl", status="403",
        rules=("ssl-sni-missing",),
        directives=("SSLStrictSNIVHostCheck",),
    ),
    Scenario(
        name="sni-host-mismatch",
        summary="SNI a.test but Host b.test, whose SSL setup differs",
        vhost="sni", client="curl", status="421",
        options=("@sni-a", "--header", "Host: b.test"),
        rules=("ssl-sni-host-mismatch",),
    ),
)


def response_status(run: ClientRun) -> str:
    """Return the HTTP status a client received, or "000" when it received none."""
    if run.command[0] == "curl":
        return run.stdout.strip() or "000"

    match = re.search(r"^HTTP/1\.[01] (\d{3}) ", run.stdout, re.MULTILINE)
    return match.group(1) if match else "000"


def apache_available() -> bool:
    """Tell whether Debian's apache2 binary and its mod_ssl are installed."""
    return APACHE_BINARY.is_file() and (MODULE_DIR / "mod_ssl.so").is_file()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_command(command: list[str], cwd: Path | None = None, stdin: str = "") -> ClientRun:
    """Run a command with a time limit and capture its output."""
    try:
        done = subprocess.run(
            command, cwd=cwd, input=stdin, capture_output=True, text=True,
            timeout=CLIENT_TIMEOUT, check=False,
        )
    except subprocess.TimeoutExpired as expired:
        return ClientRun(tuple(command), -1, str(expired.stdout or ""), f"timed out: {expired}")

    return ClientRun(tuple(command), done.returncode, done.stdout, done.stderr)


def _openssl(folder: Path, *arguments: str) -> None:
    result = run_command(["openssl", *arguments], cwd=folder)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(arguments)} failed: {result.stderr.strip()}")


def _new_key_and_request(folder: Path, stem: str, subject: str) -> None:
    _openssl(
        folder, "req", "-new", "-config", "openssl.cnf", "-newkey", "ec",
        "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{stem}.key", "-out", f"{stem}.csr", "-subj", subject,
    )


def _make_ca(folder: Path, stem: str, subject: str) -> None:
    _openssl(
        folder, "req", "-x509", "-config", "openssl.cnf", "-extensions", "ca_ext",
        "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{stem}.key", "-out", f"{stem}.pem", "-subj", subject, "-days", "3650",
    )


def _issue(folder: Path, ca: str, stem: str, extensions: str, start: str, end: str) -> KeyPair:
    # `openssl ca` is used rather than `openssl x509 -req` because OpenSSL 3.0's x509
    # command cannot set a start date in the past, which the expired certificate needs.
    _openssl(
        folder, "ca", "-batch", "-config", "openssl.cnf", "-cert", f"{ca}.pem",
        "-keyfile", f"{ca}.key", "-in", f"{stem}.csr", "-out", f"{stem}.pem", "-notext",
        "-extensions", extensions, "-startdate", start, "-enddate", end,
    )
    return KeyPair(folder / f"{stem}.pem", folder / f"{stem}.key")


def make_pki(folder: Path) -> Pki:
    """Create the test CA, an intermediate CA, a second CA the server does not trust, the
    certificates and a CRL of each root CA."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "openssl.cnf").write_text(OPENSSL_CONFIG)
    (folder / "index.txt").write_text("")
    (folder / "serial").write_text("1000\n")
    (folder / "issued").mkdir(exist_ok=True)

    _make_ca(folder, "ca", "/O=nsslog lab/CN=nsslog Test CA")
    _make_ca(folder, "other-ca", "/O=elsewhere/CN=Unknown Test CA")
    _openssl(
        folder, "req", "-x509", "-config", "openssl.cnf", "-extensions", "client_ext",
        "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "carol-self-signed.key", "-out", "carol-self-signed.pem",
        "-subj", "/O=nobody/CN=carol", "-days", "3650",
    )

    valid = ("20200101000000Z", "20991231000000Z")
    expired = ("20200101000000Z", "20210101000000Z")
    requests = {
        "server": "/O=nsslog lab/CN=localhost",
        "alice": "/O=nsslog lab/CN=alice",
        "mallory": "/O=elsewhere/CN=mallory",
        "bob-expired": "/O=nsslog lab/CN=bob",
        "dave-revoked": "/O=nsslog lab/CN=dave",
        "sub-ca": "/O=nsslog lab/CN=nsslog Test Issuing CA",
        "erin": "/O=nsslog lab/CN=erin",
        "foreign": "/O=nsslog lab/CN=unused",
    }
    for stem, subject in requests.items():
        _new_key_and_request(folder, stem, subject)

    server = _issue(folder, "ca", "server", "server_ext", *valid)
    client = _issue(folder, "ca", "alice", "client_ext", *valid)
    unknown_client = _issue(folder, "other-ca", "mallory", "client_ext", *valid)
    expired_client = _issue(folder, "ca", "bob-expired", "client_ext", *expired)
    revoked_client = _issue(folder, "ca", "dave-revoked", "client_ext", *valid)
    _issue(folder, "ca", "sub-ca", "ca_ext", *valid)
    erin = _issue(folder, "sub-ca", "erin", "client_ext", *valid)

    # erin's certificate file carries the intermediate CA too, as a client sends its chain.
    chain = folder / "erin-chain.pem"
    chain.write_text(erin.cert.read_text() + (folder / "sub-ca.pem").read_text())

    _openssl(folder, "ca", "-batch", "-config", "openssl.cnf", "-cert", "ca.pem",
             "-keyfile", "ca.key", "-revoke", "dave-revoked.pem")
    for ca in ("ca", "other-ca"):
        _openssl(folder, "ca", "-batch", "-config", "openssl.cnf", "-gencrl", "-crldays", "30",
                 "-cert", f"{ca}.pem", "-keyfile", f"{ca}.key", "-out", f"{ca}.crl")

    return Pki(
        ca_cert=folder / "ca.pem",
        server=server,
        client=client,
        unknown_client=unknown_client,
        expired_client=expired_client,
        self_signed_client=KeyPair(folder / "carol-self-signed.pem", folder / "carol-self-signed.key"),
        chained_client=KeyPair(chain, erin.key),
        revoked_client=revoked_client,
        foreign_key=folder / "foreign.key",
        crl=folder / "ca.crl",
        other_crl=folder / "other-ca.crl",
    )


def _run_as_lines() -> str:
    # httpd started as root must switch to an unprivileged user for its children. Started by
    # anyone else, it keeps that user and ignores these directives.
    if os.geteuid() != 0:
        return ""

    for name in ("www-data", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return f"User {name}\nGroup #{entry.pw_gid}\n"

    raise RuntimeError("no unprivileged user for httpd's children: create www-data or nobody")


def _base_config(root: Path) -> str:
    modules = (
        ("mpm_event_module", "mod_mpm_event.so"),
        ("authz_core_module", "mod_authz_core.so"),
        ("ssl_module", "mod_ssl.so"),
    )
    load_lines = "".join(f"LoadModule {name} {MODULE_DIR / so}\n" for name, so in modules)
    return (
        f'ServerRoot "{root}"\n'
        f'DefaultRuntimeDir "{root}/run"\n'
        f'PidFile "{root}/run/httpd.pid"\n'
        f"{load_lines}"
        f"{_run_as_lines()}"
        "ServerName localhost\n"
        f'ErrorLog "{root}/logs/error_log"\n'
        "LogLevel warn\n"
        "StartServers 1\nServerLimit 1\nThreadsPerChild 8\nThreadLimit 8\n"
        "MaxRequestWorkers 8\nMinSpareThreads 1\nMaxSpareThreads 8\n"
        "SSLSessionCache none\n"
        f'DocumentRoot "{root}/htdocs"\n'
        f'<Directory "{root}/htdocs">\n  Require all granted\n</Directory>\n'
    )


def _tls_lines(pki: Pki, server: KeyPair | None = None) -> str:
    server = server or pki.server
    return (
        "  SSLEngine on\n"
        f'  SSLCertificateFile "{server.cert}"\n'
        f'  SSLCertificateKeyFile "{server.key}"\n'
        f'  SSLCACertificateFile "{pki.ca_cert}"\n'
    )


def lab_config(root: Path, pki: Pki, ports: dict[str, int]) -> str:
    """Return the httpd.conf text of the lab's TLS virtual hosts, one per entry of VHOSTS."""
    listen = "".join(f"Listen 127.0.0.1:{port}\n" for port in ports.values())
    info = (
        f"<VirtualHost 127.0.0.1:{ports['info']}>\n  ServerName localhost\n"
        "  LogLevel info ssl:debug\n" + _tls_lines(pki) +
        '  <Location "/cert-required">\n    SSLVerifyClient require\n'
        "    SSLVerifyDepth 1\n  </Location>\n</VirtualHost>\n"
    )
    warn = (
        f"<VirtualHost 127.0.0.1:{ports['warn']}>\n  ServerName localhost\n"
        "  LogLevel warn\n" + _tls_lines(pki) +
        "  SSLVerifyClient require\n  SSLVerifyDepth 1\n</VirtualHost>\n"
    )
    require_info = (
        f"<VirtualHost 127.0.0.1:{ports['require-info']}>\n  ServerName localhost\n"
        "  LogLevel info\n" + _tls_lines(pki) +
        "  SSLVerifyClient require\n  SSLVerifyDepth 1\n</VirtualHost>\n"
    )
    sni = (
        f"<VirtualHost 127.0.0.1:{ports['sni']}>\n  ServerName a.test\n"
        "  LogLevel info\n" + _tls_lines(pki) +
        "  SSLStrictSNIVHostCheck on\n</VirtualHost>\n"
        f"<VirtualHost 127.0.0.1:{ports['sni']}>\n  ServerName b.test\n"
        "  LogLevel info\n" + _tls_lines(pki) +
        "  SSLStrictSNIVHostCheck on\n  SSLVerifyClient require\n</VirtualHost>\n"
    )
    tls13_only = (
        f"<VirtualHost 127.0.0.1:{ports['tls13-only']}>\n  ServerName localhost\n"
        "  LogLevel info\n" + _tls_lines(pki) +
        "  SSLProtocol -all +TLSv1.3\n</VirtualHost>\n"
    )
    crl = "".join(
        f"<VirtualHost 127.0.0.1:{ports[name]}>\n  ServerName localhost\n"
        "  LogLevel info\n" + _tls_lines(pki) +
        "  SSLVerifyClient require\n  SSLVerifyDepth 1\n  SSLCARevocationCheck leaf\n"
        f'  SSLCARevocationFile "{crl_file}"\n</VirtualHost>\n'
        for name, crl_file in (("crl", pki.crl), ("crl-missing", pki.other_crl))
    )
    cipher = (
        f"<VirtualHost 127.0.0.1:{ports['cipher']}>\n  ServerName localhost\n"
        "  LogLevel info\n" + _tls_lines(pki) +
        "  SSLProtocol -all +TLSv1.2\n  SSLCipherSuite ECDHE-ECDSA-AES128-GCM-SHA256\n"
        "</VirtualHost>\n"
    )
    return _base_config(root) + listen + info + warn + require_info + sni + tls13_only + crl + cipher


STARTUP_PROBLEMS = ("key-mismatch", "missing-ca-file", "no-certificate", "no-certificate-own-log")


def broken_config(root: Path, pki: Pki, port: int, problem: str) -> str:
    """Return the text of an httpd.conf whose TLS virtual host cannot start.

    ``problem`` is ``key-mismatch`` (a key that belongs to another certificate),
    ``missing-ca-file`` (SSLCACertificateFile names no file), ``no-certificate``
    (SSLEngine on without a certificate), or ``no-certificate-own-log`` (the same in a
    virtual host with its own ErrorLog).
    """
    vhost = f"<VirtualHost 127.0.0.1:{port}>\n  ServerName localhost\n  LogLevel info\n"

    if problem == "key-mismatch":
        vhost += _tls_lines(pki, KeyPair(pki.server.cert, pki.foreign_key))
    elif problem == "missing-ca-file":
        vhost += _tls_lines(pki).replace(str(pki.ca_cert), str(root / "pki" / "missing-ca.pem"))
    elif problem in ("no-certificate", "no-certificate-own-log"):
        vhost += "  SSLEngine on\n"
        if problem == "no-certificate-own-log":
            vhost += f'  ErrorLog "{root}/logs/vhost_error_log"\n'
    else:
        raise ValueError(f"invalid start-up problem {problem!r}; expected one of {STARTUP_PROBLEMS}")

    return _base_config(root) + f"Listen 127.0.0.1:{port}\n" + vhost + "</VirtualHost>\n"


@dataclass
class ApacheLab:
    """A private httpd: its folder, certificates, ports and, while running, its PID."""

    root: Path
    pki: Pki
    ports: dict[str, int] = field(default_factory=dict)
    pid: int | None = None

    @classmethod
    def create(cls, root: Path) -> ApacheLab:
        """Lay out the ServerRoot and certificates in ``root``."""
        for sub in ("logs", "run", "htdocs/cert-required", "pki"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "htdocs/index.html").write_text("lab\n")
        (root / "htdocs/cert-required/index.html").write_text("protected\n")

        # The children may run as an unprivileged user, so the documents must be world-readable.
        for path in (root, root / "htdocs", root / "htdocs/cert-required"):
            path.chmod(0o755)

        return cls(root=root, pki=make_pki(root / "pki"))

    @property
    def config_file(self) -> Path:
        return self.root / "httpd.conf"

    @property
    def error_log(self) -> Path:
        return self.root / "logs" / "error_log"

    def configure(self, text: str) -> None:
        """Write the configuration the next start uses."""
        self.config_file.write_text(text)

    def configure_lab(self) -> None:
        """Pick free ports and write the configuration of the lab's virtual hosts."""
        self.ports = {name: free_port() for name in VHOSTS}
        self.configure(lab_config(self.root, self.pki, self.ports))

    def start(self) -> ClientRun:
        """Start httpd in the background and wait for its PID file.

        Returns the start command's result. A failed start, which the broken configurations
        intend, leaves ``pid`` unset.
        """
        pid_file = self.root / "run" / "httpd.pid"
        pid_file.unlink(missing_ok=True)

        command = [str(APACHE_BINARY), "-d", str(self.root), "-f", str(self.config_file), "-k", "start"]
        result = run_command(command)
        if result.returncode != 0:
            return result

        self.pid = _wait_for_pid(pid_file)
        for port in self.ports.values():
            _wait_for_port(port)

        # Each port probe leaves "handshake stopped" lines, which must land before a scenario
        # takes its offset into the error_log.
        _wait_for_quiet_log(self.error_log)
        return result

    def stop(self) -> None:
        """Stop the httpd this lab started, by its PID, and wait until it is gone."""
        if self.pid is None:
            return

        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            self.pid = None
            return

        deadline = time.monotonic() + SERVER_TIMEOUT
        while time.monotonic() < deadline and _is_running(self.pid):
            time.sleep(0.05)
        if _is_running(self.pid):
            os.kill(self.pid, signal.SIGKILL)
        self.pid = None

    def run_scenario(self, scenario: Scenario) -> Recording:
        """Run one scenario's client and return the error_log lines it caused."""
        offset = self.error_log.stat().st_size if self.error_log.exists() else 0
        command, stdin = client_command(self, scenario)
        run = run_command(command, stdin=stdin)
        _wait_for_quiet_log(self.error_log)

        with self.error_log.open("rb") as log:
            log.seek(offset)
            lines = log.read().decode("utf-8", "replace")
        return Recording(scenario, lines, run)


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for_pid(pid_file: Path) -> int:
    deadline = time.monotonic() + SERVER_TIMEOUT
    while time.monotonic() < deadline:
        text = pid_file.read_text().strip() if pid_file.exists() else ""
        if text.isdigit():
            return int(text)
        time.sleep(0.05)
    raise TimeoutError(f"httpd wrote no PID to {pid_file} within {SERVER_TIMEOUT} s")


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + SERVER_TIMEOUT
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"httpd did not listen on 127.0.0.1:{port} within {SERVER_TIMEOUT} s")


def _wait_for_quiet_log(path: Path) -> None:
    size = -1
    deadline = time.monotonic() + SERVER_TIMEOUT
    while time.monotonic() < deadline:
        time.sleep(LOG_SETTLE_SECONDS)
        current = path.stat().st_size if path.exists() else 0
        if current == size:
            return
        size = current


def client_command(lab: ApacheLab, scenario: Scenario) -> tuple[list[str], str]:
    """Build the client command line and its standard input for a scenario.

    Options starting with ``@`` stand for lab settings. ``@client``, ``@unknown``,
    ``@expired``, ``@self-signed``, ``@chained`` (with its intermediate CA), ``@revoked`` and
    ``@server-cert`` (the server's own certificate) add that client certificate. ``@no-ca``
    drops the trusted CA, ``@plain-http`` speaks HTTP without TLS and ``@sni-a`` sends the SNI
    name a.test.
    """
    port = lab.ports[scenario.vhost]
    pki = lab.pki
    pairs = {
        "@client": pki.client,
        "@unknown": pki.unknown_client,
        "@expired": pki.expired_client,
        "@self-signed": pki.self_signed_client,
        "@chained": pki.chained_client,
        "@revoked": pki.revoked_client,
        "@server-cert": pki.server,
    }
    options = list(scenario.options)

    pair = next((pairs[option] for option in options if option in pairs), None)
    options = [option for option in options if option not in pairs]

    if scenario.client == "s_client":
        return _s_client_command(port, pki, pair, options, scenario.path)
    return _curl_command(port, pki, pair, options, scenario.path), ""


def _curl_command(port: int, pki: Pki, pair: KeyPair | None, options: list[str], path: str) -> list[str]:
    # --noproxy keeps every request on 127.0.0.1 whatever proxy the environment names.
    command = ["curl", "--silent", "--show-error", "--noproxy", "*", "--max-time", "8",
               "--output", "/dev/null", "--write-out", "%{http_code}\\n"]
    host = "127.0.0.1"

    if "@sni-a" in options:
        options.remove("@sni-a")
        host = "a.test"
        command += ["--resolve", f"a.test:{port}:127.0.0.1"]
    if "@plain-http" in options:
        options.remove("@plain-http")
        return command + options + [f"http://{host}:{port}{path}"]
    if "@no-ca" in options:
        options.remove("@no-ca")
    else:
        command += ["--cacert", str(pki.ca_cert)]
    if pair is not None:
        command += ["--cert", str(pair.cert), "--key", str(pair.key)]

    return command + options + [f"https://{host}:{port}{path}"]


def _s_client_command(
    port: int, pki: Pki, pair: KeyPair | None, options: list[str], path: str,
) -> tuple[list[str], str]:
    command = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
               "-CAfile", str(pki.ca_cert), "-quiet", "-ign_eof", *options]
    if pair is not None:
        command += ["-cert", str(pair.cert), "-key", str(pair.key)]

    request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    return command, request


def record(target: Path) -> None:
    """Run every scenario and the start-up failures, writing each one's lines to ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nsslog-apache-") as scratch:
        lab = ApacheLab.create(Path(scratch))
        lab.configure_lab()
        started = lab.start()
        if lab.pid is None:
            log = lab.error_log.read_text() if lab.error_log.exists() else ""
            raise RuntimeError(f"httpd did not start: {started.stderr}{log}")

        try:
            for scenario in SCENARIOS:
                recording = lab.run_scenario(scenario)
                (target / f"{scenario.name}.log").write_text(recording.lines)
                print(f"{scenario.name}: status {response_status(recording.run)}"
                      f" (expected {scenario.status}), {len(recording.lines.splitlines())} lines")
        finally:
            lab.stop()
        shutil.copyfile(lab.error_log, target / "lab-full.log")

        for problem in STARTUP_PROBLEMS:
            failure = record_startup_failure(lab, problem)
            for suffix, text in zip(("log", "stderr", "vhost.log"), failure):
                if text:
                    (target / f"startup-{problem}.{suffix}").write_text(text)
            print(f"startup-{problem}: {sum(len(text.splitlines()) for text in failure)} lines")


def record_startup_failure(lab: ApacheLab, problem: str) -> tuple[str, str, str]:
    """Try to start httpd with a broken configuration.

    Returns what the error_log received, what the start command wrote to its standard
    error, and what the virtual host's own error log received (empty when it has none).
    """
    vhost_log = lab.root / "logs" / "vhost_error_log"
    lab.error_log.unlink(missing_ok=True)
    vhost_log.unlink(missing_ok=True)
    lab.ports = {}
    lab.configure(broken_config(lab.root, lab.pki, free_port(), problem))
    result = lab.start()
    if lab.pid is not None:
        lab.stop()
        raise RuntimeError(f"httpd started despite the {problem} configuration")

    text = lab.error_log.read_text() if lab.error_log.exists() else ""
    vhost_text = vhost_log.read_text() if vhost_log.exists() else ""
    return text, result.stderr, vhost_text


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "record":
        sys.exit("usage: python tests/apache_lab.py record FOLDER")
    if not apache_available():
        sys.exit(f"{APACHE_BINARY} or mod_ssl is not installed")
    record(Path(sys.argv[2]))
