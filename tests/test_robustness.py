"""Bad and unusual input through the command line: nsslog reports it and reads the rest.

Every test runs the real CLI in a separate process next to a good error_log, then checks the
exit status, the message on stderr, that the good log was still analysed, and that the line
accounting adds up (lines read = parsed + continuation + unparsed).
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from nsslog.cli import main

DATA = Path(__file__).parent / "data"

# Four lines published in 2012 by an httpd 2.2 user of mod_nss: one finding.
GOOD_LOG = (DATA / "seed-renegotiation-2.2.log").read_bytes()
GOOD_RULE = "nss-renegotiation-refused"
GOOD_LINES = 4

# A mod_nss line on httpd 2.4 that gives a finding on its own.
CODE_LINE = (
    b"[Mon Jan 01 10:00:00.000001 2024] [:error] [pid 100] SSL Library Error: -8179 "
    b"Certificate is signed by an unknown issuer"
)

COMPRESSORS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}


def run(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """Run `python -m nsslog ARGS` and return its exit status, stdout and stderr as bytes."""
    command = [sys.executable, "-m", "nsslog", *map(str, args)]
    return subprocess.run(command, input=stdin, capture_output=True, check=False, timeout=120)


def json_report(result: subprocess.CompletedProcess) -> dict:
    return json.loads(result.stdout.decode("utf-8"))


def rules_found(report: dict) -> set[str]:
    return {finding["rule"] for finding in report["findings"]}


def accounting_holds(summary: dict) -> bool:
    return summary["lines"] == summary["parsed"] + summary["continuation"] + summary["unparsed"]


@pytest.fixture
def good(tmp_path) -> Path:
    path = tmp_path / "error_log"
    path.write_bytes(GOOD_LOG)
    return path


# -- odd bytes inside a readable file ----------------------------------------------


def test_invalid_utf8_escaped_in_json(tmp_path, good):
    bad = tmp_path / "latin1_log"
    bad.write_bytes(CODE_LINE + b" caf\xe9 \xff\xfe\n")
    result = run("--format", "json", bad, good)
    report = json_report(result)
    texts = [item["text"] for finding in report["findings"] for item in finding["evidence"]]

    assert result.returncode == 1
    assert any(text.endswith("caf\\xe9 \\xff\\xfe") for text in texts)
    assert GOOD_RULE in rules_found(report)


def test_invalid_utf8_output_is_utf8(tmp_path):
    bad = tmp_path / "latin1_log"
    bad.write_bytes(CODE_LINE + b" \xc3\x28 \xed\xa0\x80 \xf8\x88\x80\x80\x80\n")
    result = run("--format", "json", bad)

    result.stdout.decode("utf-8")
    assert accounting_holds(json_report(result)["summary"])


def test_nul_bytes_warned(tmp_path, good):
    bad = tmp_path / "nul_log"
    bad.write_bytes(CODE_LINE + b"\x00\x00 tail\n\x00\n")
    result = run("--format", "json", bad, good)
    summary = json_report(result)["summary"]

    assert summary["lines"] == 2 + GOOD_LINES
    assert any(str(bad) in warning and "NUL" in warning for warning in summary["warnings"])
    assert GOOD_RULE in rules_found(json_report(result))


def test_nul_byte_escaped_in_json(tmp_path):
    bad = tmp_path / "nul_log"
    bad.write_bytes(CODE_LINE + b" \x00 tail\n")
    report = json_report(run("--format", "json", bad))

    assert report["findings"][0]["evidence"][0]["text"].endswith(" \x00 tail")


def test_crlf_endings(tmp_path):
    crlf = tmp_path / "crlf_log"
    crlf.write_bytes(GOOD_LOG.replace(b"\n", b"\r\n"))
    report = json_report(run("--format", "json", crlf))

    assert report["summary"]["lines"] == GOOD_LINES
    assert report["summary"]["parsed"] == GOOD_LINES
    assert rules_found(report) == {GOOD_RULE}
    assert "\r" not in report["findings"][0]["evidence"][-1]["text"]


def test_lone_cr_endings(tmp_path):
    old_mac = tmp_path / "cr_log"
    old_mac.write_bytes(GOOD_LOG.replace(b"\n", b"\r"))
    report = json_report(run("--format", "json", old_mac))

    assert report["summary"]["lines"] == GOOD_LINES
    assert rules_found(report) == {GOOD_RULE}


def test_mixed_endings_counted_once(tmp_path):
    mixed = tmp_path / "mixed_log"
    mixed.write_bytes(b"a\r\nb\rc\n\nd")
    summary = json_report(run("--format", "json", mixed))["summary"]

    assert summary["lines"] == 5
    assert accounting_holds(summary)


def test_line_of_10_mb(tmp_path, good):
    huge = tmp_path / "huge_log"
    huge.write_bytes(b"x" * 10_000_000 + b"\n" + CODE_LINE + b"\n")
    started = time.monotonic()
    result = run("--format", "json", huge, good)
    elapsed = time.monotonic() - started
    summary = json_report(result)["summary"]

    assert result.returncode == 1
    assert summary["lines"] == 2 + GOOD_LINES
    assert summary["unparsed"] == 1
    assert len(rules_found(json_report(result))) == 2
    # The run took under a second where this test was written. The limit only catches
    # a reader whose time grows with the square of the line length.
    assert elapsed < 30


def test_record_of_10_mb_in_text(tmp_path):
    huge = tmp_path / "huge_log"
    huge.write_bytes(CODE_LINE + b" " + b"a" * 10_000_000 + b"\n")
    result = run("--color", "never", huge)

    assert result.returncode == 1
    assert result.stdout.count(b"a" * 10_000_000) == 1


def test_no_final_newline(tmp_path):
    unterminated = tmp_path / "unterminated_log"
    unterminated.write_bytes(GOOD_LOG.rstrip(b"\n"))
    report = json_report(run("--format", "json", unterminated))

    assert report["summary"]["lines"] == GOOD_LINES
    assert report["findings"][0]["evidence"][-1]["line"] == GOOD_LINES


def test_empty_file(tmp_path, good):
    empty = tmp_path / "empty_log"
    empty.write_bytes(b"")
    result = run("--format", "json", empty, good)
    summary = json_report(result)["summary"]

    assert result.returncode == 1
    assert str(empty) in summary["files"]
    assert summary["lines"] == GOOD_LINES
    assert result.stderr == b""


def test_empty_file_alone(tmp_path):
    empty = tmp_path / "empty_log"
    empty.write_bytes(b"")
    result = run(empty)

    assert result.returncode == 0
    assert b"0 read" in result.stdout


def test_binary_file(tmp_path, good):
    binary = tmp_path / "core"
    binary.write_bytes(bytes(range(256)) * 4096 + b"\x7fELF\x00\x00\r\r\n\n")
    result = run("--format", "json", binary, good)
    summary = json_report(result)["summary"]

    assert result.returncode == 1
    assert accounting_holds(summary)
    assert any(str(binary) in warning for warning in summary["warnings"])
    assert GOOD_RULE in rules_found(json_report(result))


def test_binary_file_in_text(tmp_path):
    binary = tmp_path / "core"
    binary.write_bytes(CODE_LINE + b" \x1b[2J\x07\x00\xff\n" + bytes(range(256)))
    result = run("--color", "always", binary)

    assert b"\\x1b[2J\\x07\\x00\\xff" in result.stdout
    assert b"\x07" not in result.stdout


# -- inputs that cannot be read ----------------------------------------------------


def test_directory(tmp_path, good):
    folder = tmp_path / "logs"
    folder.mkdir()
    result = run("--format", "json", folder, good)

    assert result.returncode == 2
    assert f"nsslog: error: {folder}: is a directory".encode() in result.stderr
    assert GOOD_RULE in rules_found(json_report(result))


def test_missing_file(tmp_path, good):
    missing = tmp_path / "error_log.1"
    result = run("--format", "json", missing, good)
    report = json_report(result)

    assert result.returncode == 2
    assert f"nsslog: error: {missing}: file not found".encode() in result.stderr
    assert any(str(missing) in error for error in report["summary"]["errors"])
    assert GOOD_RULE in rules_found(report)


def test_missing_file_text_report(tmp_path, good):
    missing = tmp_path / "error_log.1"
    result = run("--color", "never", good, missing)

    # A pipe is 80 columns wide for rich, so the message may be wrapped.
    output = b" ".join(result.stdout.split())

    assert result.returncode == 2
    assert f"Input error: {missing}: file not found".encode() in output
    assert b"nss-renegotiation-refused" in result.stdout


def test_missing_file_no_traceback(tmp_path):
    result = run(tmp_path / "nothing")

    assert b"Traceback" not in result.stderr


def test_stdin_with_missing_file(tmp_path):
    result = run("--format", "json", "-", tmp_path / "nothing", stdin=GOOD_LOG)

    assert result.returncode == 2
    assert GOOD_RULE in rules_found(json_report(result))


@pytest.fixture
def shared_dir():
    """A folder that user nobody can enter, unlike pytest's tmp_path under /tmp/pytest-of-root."""
    folder = Path(tempfile.mkdtemp(prefix="nsslog-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def _run_as_nobody(args: list[str]) -> tuple[int, str, str]:
    """Run the CLI in a forked child that dropped root privileges to user nobody.

    setpriv or runuser cannot start the interpreter here: its packages live under /root,
    which nobody may not read. A forked child keeps the modules already loaded, so it
    needs no file outside the test folder and the source tree.
    """
    import click._textwrap  # noqa: F401 - loaded lazily by click's usage errors

    nobody = pwd.getpwnam("nobody")
    warm_up = CliRunner().invoke(main, ["--format", "json", *args[-1:]])
    assert warm_up.exit_code in (0, 1), warm_up.output

    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        status = 3
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            result = CliRunner().invoke(main, args)
            payload = {"status": result.exit_code, "stdout": result.stdout, "stderr": result.stderr}
            with os.fdopen(write_end, "w", encoding="utf-8") as pipe:
                json.dump(payload, pipe)
            status = 0
        finally:
            os._exit(status)

    os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8") as pipe:
        text = pipe.read()
    os.waitpid(child, 0)
    payload = json.loads(text)
    return payload["status"], payload["stdout"], payload["stderr"]


def _run_unprivileged(args: list[str]) -> tuple[int, str, str]:
    if os.geteuid() != 0:
        result = run(*args)
        return result.returncode, result.stdout.decode(), result.stderr.decode()
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("running as root and there is no user nobody to drop privileges to")
    return _run_as_nobody(args)


def test_unreadable_file(shared_dir):
    secret = shared_dir / "error_log.secret"
    secret.write_bytes(GOOD_LOG)
    secret.chmod(0o000)
    good = shared_dir / "error_log"
    good.write_bytes(GOOD_LOG)
    good.chmod(0o644)

    status, stdout, stderr = _run_unprivileged(["--format", "json", str(secret), str(good)])

    assert status == 2
    assert f"nsslog: error: {secret}: permission denied" in stderr
    assert stdout, stderr
    assert json.loads(stdout)["summary"]["lines"] == GOOD_LINES
    assert GOOD_RULE in rules_found(json.loads(stdout))


# -- compressed and rotated logs ---------------------------------------------------


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_compressed_file(tmp_path, suffix):
    packed = tmp_path / f"error_log-20120330{suffix}"
    packed.write_bytes(COMPRESSORS[suffix](GOOD_LOG))
    report = json_report(run("--format", "json", packed))

    assert report["summary"]["lines"] == GOOD_LINES
    assert rules_found(report) == {GOOD_RULE}


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_compressed_upper_case_suffix(tmp_path, suffix):
    packed = tmp_path / f"ERROR_LOG{suffix.upper()}"
    packed.write_bytes(COMPRESSORS[suffix](GOOD_LOG))

    assert rules_found(json_report(run("--format", "json", packed))) == {GOOD_RULE}


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_plain_file_with_compressed_suffix(tmp_path, good, suffix):
    # The first bytes decide how a file is read, not its name.
    fake = tmp_path / f"error_log-1{suffix}"
    fake.write_bytes(GOOD_LOG)
    result = run("--format", "json", fake, good)
    report = json_report(result)

    assert result.returncode == 1
    assert report["summary"]["errors"] == []
    assert report["summary"]["unparsed"] == 0
    assert GOOD_RULE in rules_found(report)


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_compressed_without_suffix(tmp_path, suffix):
    packed = tmp_path / "error_log-20240101"
    packed.write_bytes(COMPRESSORS[suffix](GOOD_LOG))

    assert rules_found(json_report(run("--format", "json", packed))) == {GOOD_RULE}


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_compressed_on_stdin(suffix):
    result = subprocess.run(
        [sys.executable, "-m", "nsslog", "--format", "json"],
        input=COMPRESSORS[suffix](GOOD_LOG), capture_output=True, timeout=60,
    )

    assert rules_found(json.loads(result.stdout)) == {GOOD_RULE}


def _corrupt_deflate() -> bytes:
    """A gzip file whose deflate stream is invalid right after the header."""
    packed = bytearray(gzip.compress(CODE_LINE * 2000))
    for index in range(12, 20):
        packed[index] ^= 0xFF
    try:
        gzip.decompress(bytes(packed))
    except zlib.error:
        return bytes(packed)
    raise AssertionError("the damaged gzip file decompressed without a zlib error")


def test_corrupt_gzip_names_file(tmp_path, good):
    broken = tmp_path / "error_log-2.gz"
    broken.write_bytes(_corrupt_deflate())
    result = run("--format", "json", "--keep-order", broken, good)

    assert result.returncode == 2
    assert f"nsslog: error: {broken}: read failed".encode() in result.stderr
    assert b"internal error" not in result.stderr


def test_corrupt_gzip_rest_analysed(tmp_path, good):
    broken = tmp_path / "error_log-2.gz"
    broken.write_bytes(_corrupt_deflate())
    result = run("--format", "json", "--keep-order", broken, good)

    assert result.stdout, result.stderr
    assert GOOD_RULE in rules_found(json_report(result))


# What an incremental decompressor recovers from the front of a damaged file.
STREAM_DECOMPRESSORS = {
    ".gz": lambda: zlib.decompressobj(wbits=31),
    ".bz2": bz2.BZ2Decompressor,
    ".xz": lzma.LZMADecompressor,
}


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_truncated_file_keeps_lines(tmp_path, good, suffix):
    lines = b"".join(CODE_LINE + b" %d\n" % number for number in range(20_000))
    packed = COMPRESSORS[suffix](lines)
    truncated = tmp_path / f"error_log-3{suffix}"
    truncated.write_bytes(packed[: len(packed) * 3 // 4])
    recoverable = STREAM_DECOMPRESSORS[suffix]().decompress(truncated.read_bytes()).count(b"\n")
    result = run("--format", "json", "--keep-order", truncated, good)
    summary = json_report(result)["summary"]

    assert result.returncode == 2
    assert f"nsslog: error: {truncated}: read failed".encode() in result.stderr
    assert summary["lines"] - GOOD_LINES >= recoverable


def _rotated_set(folder: Path) -> list[Path]:
    """Write a logrotate-style set, one day per file, newest in the plain error_log."""
    days = [
        ("error_log-20240101.gz", "Mon Jan 01"),
        ("error_log-20240102.bz2", "Tue Jan 02"),
        ("error_log-20240103.xz", "Wed Jan 03"),
        ("error_log", "Thu Jan 04"),
    ]
    paths = []
    for name, day in days:
        line = CODE_LINE.replace(b"Mon Jan 01", day.encode()) + b"\n"
        path = folder / name
        compress = COMPRESSORS.get(path.suffix, lambda data: data)
        path.write_bytes(compress(line))
        paths.append(path)
    return paths


def test_rotated_glob_in_time_order(tmp_path):
    expected = _rotated_set(tmp_path)
    globbed = sorted(tmp_path.glob("error_log*"))
    report = json_report(run("--format", "json", *globbed))

    assert globbed != expected
    assert report["summary"]["files"] == [str(path) for path in expected]


def test_rotated_glob_time_span(tmp_path):
    _rotated_set(tmp_path)
    summary = json_report(run("--format", "json", *sorted(tmp_path.glob("error_log*"))))["summary"]

    assert summary["first_time"] == "2024-01-01T10:00:00.000001"
    assert summary["last_time"] == "2024-01-04T10:00:00.000001"


def test_rotated_glob_counts_every_line(tmp_path):
    _rotated_set(tmp_path)
    report = json_report(run("--format", "json", *sorted(tmp_path.glob("error_log*"))))

    assert report["summary"]["lines"] == 4
    assert sum(finding["count"] for finding in report["findings"]) == 4


def test_keep_order_reads_as_given(tmp_path):
    _rotated_set(tmp_path)
    globbed = sorted(tmp_path.glob("error_log*"))
    report = json_report(run("--format", "json", "--keep-order", *globbed))

    assert report["summary"]["files"] == [str(path) for path in globbed]


def test_huge_number_field_not_fatal(tmp_path, good):
    # Python refuses int() on more than 4300 digits; one such line must not end the run.
    odd = tmp_path / "odd_log"
    odd.write_bytes(b"[Fri Mar 30 11:43:54 2012] [:error] [pid " + b"1" * 4301 + b"] x\n")
    result = run("--format", "json", "--keep-order", odd, good)

    assert b"internal error" not in result.stderr
    assert json_report(result)["summary"]["lines"] == 1 + GOOD_LINES
