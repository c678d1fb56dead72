"""Measure follow mode: the delay from a line being written to its finding being printed, and idle CPU.

Usage: python bench/follow_latency.py [--samples N] [--idle SECONDS] [--nsslog COMMAND]

The benchmark starts ``nsslog -f LOG --format jsonl`` with the default settings.  Every
0.4 s it appends a line that completes a finding, because nsslog holds back repeats of a
finding for 0.25 s.  It times each line until its ``{"event": "finding"}`` object can be
read from nsslog's standard output.  Then it leaves the log alone and reads the CPU time
nsslog uses while idle from /proc.  Finally it measures the follower alone, with inotify
and with polling: the delay until an appended line is delivered, and the CPU while idle.  It prints its figures; it is not a test and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import select
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# A mod_nss failure on httpd 2.2: the debug line announcing a renegotiation, then the NSS
# refusal (-12176) that completes the finding nss-renegotiation-refused.
STEP_LINE = "[{stamp}] [debug] nss_engine_kernel.c(309): Changed client verification type will force renegotiation\n"
FAILURE_LINE = "[{stamp}] [debug] nss_engine_kernel.c(418): Re-negotation request failed: returned error -12176\n"

SAMPLE_SPACING = 0.4
TARGET_SECONDS = 0.25

FOLLOWER_IDLE_SCRIPT = """
import sys
from nsslog.follow import Follower
with Follower([sys.argv[1]], use_inotify=sys.argv[2] == "inotify") as follower:
    for event in follower.events():
        pass
"""


def stamp() -> str:
    return time.strftime("%a %b %d %H:%M:%S %Y")


def cpu_seconds(pid: int) -> float:
    """Return the user and system CPU time of a process, read from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of proc(5), utime and stime, are the 12th and 13th after the name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu_percent(pid: int, seconds: float) -> float:
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return 100 * (cpu_seconds(pid) - before) / seconds


def read_event(stdout, timeout: float) -> dict | None:
    """Read the next JSON line of nsslog, or return None after ``timeout`` seconds."""
    ready, _, _ = select.select([stdout], [], [], timeout)
    if not ready:
        return None
    line = stdout.readline()
    return json.loads(line) if line else None


def write_finding(log: Path) -> None:
    with log.open("a") as writer:
        writer.write(STEP_LINE.format(stamp=stamp()) + FAILURE_LINE.format(stamp=stamp()))


def measure_latency(command: list[str], log: Path, samples: int) -> tuple[list[float], subprocess.Popen]:
    """Start nsslog on ``log`` and time ``samples`` findings; return the delays and the process."""
    process = subprocess.Popen([*command, "-f", str(log), "--format", "jsonl"], stdout=subprocess.PIPE)

    # The first finding also waits for nsslog to start; it is not counted.
    deadline = time.monotonic() + 30
    event = None
    while event is None and time.monotonic() < deadline:
        write_finding(log)
        event = read_event(process.stdout, 1.0)
    if event is None:
        process.kill()
        sys.exit("nsslog printed no finding within 30 s; check that it runs: " + shlex.join(command))

    delays = []
    for _ in range(samples):
        time.sleep(SAMPLE_SPACING)
        written = time.perf_counter()
        write_finding(log)
        event = read_event(process.stdout, 2.0)
        if event is None or event.get("event") != "finding":
            delays.append(float("inf"))
            continue
        delays.append(time.perf_counter() - written)
    return delays, process


def follower_delays(log: Path, use_inotify: bool, samples: int) -> list[float]:
    """Time ``samples`` appended lines through a Follower running in a thread, without analysis."""
    from nsslog.follow import FollowedLine, Follower

    delivered: queue.Queue[float] = queue.Queue()

    def consume(follower: Follower) -> None:
        for event in follower.events():
            if isinstance(event, FollowedLine) and b"-12176" in event.data:
                delivered.put(time.perf_counter())

    delays = []
    with Follower([str(log)], use_inotify=use_inotify) as follower:
        thread = threading.Thread(target=consume, args=(follower,))
        thread.start()
        for _ in range(samples):
            # A random pause keeps the writes out of step with the polling interval.
            time.sleep(random.uniform(0.05, 0.25))
            written = time.perf_counter()
            write_finding(log)
            delays.append(delivered.get(timeout=5) - written)
        follower.stop()
        thread.join()
    return delays


def follower_idle_cpu(log: Path, mode: str, seconds: float) -> float:
    process = subprocess.Popen([sys.executable, "-c", FOLLOWER_IDLE_SCRIPT, str(log), mode])
    try:
        time.sleep(1.0)
        return idle_cpu_percent(process.pid, seconds)
    finally:
        process.terminate()
        process.wait()


def print_latency(title: str, delays: list[float]) -> None:
    ordered = sorted(delays)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    verdict = "within" if p95 < TARGET_SECONDS else "above"
    print(f"{title}, {len(delays)} samples:")
    print(f"  median {statistics.median(ordered) * 1000:7.1f} ms")
    print(f"  p95    {p95 * 1000:7.1f} ms ({verdict} the {TARGET_SECONDS * 1000:.0f} ms target)")
    print(f"  max    {ordered[-1] * 1000:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=30, help="findings to time (default 30)")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measurement (default 10)")
    parser.add_argument("--nsslog", default=f"{shlex.quote(sys.executable)} -m nsslog",
                        help="command that runs nsslog (default: this Python with -m nsslog)")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "error_log"
        log.touch()

        delays, process = measure_latency(shlex.split(options.nsslog), log, options.samples)
        print_latency("nsslog -f: delay from write to finding printed", delays)
        try:
            print(f"nsslog -f idle CPU over {options.idle:.0f} s: {idle_cpu_percent(process.pid, options.idle):.2f} %")
        finally:
            process.terminate()
            process.wait()

        for mode in ("inotify", "polling"):
            delays = follower_delays(log, mode == "inotify", options.samples)
            print_latency(f"follower alone ({mode}): delay from write to line delivered", delays)
            percent = follower_idle_cpu(log, mode, options.idle)
            print(f"follower alone ({mode}) idle CPU over {options.idle:.0f} s: {percent:.2f} %")

    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {os.uname().sysname} {os.uname().release}")


if __name__ == "__main__":
    main()
