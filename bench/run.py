"""Benchmark nsslog on generated error_logs of 100k, 1M and 5M lines.

For each size, in the same run: nsslog (JSON report, so rendering is included), ``grep -cE``
with an NSS pattern over the same file (the floor), and a bare Python loop that only reads
the lines. Each is run several times. The table shows the median wall time, the lines per
second, the peak RSS of the child process, and the ratios to grep and to the bare loop. The
first nsslog run of each size is also checked against the expected findings and line
accounting that bench/generate.py wrote. Start-up time is measured on ``nsslog --version``
and ``nsslog explain -12176``. Last, each target (time, memory, growth, start-up) is printed
as met or not met.

Usage: python bench/run.py [--sizes 100000,1000000,5000000] [--repeat 3] [--plain]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate  # noqa: E402 - bench/ is not a package

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"

GREP_PATTERN = r"SSL Library Error|Bad remote server certificate|-1[12][0-9]{3}|-8[01][0-9]{2}|Re-negot"

BARE_LOOP = (
    "import sys\n"
    "count = 0\n"
    "with open(sys.argv[1], 'rb') as stream:\n"
    "    for line in stream:\n"
    "        count += 1\n"
    "print(count)\n"
)


@dataclass
class Measure:
    """Median wall time in seconds and peak RSS in MiB of one command over several runs."""

    seconds: float
    rss_mib: float
    output: bytes


def run_once(command: list[str]) -> tuple[float, float, bytes]:
    """Run a command; return its wall time, its own peak RSS (MiB) and its stdout.

    Standard error goes to a temporary file and is printed when the command fails.
    """
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors)
        output = process.stdout.read()
        # wait4 gives the rusage of this child alone; RUSAGE_CHILDREN would be the
        # maximum over every child so far.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode not in (0, 1):
            errors.seek(0)
            message = errors.read().decode("utf-8", "replace")[-2000:]
            print(f"{command[-1]}: exit status {process.returncode}\n{message}", file=sys.stderr)
    return seconds, usage.ru_maxrss / 1024, output


def measure(command: list[str], repeat: int) -> Measure:
    """Run a command `repeat` times; return the median time and the largest peak RSS."""
    runs = [run_once(command) for _ in range(repeat)]
    return Measure(
        seconds=statistics.median(run[0] for run in runs),
        rss_mib=max(run[1] for run in runs),
        output=runs[0][2],
    )


def nsslog_command(plain: bool) -> list[str]:
    """Return the command that runs nsslog, or the line-by-line driver with --plain."""
    if plain:
        return [sys.executable, str(BENCH_DIR / "plain_cli.py")]
    return [sys.executable, "-m", "nsslog"]


def ensure_log(lines: int, seed: int) -> Path:
    """Generate the log of this size once; later runs reuse it."""
    path = OUT_DIR / f"error_log-{lines}-seed{seed}.log"
    if not path.exists() or not generate.expected_path(path).exists():
        print(f"generating {path.name} ...", file=sys.stderr, flush=True)
        generate.generate(path, lines, seed)
    return path


def check_findings(report_json: bytes, path: Path) -> list[str]:
    """Compare an nsslog JSON report with the expected file; return the differences."""
    expected = json.loads(generate.expected_path(path).read_text(encoding="utf-8"))
    try:
        report = json.loads(report_json)
    except json.JSONDecodeError:
        return ["nsslog wrote no JSON report (see the error above)"]
    problems = []

    summary = report["summary"]
    for key in ("lines", "parsed", "continuation", "unparsed"):
        if summary[key] != expected[key]:
            problems.append(f"{key}: expected {expected[key]}, got {summary[key]}")

    found = {}
    for finding in report["findings"]:
        name = finding["rule"]
        if name == "nss-code":
            name = f"nss-code:{finding['codes'][0]['code']}"
        found[name] = finding["count"]
    for name in sorted(set(found) | set(expected["findings"])):
        want, got = expected["findings"].get(name, 0), found.get(name, 0)
        if want != got:
            problems.append(f"finding {name}: expected {want}, got {got}")
    return problems


def startup(plain: bool, repeat: int) -> list[tuple[str, float]]:
    """Return the median time of the two start-up commands."""
    base = nsslog_command(plain)
    results = []
    for arguments in (["--version"], ["explain", "-12176"]):
        runs = [run_once(base + arguments)[0] for _ in range(max(repeat, 5))]
        results.append(("nsslog " + " ".join(arguments), statistics.median(runs)))
    return results


def machine() -> str:
    """Describe the machine: cores, CPU model, Python version."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, {platform.system()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark nsslog against grep and a bare Python loop.")
    parser.add_argument("--sizes", default="100000,1000000,5000000", help="comma-separated line counts")
    parser.add_argument("--repeat", type=int, default=3, help="runs per command; the median is reported")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated logs")
    parser.add_argument("--plain", action="store_true",
                        help="run nsslog line by line through bench/plain_cli.py, without nsslog.fastscan")
    options = parser.parse_args(argv)

    command = nsslog_command(options.plain)
    print(f"machine: {machine()}")
    print(f"command: {' '.join(command)} --format json FILE")
    print()
    header = (f"{'lines':>9} {'MB':>6} {'nsslog s':>9} {'lines/s':>10} {'RSS MiB':>8} "
              f"{'grep s':>7} {'x grep':>7} {'loop s':>7} {'x loop':>7}  findings")
    print(header)
    print("-" * len(header))

    failed = False
    results: dict[int, tuple[Measure, Measure]] = {}
    for lines in (int(size) for size in options.sizes.split(",")):
        path = ensure_log(lines, options.seed)
        nsslog = measure(command + ["--format", "json", "--fail-on", "never", str(path)], options.repeat)
        grep = measure(["grep", "-cE", GREP_PATTERN, str(path)], options.repeat)
        loop = measure([sys.executable, "-c", BARE_LOOP, str(path)], options.repeat)
        problems = check_findings(nsslog.output, path)
        failed |= bool(problems)
        results[lines] = (nsslog, grep)

        size_mb = path.stat().st_size / 1e6
        print(f"{lines:>9} {size_mb:>6.0f} {nsslog.seconds:>9.2f} {lines / nsslog.seconds:>10,.0f} "
              f"{nsslog.rss_mib:>8.1f} {grep.seconds:>7.3f} {nsslog.seconds / grep.seconds:>7.1f} "
              f"{loop.seconds:>7.3f} {nsslog.seconds / loop.seconds:>7.1f}  "
              f"{'as expected' if not problems else 'DIFFERENT'}", flush=True)
        for problem in problems:
            print(f"    {problem}")

    print()
    starts = startup(options.plain, options.repeat)
    for name, seconds in starts:
        print(f"start-up: {name}: {seconds:.3f} s (median)")
    print()
    for line in target_lines(results, starts):
        print(line)
    return 1 if failed else 0


