"""Property tests: arbitrary bytes and mixtures of real-shaped lines never break nsslog.

Each property feeds generated input to one layer: the parser, the reader, the engine with
the built-in rules, the JSON and text reports, or the CLI. It checks that nothing raises,
that no line or byte is lost, and that the JSON output is valid UTF-8.
"""

from __future__ import annotations

import io
import json
import re
from functools import lru_cache

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rich.console import Console

from nsslog.cli import main
from nsslog.engine import Analysis
from nsslog.parser import LEVELS, Record, parse_line
from nsslog.reader import decode, iter_lines
from nsslog.render import printable, render_report
from nsslog.report import report_to_json
from nsslog.rules import load_rules

# The engine runs every rule's regular expressions on each record, so the pipeline
# properties run fewer examples than the default to keep the file under a minute.
PIPELINE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@lru_cache(maxsize=1)
def builtin_rules():
    return tuple(load_rules())


# -- strategies --------------------------------------------------------------------

DAYS = st.sampled_from(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])
MONTHS = st.sampled_from(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"])
LEVEL_NAMES = st.sampled_from(LEVELS)
CODES = st.sampled_from([-12176, -8179, -8172, -8181, -12285, -12227, -5938, -8038, -16384])


@st.composite
def ctime(draw) -> str:
    """A time as httpd writes it: "Fri Mar 30 11:43:54 2012", optionally with microseconds."""
    day = draw(st.integers(1, 28))
    clock = f"{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}:{draw(st.integers(0, 59)):02d}"
    if draw(st.booleans()):
        clock += f".{draw(st.integers(0, 999_999)):06d}"
    return f"{draw(DAYS)} {draw(MONTHS)} {day:02d} {clock} {draw(st.integers(1990, 2037))}"


MESSAGE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
    max_size=60,
)


@st.composite
def nss_message(draw) -> str:
    """A mod_nss message carrying an NSS error code, followed by free text."""
    code = draw(CODES)
    form = draw(st.sampled_from([
        "SSL Library Error: {code} Certificate is signed by an unknown issuer",
        "Re-negotation request failed: returned error {code}",
        "Bad remote server certificate: {code}",
        "Read error {code}",
        "SSL input filter read failed.",
        "Changed client verification type will force renegotiation",
    ]))
    return form.format(code=code) + draw(st.sampled_from([" ", " [bold]x[/x] "])) + draw(MESSAGE_TEXT)


@st.composite
def httpd24_line(draw) -> tuple[str, str, int]:
    """Build an httpd 2.4 line with an empty (mod_nss) or named module; return line, level and pid."""
    level = draw(LEVEL_NAMES)
    module = draw(st.sampled_from(["", "ssl", "nss", "core"]))
    pid = draw(st.integers(1, 4_194_304))
    tid = f":tid {draw(st.integers(1, 2**64))}" if draw(st.booleans()) else ""
    client = f"[client 192.0.2.{draw(st.integers(0, 255))}:{draw(st.integers(1, 65535))}] " if draw(st.booleans()) else ""
    source = "nss_engine_io.c(1234): " if draw(st.booleans()) else ""
    line = f"[{draw(ctime())}] [{module}:{level}] [pid {pid}{tid}] {source}{client}{draw(nss_message())}"
    return line, level, pid


@st.composite
def httpd22_line(draw) -> tuple[str, str]:
    """Build an httpd 2.2 line, which has no module and no pid; return line and level."""
    level = draw(LEVEL_NAMES)
    source = "nss_engine_kernel.c(418): " if draw(st.booleans()) else ""
    client = "[client 2001:db8::1] " if draw(st.booleans()) else ""
    return f"[{draw(ctime())}] [{level}] {source}{client}{draw(nss_message())}", level


SYSLOG_LINES = st.builds(
    lambda month, day, message: f"{month} {day:2d} 13:21:27 www httpd[4321]: [:error] [pid 4321] {message}",
    MONTHS, st.integers(1, 28), nss_message(),
)
STARTUP_LINES = st.sampled_from([
    "AH00016: Configuration Failed",
    "(98)Address already in use: AH00072: make_sock: could not bind to address [::]:443",
    "Syntax error on line 12 of /etc/httpd/conf.d/nss.conf:",
])

# Any line an error_log may hold: records of every layout, continuations, garbage.
ANY_LINE = st.one_of(
    httpd24_line().map(lambda parts: parts[0]),
    httpd22_line().map(lambda parts: parts[0]),
    SYSLOG_LINES,
    STARTUP_LINES,
    MESSAGE_TEXT,
    st.text(max_size=80).map(lambda text: re.sub(r"[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]", " ", text)),
)
LINE_ENDINGS = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def log_bytes(draw) -> bytes:
    """A mixture of real-shaped lines and raw bytes, with mixed line endings."""
    parts = []
    for line in draw(st.lists(st.one_of(ANY_LINE.map(str.encode), st.binary(max_size=40)), max_size=30)):
        parts.append(line + draw(LINE_ENDINGS))
    if parts and draw(st.booleans()):
        parts[-1] = parts[-1].rstrip(b"\r\n")
    return b"".join(parts)


