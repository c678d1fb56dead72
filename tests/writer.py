"""A log writer process for the follow tests: writes error_log lines the way httpd and logrotate do.

Usage: python tests/writer.py SCENARIO PATH --record FILE [--lines N] [--pause SECONDS] [--source LOG]

The writer appends through an O_APPEND descriptor, as httpd does, and acts out one
rotation scenario on PATH.  It appends every line it wrote, in write order, to the
record file, which the test compares with what the follower delivered.  The lines are
numbered synthetic error_log lines, or the lines of ``--source`` over and over.  The
scenario ``stdout`` writes to standard output instead of PATH, for following a pipe.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


# Seconds between the last write and the copy of copytruncate: three times the polling
# interval of the follower, so even a slow follower has read every line before the copy.
COPY_PAUSE = 0.3


class Writer:
    """Numbered error_log lines written to files, each also noted in the record."""

    def __init__(self, record: BinaryIO, pause: float, source: list[bytes]) -> None:
        self.record = record
        self.pause = pause
        self.source = source
        self.number = 0

    def next_line(self, tag: str = "") -> bytes:
        """Return the next line: from the source if there is one, else numbered and ending in ``tag``."""
        self.number += 1
        if self.source:
            return self.source[(self.number - 1) % len(self.source)]

        now = time.time()
        stamp = time.strftime("%a %b %d %H:%M:%S", time.localtime(now))
        micros = int(now % 1 * 1_000_000)
        year = time.strftime("%Y", time.localtime(now))
        text = f"[{stamp}.{micros:06d} {year}] [:error] [pid {os.getpid()}] writer line {self.number:05d}{tag}"
        return text.encode()

    def write(self, log: BinaryIO, count: int, tag: str = "") -> None:
        """Write ``count`` lines in bursts of one to three lines, pausing between bursts."""
        written = 0
        while written < count:
            burst = [self.next_line(tag) for _ in range(min(1 + written % 3, count - written))]
            log.write(b"".join(line + b"\n" for line in burst))
            log.flush()
            self.note(burst)
            written += len(burst)
            time.sleep(self.pause)

    def note(self, lines: list[bytes]) -> None:
        self.record.write(b"".join(line + b"\n" for line in lines))
        self.record.flush()


def open_log(path: str) -> BinaryIO:
    return open(path, "ab", buffering=0)


def append(writer: Writer, path: str, count: int) -> None:
    with open_log(path) as log:
        writer.write(log, count)


def partial(writer: Writer, path: str, count: int) -> None:
    """Write every line in two pieces, with a pause between the pieces."""
    with open_log(path) as log:
        for _ in range(count):
            line = writer.next_line()
            log.write(line[:20])
            time.sleep(writer.pause)
            log.write(line[20:] + b"\n")
            writer.note([line])


def rename(writer: Writer, path: str, count: int) -> None:
    """Rotate as logrotate's ``create`` does, with lines still written to the renamed file."""
    with open_log(path) as old:
        writer.write(old, count // 2)
        os.rename(path, path + ".1")
        writer.write(old, count // 4)
    with open_log(path) as new:
        writer.write(new, count - count // 2 - count // 4)


def rename_late(writer: Writer, path: str, count: int) -> None:
    """Rename and re-create, then keep writing to both files, as httpd does until a graceful restart."""
    with open_log(path) as old:
        writer.write(old, count // 3)
        os.rename(path, path + ".1")
        with open_log(path) as new:
            for index in range(count - count // 3):
                if index % 2:
                    writer.write(new, 1, " new")
                else:
                    writer.write(old, 1, " old")


def copytruncate(writer: Writer, path: str, count: int) -> None:
    """Rotate as logrotate's ``copytruncate`` does, after a pause.

    A line written between the follower's last read and the copy is only in the copy,
    so no follower of the path can see it: the pause keeps the test away from that race.
    """
    with open_log(path) as log:
        writer.write(log, count // 2)
        time.sleep(COPY_PAUSE)
        shutil.copyfile(path, path + ".1")
        os.truncate(path, 0)
        writer.write(log, count - count // 2)


def truncate_regrow(writer: Writer, path: str, count: int) -> None:
    """Empty the file and write ``count`` lines at once, with no pause."""
    os.truncate(path, 0)
    with open_log(path) as log:
        lines = [writer.next_line(" after truncation") for _ in range(count)]
        log.write(b"".join(line + b"\n" for line in lines))
        writer.note(lines)


def delete(writer: Writer, path: str, count: int) -> None:
    """Delete the file, wait, create it again and write to the new file."""
    with open_log(path) as log:
        writer.write(log, count // 2)
    time.sleep(6 * writer.pause)
    os.unlink(path)
    time.sleep(6 * writer.pause)
    with open_log(path) as log:
        writer.write(log, count - count // 2)


def create_later(writer: Writer, path: str, count: int) -> None:
    """Create a file that did not exist when the follower started."""
    time.sleep(6 * writer.pause)
    with open_log(path) as log:
        writer.write(log, count)


def stdout(writer: Writer, path: str, count: int) -> None:
    """Write to standard output, with every third line split across two writes."""
    out = sys.stdout.buffer
    for index in range(count):
        line = writer.next_line()
        if index % 3 == 0:
            out.write(line[:15])
            out.flush()
            time.sleep(writer.pause)
            line_end = line[15:]
        else:
            line_end = line
        out.write(line_end + b"\n")
        out.flush()
        writer.note([line])
        time.sleep(writer.pause)


SCENARIOS: dict[str, Callable[[Writer, str, int], None]] = {
    "append": append,
    "partial": partial,
    "rename": rename,
    "rename-late": rename_late,
    "copytruncate": copytruncate,
    "truncate-regrow": truncate_regrow,
    "delete": delete,
    "create-later": create_later,
    "stdout": stdout,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("path", help="the log file to write (ignored by the stdout scenario)")
    parser.add_argument("--record", required=True, help="file that receives every line written")
    parser.add_argument("--lines", type=int, default=40, help="number of lines to write")
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between bursts")
    parser.add_argument("--source", help="log file whose lines are written over and over")
    options = parser.parse_args()

    source = Path(options.source).read_bytes().splitlines() if options.source else []
    with open(options.record, "ab") as record:
        writer = Writer(record, options.pause, source)
        SCENARIOS[options.scenario](writer, options.path, options.lines)


if __name__ == "__main__":
    main()