def target_lines(results: dict[int, tuple[Measure, Measure]], starts: list[tuple[str, float]]) -> list[str]:
    """Return one line per target with the measured figure and whether it is met."""
    checks = []
    million = results.get(1_000_000)
    if million:
        nsslog, grep = million
        checks.append(("1M lines in at most 0.5 s", f"{nsslog.seconds:.2f} s", nsslog.seconds <= 0.5))
        ratio = nsslog.seconds / grep.seconds
        checks.append(("1M lines in at most 8x grep -cE", f"{ratio:.0f}x", ratio <= 8))
    for lines, (nsslog, _) in sorted(results.items()):
        # The target is in MB (10^6 bytes), and rss_mib is in MiB.
        megabytes = nsslog.rss_mib * 1.048576
        checks.append((f"{lines:,} lines: peak RSS at most 40 MB ({nsslog.rss_mib:.1f} MiB)",
                       f"{megabytes:.1f} MB", megabytes <= 40))
    five = results.get(5_000_000)
    if million and five:
        memory = five[0].rss_mib / million[0].rss_mib
        checks.append(("5M lines: RSS at most 1.10x that of 1M", f"{memory:.2f}x", memory <= 1.10))
        growth = five[0].seconds / million[0].seconds
        checks.append(("5M lines: time at most 5.5x that of 1M", f"{growth:.2f}x", growth <= 5.5))
    for name, seconds in starts:
        checks.append((f"{name} in at most 0.15 s", f"{seconds:.3f} s", seconds <= 0.15))

    width = max(len(name) for name, _, _ in checks)
    return ["targets:"] + [f"  {name:<{width}}  {value:>9}  {'met' if met else 'NOT MET'}"
                           for name, value, met in checks]


if __name__ == "__main__":
    sys.exit(main())