# -- the parser --------------------------------------------------------------------


@given(st.text())
@example("[pid 1]")
def test_parse_line_any_text(text):
    record = parse_line(text, "f", 7)

    assert record is None or (record.text == text and record.line == 7)


# Python refuses to convert a string of more than 4300 digits to int
# (sys.get_int_max_str_digits), so a number field that long must not reach int().
HUGE = "1" * 4301


@pytest.mark.parametrize(
    "text",
    [
        f"[Fri Mar 30 11:43:54 2012] [:error] [pid {HUGE}] x",
        f"[Fri Mar 30 11:43:54 2012] [:error] [pid 1:tid {HUGE}] x",
        f"[Fri Mar 30 11:43:54 2012] [error] nss_engine_io.c({HUGE}): x",
        f"Oct 18 13:21:27 www httpd[{HUGE}]: x",
        f"Oct 18 13:21:27 www httpd[{HUGE}]: AH00016: Configuration Failed",
    ],
    ids=["pid", "tid", "source-line", "syslog-pid", "syslog-startup-pid"],
)
def test_parse_huge_number_field(text):
    record = parse_line(text)

    assert record is None or record.text == text


@given(httpd24_line())
def test_parse_httpd24_fields(parts):
    line, level, pid = parts
    record = parse_line(line)

    assert isinstance(record, Record)
    assert record.level == level
    assert record.pid == pid


@given(httpd22_line())
def test_parse_httpd22_fields(parts):
    line, level = parts
    record = parse_line(line)

    assert isinstance(record, Record)
    assert record.level == level
    assert record.pid is None


@given(st.one_of(httpd24_line().map(lambda parts: parts[0]), httpd22_line().map(lambda parts: parts[0])))
def test_parse_finds_inserted_code(line):
    record = parse_line(line)
    match = re.search(r"(?:Error:|error|certificate:) (-\d+)", line)

    assert match is None or int(match.group(1)) in record.codes


# -- the reader --------------------------------------------------------------------


@given(st.binary(max_size=300), st.integers(1, 17))
def test_iter_lines_any_chunking(data, chunk_size):
    lines = list(iter_lines(io.BytesIO(data), "f", chunk_size=chunk_size))

    assert lines == data.splitlines()


@given(log_bytes(), st.integers(1, 64))
def test_iter_lines_mixed_endings(data, chunk_size):
    lines = list(iter_lines(io.BytesIO(data), "f", chunk_size=chunk_size))

    assert lines == data.splitlines()


@given(st.binary())
def test_decode_without_loss(data):
    assert decode(data).encode("utf-8", "surrogateescape") == data


# -- the whole pipeline ------------------------------------------------------------


def _analyse(data: bytes) -> tuple[int, Analysis]:
    analysis = Analysis(builtin_rules())
    analysis.start_file("f")
    count = 0
    for number, raw in enumerate(iter_lines(io.BytesIO(data), "f", chunk_size=7), 1):
        analysis.feed("f", number, decode(raw))
        count = number
    return count, analysis


@PIPELINE
@given(log_bytes())
def test_pipeline_accounting(data):
    count, analysis = _analyse(data)
    summary = analysis.report().summary

    assert summary.lines == count
    assert summary.lines == summary.parsed + summary.continuation + summary.unparsed


@PIPELINE
@given(st.binary(max_size=2000))
def test_pipeline_arbitrary_bytes(data):
    count, analysis = _analyse(data)
    summary = analysis.report().summary

    assert summary.lines == len(data.splitlines())
    assert summary.lines == summary.parsed + summary.continuation + summary.unparsed


@PIPELINE
@given(log_bytes())
def test_pipeline_json_valid_utf8(data):
    _, analysis = _analyse(data)
    encoded = report_to_json(analysis.report()).encode("utf-8")

    assert json.loads(encoded.decode("utf-8"))["summary"]["lines"] == len(data.splitlines())


@PIPELINE
@given(log_bytes())
def test_pipeline_evidence_is_input(data):
    _, analysis = _analyse(data)
    lines = data.splitlines()

    for finding in analysis.report().findings:
        for item in finding.evidence:
            assert item.text.encode("utf-8", "surrogateescape") == lines[item.line - 1]


@PIPELINE
@given(log_bytes())
def test_pipeline_text_emits_no_control(data):
    _, analysis = _analyse(data)
    buffer = io.StringIO()
    render_report(analysis.report(), Console(file=buffer, force_terminal=True, width=120))
    without_styles = re.sub(r"\x1b\[[0-9;]*m", "", buffer.getvalue())

    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", without_styles)


@given(st.text())
def test_printable_has_no_control(text):
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]", printable(text))


# -- the command line --------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log_bytes())
def test_cli_stdin_json(data):
    result = CliRunner().invoke(main, ["--format", "json", "-"], input=data)
    summary = json.loads(result.stdout_bytes.decode("utf-8"))["summary"]

    assert result.exit_code in (0, 1)
    assert summary["lines"] == len(data.splitlines())
    assert summary["lines"] == summary["parsed"] + summary["continuation"] + summary["unparsed"]
