"""Tests of following files and standard input, driven by a real writer process."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nsslog import follow
from nsslog.follow import (
    STDIN_SOURCE,
    Follower,
    FollowedLine,
    FollowNotice,
    IdleTick,
    stop_on_signals,
)

WRITER = Path(__file__).with_name("writer.py")

# Ticks this often give the test loop control back while no line arrives.
TEST_TICK = 0.05

# After the writer has exited and every line arrived, keep following this long, so a
# line delivered twice would be seen.
SETTLE_SECONDS = 0.25

WATCHERS = [pytest.param(True, id="inotify"), pytest.param(False, id="polling")]


@dataclass(frozen=True)
class Run:
    """What a follower delivered while a writer ran, and what the writer wrote."""

    lines: list[FollowedLine]
    notices: list[FollowNotice]
    written: list[bytes]

    @property
    def data(self) -> list[bytes]:
        return [line.data for line in self.lines]


def start_writer(scenario: str, log: Path, record: Path, **options: object) -> subprocess.Popen:
    command = [sys.executable, str(WRITER), scenario, str(log), "--record", str(record)]
    for name, value in options.items():
        command += [f"--{name}", str(value)]
    return subprocess.Popen(command, stdout=subprocess.PIPE if scenario == "stdout" else None)


def run_writer(scenario: str, log: Path, **options: object) -> None:
    """Run a writer to its end, for tests that check the follower between two writers."""
    record = log.with_suffix(".record")
    assert start_writer(scenario, log, record, **options).wait(timeout=10) == 0


def follow_writer(follower: Follower, process: subprocess.Popen, record: Path) -> Run:
    """Collect events until the writer has exited, all its lines arrived and nothing more came."""
    lines: list[FollowedLine] = []
    notices: list[FollowNotice] = []
    written: list[bytes] | None = None
    settle_until = None
    deadline = time.monotonic() + 15

    for event in follower.events():
        if isinstance(event, FollowedLine):
            lines.append(event)
        elif isinstance(event, FollowNotice):
            notices.append(event)

        if written is None and process.poll() is not None:
            written = record.read_bytes().splitlines()
        if written is not None and len(lines) >= len(written) and settle_until is None:
            settle_until = time.monotonic() + SETTLE_SECONDS
        if settle_until is not None and time.monotonic() >= settle_until:
            break
        if time.monotonic() >= deadline:
            break

    process.wait(timeout=5)
    assert process.returncode == 0
    return Run(lines, notices, written or record.read_bytes().splitlines())


def follow_scenario(tmp_path: Path, scenario: str, use_inotify: bool, **options: object) -> Run:
    log = tmp_path / "error_log"
    record = tmp_path / "written"
    if scenario != "create-later":
        log.write_bytes(b"[Fri Dec 04 20:00:00 2026] [:error] old line before start\n")

    follower = Follower([str(log)], tick_interval=TEST_TICK, use_inotify=use_inotify)
    assert follower.uses_inotify == use_inotify, "inotify unavailable: is inotify_simple installed?"
    with follower:
        process = start_writer(scenario, log, record, **{"lines": 24, **options})
        return follow_writer(follower, process, record)


@pytest.mark.parametrize("use_inotify", WATCHERS)
@pytest.mark.parametrize(
    "scenario", ["append", "partial", "rename", "copytruncate", "delete", "create-later"]
)
def test_scenario_delivers_each_line_once(tmp_path: Path, scenario: str, use_inotify: bool) -> None:
    run = follow_scenario(tmp_path, scenario, use_inotify)

    assert run.written, "the writer wrote nothing"
    assert run.data == run.written


@pytest.mark.parametrize("use_inotify", WATCHERS)
def test_rename_late_writes_to_both_files(tmp_path: Path, use_inotify: bool) -> None:
    run = follow_scenario(tmp_path, "rename-late", use_inotify)

    assert sorted(run.data) == sorted(run.written)
    for tag in (b" old", b" new"):
        delivered = [data for data in run.data if data.endswith(tag)]
        written = [data for data in run.written if data.endswith(tag)]
        assert delivered == written, f"lines ending in {tag!r} out of order"


def test_append_line_numbers_continue_file(tmp_path: Path) -> None:
    run = follow_scenario(tmp_path, "append", use_inotify=True)

    assert [line.line_number for line in run.lines] == list(range(2, len(run.written) + 2))


def test_rename_switches_to_new_file(tmp_path: Path) -> None:
    run = follow_scenario(tmp_path, "rename", use_inotify=True, lines=8)

    assert [line.line_number for line in run.lines] == [2, 3, 4, 5, 6, 7, 1, 2]
    assert "file replaced; following the new file" in [notice.message for notice in run.notices]


def test_missing_file_reported_once(tmp_path: Path) -> None:
    run = follow_scenario(tmp_path, "create-later", use_inotify=True)

    messages = [notice.message for notice in run.notices]
    assert messages.count("no such file; waiting for it to be created") == 1
    assert messages.count("file appeared; following it") == 1


def test_copytruncate_restarts_line_numbers(tmp_path: Path) -> None:
    run = follow_scenario(tmp_path, "copytruncate", use_inotify=True, lines=8)

    assert [line.line_number for line in run.lines] == [2, 3, 4, 5, 1, 2, 3, 4]


@pytest.mark.parametrize("lines_after", [3, 30], ids=["shorter", "longer"])
def test_truncate_regrow_between_checks(tmp_path: Path, lines_after: int) -> None:
    log = tmp_path / "error_log"
    log.write_bytes(b"")
    follower = Follower([str(log)], use_inotify=False)
    with follower:
        run_writer("append", log, lines=10, pause=0)
        before = [event for event in follower.check() if isinstance(event, FollowedLine)]
        run_writer("truncate-regrow", log, lines=lines_after)
        after = [event for event in follower.check() if isinstance(event, FollowedLine)]

    assert len(before) == 10
    assert [line.line_number for line in after] == list(range(1, lines_after + 1))
    assert all(line.data.endswith(b" after truncation") for line in after)


def test_start_skips_existing_lines(tmp_path: Path) -> None:
    log = tmp_path / "error_log"
    log.write_bytes(b"one\ntwo\n")
    with Follower([str(log)], use_inotify=False) as follower:
        with log.open("ab") as writer:
            writer.write(b"three\n")
        lines = [event for event in follower.check() if isinstance(event, FollowedLine)]

    assert lines == [FollowedLine(str(log), 3, b"three")]


def test_start_waits_for_partial_line(tmp_path: Path) -> None:
    log = tmp_path / "error_log"
    log.write_bytes(b"one\ntw")
    with Follower([str(log)], use_inotify=False) as follower:
        first = [event for event in follower.check() if isinstance(event, FollowedLine)]
        with log.open("ab") as writer:
            writer.write(b"o\r\n")
        second = [event for event in follower.check() if isinstance(event, FollowedLine)]

    assert first == []
    assert second == [FollowedLine(str(log), 2, b"two")]


def test_from_start_reads_existing_lines(tmp_path: Path) -> None:
    log = tmp_path / "error_log"
    log.write_bytes(b"one\ntwo\n")
    with Follower([str(log)], from_start=True, use_inotify=False) as follower:
        lines = [event.data for event in follower.check() if isinstance(event, FollowedLine)]

    assert lines == [b"one", b"two"]


def test_directory_reported_not_followed(tmp_path: Path) -> None:
    with Follower([str(tmp_path)], use_inotify=False) as follower:
        notices = [event for event in follower.check() if isinstance(event, FollowNotice)]

    assert [notice.message for notice in notices] == ["cannot read: not a regular file; retrying"]


def test_stdin_pipe_delivers_each_line_once(tmp_path: Path) -> None:
    record = tmp_path / "written"
    process = start_writer("stdout", tmp_path / "unused", record, lines=12)
    follower = Follower(["-"], tick_interval=TEST_TICK, stdin_fd=process.stdout.fileno())
    with follower:
        events = list(follower.events())
    process.wait(timeout=5)

    lines = [event for event in events if isinstance(event, FollowedLine)]
    assert [line.data for line in lines] == record.read_bytes().splitlines()
    assert {line.source for line in lines} == {STDIN_SOURCE}


def test_stdin_end_flushes_partial_line() -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"one\ntwo")
    os.close(write_end)
    with Follower(["-"], stdin_fd=read_end) as follower:
        lines = [event.data for event in follower.events() if isinstance(event, FollowedLine)]
    os.close(read_end)

    assert lines == [b"one", b"two"]


def test_idle_follower_sends_ticks(tmp_path: Path) -> None:
    log = tmp_path / "error_log"
    log.write_bytes(b"")
    ticks = 0
    with Follower([str(log)], tick_interval=TEST_TICK) as follower:
        for event in follower.events():
            ticks += isinstance(event, IdleTick)
            if ticks == 3:
                break

    assert ticks == 3


def test_stop_from_thread_ends_events(tmp_path: Path) -> None:
    log = tmp_path / "error_log"
    log.write_bytes(b"")
    with Follower([str(log)], tick_interval=10.0) as follower:
        threading.Timer(0.1, follower.stop).start()
        started = time.monotonic()
        list(follower.events())

    assert time.monotonic() - started < 1.0


def test_sigterm_stops_follower(tmp_path: Path) -> None:
    log = tmp_path / "error_log"
    log.write_bytes(b"")
    with Follower([str(log)], tick_interval=10.0) as follower, stop_on_signals(follower):
        threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGTERM)).start()
        list(follower.events())

    assert follower.stop_signal == signal.SIGTERM


def test_signal_handlers_restored(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    with Follower([], use_inotify=False) as follower, stop_on_signals(follower):
        pass

    assert signal.getsignal(signal.SIGTERM) is before


# -- nsslog -f: the command line in follow mode ---------------------------------------

SEED_LOG = Path(__file__).parent / "data" / "seed-renegotiation-2.2.log"
RENEGOTIATION_RULE = "nss-renegotiation-refused"


class Output:
    """What an nsslog process wrote to one pipe so far, read without buffering."""

    def __init__(self, pipe) -> None:
        self.fd = pipe.fileno()
        self.data = b""

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")

    def wait_for(self, text: str, timeout: float = 10) -> None:
        """Read until ``text`` was written; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while text.encode() not in self.data:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self.fd, 65536) if ready else b""
            assert chunk, f"nsslog did not write {text!r} within {timeout} s; it wrote {self.text!r}"
            self.data += chunk

    def read_to_end(self) -> None:
        while chunk := os.read(self.fd, 65536):
            self.data += chunk


@dataclass(frozen=True)
class Session:
    """The output of one `nsslog -f` run, stopped by a signal or by the end of its input."""

    status: int
    events: list[dict]
    stdout: str
    stderr: str

    def last_finding(self, rule: str) -> dict:
        return [event for event in self.events if event.get("rule") == rule][-1]

    @property
    def summary(self) -> dict:
        return self.events[-1]


# nsslog processes of the running test, killed afterwards if a failed test left them running.
STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def kill_leftover_nsslog() -> Iterator[None]:
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


class Nsslog:
    """An `nsslog` process started with the given arguments, its pipes read as it runs."""

    def __init__(self, *arguments: str, stdin: int | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nsslog", *arguments],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        STARTED.append(self.process)
        self.stdout = Output(self.process.stdout)
        self.stderr = Output(self.process.stderr)

    def finish(self, stop_signal: int | None = None) -> Session:
        """Send ``stop_signal`` if given, then read both pipes to the end and wait for the exit."""
        if stop_signal is not None:
            self.process.send_signal(stop_signal)
        self.stdout.read_to_end()
        self.stderr.read_to_end()
        self.process.wait(timeout=10)

        lines = self.stdout.text.splitlines()
        events = [json.loads(line) for line in lines if line.startswith("{")]
        return Session(self.process.returncode, events, self.stdout.text, self.stderr.text)


def batch_counts(path: Path) -> dict[str, int]:
    result = subprocess.run(
        [sys.executable, "-m", "nsslog", str(path), "--format", "json"],
        capture_output=True, text=True, timeout=30,
    )
    return {finding["rule"]: finding["count"] for finding in json.loads(result.stdout)["findings"]}


def run_writer_into(scenario: str, log: Path, record: Path, **options: object) -> None:
    assert start_writer(scenario, log, record, source=SEED_LOG, **options).wait(timeout=15) == 0


@pytest.mark.parametrize("scenario", ["rename", "copytruncate", "delete"])
def test_nsslog_follow_counts_match_batch(tmp_path: Path, scenario: str) -> None:
    log = tmp_path / "error_log"
    record = tmp_path / "written"
    log.write_bytes(b"")
    nsslog = Nsslog("-f", "--from-start", str(log), "--format", "jsonl")
    run_writer_into("append", log, record, lines=4)
    nsslog.stdout.wait_for('"event": "finding"')

    run_writer_into(scenario, log, record, lines=24)
    expected = batch_counts(record)
    nsslog.stdout.wait_for(f'"count": {expected[RENEGOTIATION_RULE]},')
    session = nsslog.finish(signal.SIGTERM)

    written = len(record.read_bytes().splitlines())
    assert session.summary["event"] == "summary"
    assert session.summary["summary"]["lines"] == written
    final = {finding["rule"]: finding["count"] for finding in session.summary["findings"]}
    assert final == expected
    assert session.last_finding(RENEGOTIATION_RULE)["count"] == final[RENEGOTIATION_RULE]


def test_nsslog_follow_sigterm_exit_status(tmp_path: Path) -> None:
    log = tmp_path / "error_log"
    log.write_bytes(SEED_LOG.read_bytes())
    nsslog = Nsslog("-f", "--from-start", str(log), "--format", "jsonl")
    nsslog.stdout.wait_for('"event": "finding"')
    session = nsslog.finish(signal.SIGTERM)

    assert session.status == 1
    assert "Traceback" not in session.stderr
    assert [event["event"] for event in session.events] == ["finding", "summary"]


def test_nsslog_follow_sigint_prints_summary(tmp_path: Path) -> None:
    log = tmp_path / "error_log"
    log.write_bytes(b"[Fri Mar 30 11:43:54 2012] [info] Connection to child 1 established\n")
    missing = tmp_path / "ssl_error_log"
    nsslog = Nsslog("-f", "--from-start", str(log), str(missing), "--format", "jsonl")
    # The notice on the missing file comes once nsslog follows, with its handlers set.
    nsslog.stderr.wait_for("no such file")
    session = nsslog.finish(signal.SIGINT)

    assert session.status == 0
    assert "Traceback" not in session.stderr
    assert session.summary["summary"]["lines"] == 1


def test_nsslog_follow_stdin_ends_with_input() -> None:
    read_end, write_end = os.pipe()
    nsslog = Nsslog("-f", "-", "--format", "jsonl", stdin=read_end)
    os.close(read_end)
    os.write(write_end, SEED_LOG.read_bytes())
    os.close(write_end)
    session = nsslog.finish()

    assert session.status == 1
    assert session.last_finding(RENEGOTIATION_RULE)["count"] == 1
    assert session.summary["summary"]["files"] == ["<stdin>"]


def test_nsslog_follow_pipe_gets_json_lines(tmp_path: Path) -> None:
    log = tmp_path / "error_log"
    log.write_bytes(SEED_LOG.read_bytes())
    nsslog = Nsslog("-f", "--from-start", str(log))
    nsslog.stdout.wait_for("\n")
    session = nsslog.finish(signal.SIGTERM)

    assert session.events[0]["event"] == "finding"


def test_nsslog_follow_terminal_view(tmp_path: Path) -> None:
    log = tmp_path / "error_log"
    log.write_bytes(SEED_LOG.read_bytes())
    nsslog = Nsslog("-f", "--from-start", str(log), "--color", "always")
    nsslog.stdout.wait_for("Evidence:")
    session = nsslog.finish(signal.SIGTERM)

    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", session.stdout)

    assert "Following" in plain
    assert RENEGOTIATION_RULE in plain
    assert "Lines: 4 read" in plain


def test_nsslog_follow_missing_file_notice(tmp_path: Path) -> None:
    nsslog = Nsslog("-f", str(tmp_path / "error_log"), "--format", "jsonl")
    nsslog.stderr.wait_for("\n")
    session = nsslog.finish(signal.SIGTERM)

    assert "no such file; waiting for it to be created" in session.stderr
    assert session.summary["event"] == "summary"


def test_nsslog_follow_rejects_compressed(tmp_path: Path) -> None:
    log = tmp_path / "error_log.gz"
    log.write_bytes(b"")
    session = Nsslog("-f", str(log)).finish()

    assert session.status == 2


def test_line_endings_numbered_as_batch(tmp_path: Path) -> None:
    log = tmp_path / "error_log"
    log.write_bytes(b"one\rtwo\r\nthree\n")
    with Follower([str(log)], use_inotify=False) as follower:
        with log.open("ab") as writer:
            writer.write(b"four\rfive\r\n")
        lines = [event for event in follower.check() if isinstance(event, FollowedLine)]

    assert [(line.line_number, line.data) for line in lines] == [(4, b"four"), (5, b"five")]


def test_crlf_split_across_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(follow, "READ_CHUNK_BYTES", 1)
    log = tmp_path / "error_log"
    log.write_bytes(b"x" * 1023 + b"\r\n" + b"a\rb\n")
    with Follower([str(log)], use_inotify=False) as follower:
        with log.open("ab") as writer:
            writer.write(b"c\r\nd\n")
        lines = [event for event in follower.check() if isinstance(event, FollowedLine)]

    assert [(line.line_number, line.data) for line in lines] == [(4, b"c"), (5, b"d")]


def test_file_renamed_back_not_reread(tmp_path: Path) -> None:
    log = tmp_path / "error_log"
    rotated = tmp_path / "error_log.1"
    log.write_bytes(b"one\n")
    with Follower([str(log)], from_start=True, use_inotify=False) as follower:
        first = [event.data for event in follower.check() if isinstance(event, FollowedLine)]
        log.rename(rotated)
        log.write_bytes(b"two\n")
        second = [event.data for event in follower.check() if isinstance(event, FollowedLine)]
        log.unlink()
        rotated.rename(log)
        with log.open("ab") as writer:
            writer.write(b"three\n")
        third = [event.data for event in follower.check() if isinstance(event, FollowedLine)]

    assert first == [b"one"]
    assert second == [b"two"]
    assert third == [b"three"]


def test_nsslog_follow_withdraws_taken_over_finding(tmp_path: Path) -> None:
    # The code line first gives its own finding. The context line that follows makes a
    # sequence rule take that line over, so the first finding is withdrawn.
    lab = Path(__file__).parent / "data" / "modnss-lab" / "j1_expired_server_cert_enforce.log"
    code_line, context_line = lab.read_text().splitlines()[84:86]
    log = tmp_path / "error_log"
    log.write_text("")
    nsslog = Nsslog("-f", str(log), "--format", "jsonl")
    time.sleep(0.5)

    with log.open("a") as stream:
        stream.write(code_line + "\n")
    nsslog.stdout.wait_for('"event": "finding"')
    with log.open("a") as stream:
        stream.write(context_line + "\n")
    nsslog.stdout.wait_for('"event": "withdrawn"')
    session = nsslog.finish(signal.SIGTERM)

    final = [finding["rule"] for finding in session.summary["findings"]]
    assert session.status == 1
    assert "Traceback" not in session.stderr
    assert "internal error" not in session.stderr
    assert final == ["nss-server-cert-invalid-at-start"]


def test_nsslog_follow_redacts_events(tmp_path: Path) -> None:
    log = tmp_path / "error_log"
    log.write_text(
        "[Fri Dec 04 19:33:11.462138 2026] [:error] [pid 19691:tid 19691] [client 192.0.2.10:51234] "
        "Bad remote server certificate: -8179\n"
    )
    nsslog = Nsslog("-f", "--from-start", "--redact", str(log), "--format", "jsonl")
    nsslog.stdout.wait_for('"event": "finding"')
    session = nsslog.finish(signal.SIGTERM)

    assert "192.0.2.10" not in session.stdout
    assert "<ip-1>:51234" in session.events[0]["evidence"][0]["text"]
    assert "<ip-1>:51234" in session.summary["findings"][0]["evidence"][0]["text"]


def test_nsslog_follow_counts_partial_line_at_stop(tmp_path: Path) -> None:
    log = tmp_path / "error_log"
    log.write_bytes(SEED_LOG.read_bytes() + b"[Fri Mar 30 11:43:55 2012] [info] no newline yet")
    nsslog = Nsslog("-f", "--from-start", str(log), "--format", "jsonl")
    nsslog.stdout.wait_for('"event": "finding"')
    session = nsslog.finish(signal.SIGTERM)

    assert session.summary["summary"]["lines"] == 5
    assert session.summary["summary"]["parsed"] == 5
