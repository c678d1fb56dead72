"""Following error_logs and standard input as they grow, like ``tail -F``.

A :class:`Follower` turns a set of paths (``-`` for standard input) into a stream of
events: every complete line once and in file order, notices for the user, and periodic
ticks.  It keeps following a path through rename and re-create, copytruncate,
truncation, deletion and later re-creation, and a path that does not exist yet.  Two
cases lose lines, and their NOTEs sit in ``_OpenFile``: lines written just before a
copytruncate copy, and a rewrite that keeps the first bytes and the size.

inotify (through ``inotify_simple``) wakes the follower as soon as a file changes.  Where
inotify is missing or a directory cannot be watched, the follower polls instead.  Either
way every wake-up runs the same full check of every path, and a check runs at least every
RECHECK_INTERVAL, so a missed or merged inotify event delays a line but does not lose it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from nsslog.reader import STDIN_NAME

try:
    import inotify_simple
except ImportError:  # not on Linux, or not installed: poll instead
    inotify_simple = None

STDIN_PATH = "-"
STDIN_SOURCE = STDIN_NAME

READ_CHUNK_BYTES = 64 * 1024

# Bytes at the start of a file compared on every check: a file that was truncated and
# then grew past the old read position before the check has other first bytes.
FINGERPRINT_BYTES = 256

# A line longer than this is delivered in pieces, so a file without newlines cannot
# make the buffer grow without end.
MAX_LINE_BYTES = 1024 * 1024

DEFAULT_TICK_INTERVAL = 0.5

# Seconds between checks when inotify does not cover every path.  At 0.1 s a check of
# a few files costs a few stat calls, and the delay stays far below a quarter second.
POLL_INTERVAL = 0.1

# Seconds between checks when inotify covers every path, in case an event is lost
# (inotify queue overflow, a network file system that does not report changes).
RECHECK_INTERVAL = 1.0

# A renamed or deleted file is still read for this long after it last grew, because
# httpd children keep writing to their open descriptor until a graceful restart ends them.
RETIRED_LINGER = 30.0

_DIRECTORY_MASK = 0
_FILE_MASK = 0
if inotify_simple is not None:
    _flags = inotify_simple.flags
    _DIRECTORY_MASK = (
        _flags.CREATE | _flags.MOVED_TO | _flags.MOVED_FROM | _flags.DELETE | _flags.ATTRIB
    )
    _FILE_MASK = _flags.MODIFY | _flags.ATTRIB | _flags.MOVE_SELF | _flags.DELETE_SELF


@dataclass(frozen=True)
class FollowedLine:
    """One complete line of a followed source, without its line ending."""

    source: str
    line_number: int
    data: bytes


@dataclass(frozen=True)
class IdleTick:
    """A periodic tick, also sent while no line arrives; ``time`` is the wall clock (epoch seconds)."""

    time: float


@dataclass(frozen=True)
class FollowNotice:
    """Something the user should hear about a source, such as a missing or replaced file."""

    source: str
    message: str


FollowEvent = FollowedLine | IdleTick | FollowNotice


class _LineBuffer:
    """Splitting of a byte stream into numbered lines, holding back a partial last line.

    Lines end at LF, CRLF or a lone CR, as in batch mode, so both modes number the
    lines of a file alike.
    """

    def __init__(self, source: str, line_number: int = 0) -> None:
        self.source = source
        self.line_number = line_number
        self.partial = b""

    def feed(self, chunk: bytes) -> Iterator[FollowedLine]:
        data = self.partial + chunk
        # A CR at the end may be the first half of a CRLF, so it waits for the next byte.
        cut = max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1))
        if cut < 0:
            self.partial = data
        else:
            self.partial = data[cut + 1 :]
            for piece in data[: cut + 1].splitlines():
                yield self._line(piece)

        if len(self.partial) > MAX_LINE_BYTES:
            yield self._line(self.partial)
            self.partial = b""

    def flush(self) -> Iterator[FollowedLine]:
        """Deliver a partial last line, for a source that will not grow any more."""
        for piece in self.partial.splitlines():
            yield self._line(piece)
        self.partial = b""

    def restart(self) -> None:
        self.line_number = 0
        self.partial = b""

    def _line(self, data: bytes) -> FollowedLine:
        self.line_number += 1
        return FollowedLine(self.source, self.line_number, data)


class _OpenFile:
    """One open inode of a followed path, with the read position and the partial last line."""

    def __init__(self, source: str, fd: int, position: int, line_number: int) -> None:
        status = os.fstat(fd)
        self.fd = fd
        self.identity = (status.st_dev, status.st_ino)
        self.position = position
        self.lines = _LineBuffer(source, line_number)
        self.fingerprint = os.pread(fd, min(position, FINGERPRINT_BYTES), 0)
        self.last_growth = time.monotonic()
        self.watch: int | None = None

    def read_new(self) -> Iterator[FollowEvent]:
        """Read what was appended since the last call; restart at 0 after a truncation."""
        if self._was_truncated():
            # NOTE: lines written after the last read but before logrotate copied the
            # file exist only in the copy, so they are not read.
            yield FollowNotice(self.lines.source, "file truncated; reading it from the start")
            yield from self.lines.flush()
            self.lines.restart()
            self.position = 0
            self.fingerprint = b""

        while chunk := os.pread(self.fd, READ_CHUNK_BYTES, self.position):
            if self.position == len(self.fingerprint) < FINGERPRINT_BYTES:
                self.fingerprint = (self.fingerprint + chunk)[:FINGERPRINT_BYTES]
            self.position += len(chunk)
            self.last_growth = time.monotonic()
            yield from self.lines.feed(chunk)

    def close(self) -> Iterator[FollowedLine]:
        yield from self.lines.flush()
        os.close(self.fd)

    def _was_truncated(self) -> bool:
        # copytruncate and `: > error_log` shrink the file.  When it grew past the old
        # position before this check, only its first bytes show the change.
        # NOTE: a file rewritten with the same first bytes and at least the old size
        # before a check is taken for the old file, and its first lines are skipped.
        if os.fstat(self.fd).st_size < self.position:
            return True
        return os.pread(self.fd, len(self.fingerprint), 0) != self.fingerprint


def _open_at_end(source: str, path: str) -> _OpenFile:
    """Open ``path`` after its last complete line, so a partly written line is read whole."""
    fd = _open_regular_file(path)
    size = os.fstat(fd).st_size
    position = _end_of_last_line(fd, size)
    return _OpenFile(source, fd, position, _count_lines(fd, position))


def _open_at_start(source: str, path: str) -> _OpenFile:
    return _OpenFile(source, _open_regular_file(path), 0, 0)


def _open_regular_file(path: str) -> int:
    """Open ``path`` for reading; raise OSError unless it is a regular file.

    Reading by offset needs a regular file: a directory, FIFO or device cannot be
    followed by path (a pipe can be followed as standard input).
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return fd

    os.close(fd)
    raise OSError(errno.EINVAL, "not a regular file", path)


def _end_of_last_line(fd: int, size: int) -> int:
    """Return the offset just after the last line ending before ``size``, found backwards."""
    end = size
    while end > 0:
        start = max(0, end - READ_CHUNK_BYTES)
        chunk = os.pread(fd, end - start, start)
        # A CR as the last byte of the file may be the first half of a CRLF.
        last_cr_allowed = len(chunk) - 1 if end == size else len(chunk)
        cut = max(chunk.rfind(b"\n"), chunk.rfind(b"\r", 0, last_cr_allowed))
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0


def _count_lines(fd: int, end: int) -> int:
    """Count the line endings (LF, CRLF, lone CR) before ``end``, so numbers match batch mode."""
    count = 0
    position = 0
    previous_ended_in_cr = False
    while position < end:
        chunk = os.pread(fd, min(1024 * READ_CHUNK_BYTES, end - position), position)
        if not chunk:
            break
        count += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
        if previous_ended_in_cr and chunk.startswith(b"\n"):
            count -= 1
        previous_ended_in_cr = chunk.endswith(b"\r")
        position += len(chunk)
    return count


class _FileSource:
    """A followed path: the file it names now, and replaced files still being read."""

    def __init__(self, path: str, from_start: bool) -> None:
        self.path = path
        self.current: _OpenFile | None = None
        self.retired: list[_OpenFile] = []
        self.notices: list[FollowNotice] = []
        self.reported_problem = ""
        self._open_first(from_start)

    def check(self) -> Iterator[FollowEvent]:
        """Read every new line of this path, switching files when the path names a new one."""
        yield from self._drain_notices()
        for retired in self.retired:
            yield from retired.read_new()
        yield from self._close_quiet_retired()

        if self.current is not None:
            yield from self.current.read_new()
        yield from self._follow_path()

    def open_files(self) -> list[_OpenFile]:
        current = [self.current] if self.current is not None else []
        return current + self.retired

    def close(self) -> None:
        for open_file in self.open_files():
            os.close(open_file.fd)
        self.current = None
        self.retired = []

    def _open_first(self, from_start: bool) -> None:
        try:
            if from_start:
                self.current = _open_at_start(self.path, self.path)
            else:
                self.current = _open_at_end(self.path, self.path)
        except OSError as error:
            self._report(error)

    def _follow_path(self) -> Iterator[FollowEvent]:
        try:
            status = os.stat(self.path)
        except OSError as error:
            yield from self._report_now(error)
            return

        if self.current is not None and (status.st_dev, status.st_ino) == self.current.identity:
            return

        try:
            replacement = _open_at_start(self.path, self.path)
        except OSError as error:
            yield from self._report_now(error)
            return

        self.reported_problem = ""
        earlier = self._take_known(replacement.identity)
        if earlier is not None:
            # The path names a file read before, such as a rotated file renamed back:
            # continue it where it stopped instead of reading it again.
            os.close(replacement.fd)
            replacement = earlier
            if replacement is self.current:
                return

        yield FollowNotice(self.path, self._switch_message())
        if self.current is not None:
            self.retired.append(self.current)
        self.current = replacement
        yield from replacement.read_new()

    def _take_known(self, identity: tuple[int, int]) -> _OpenFile | None:
        """Return the open file with this identity, taken out of the retired list."""
        if self.current is not None and self.current.identity == identity:
            return self.current
        for retired in self.retired:
            if retired.identity == identity:
                self.retired.remove(retired)
                return retired
        return None

    def _switch_message(self) -> str:
        if self.current is not None:
            return "file replaced; following the new file"
        return "file appeared; following it"

    def _close_quiet_retired(self) -> Iterator[FollowedLine]:
        now = time.monotonic()
        for retired in list(self.retired):
            if now - retired.last_growth >= RETIRED_LINGER:
                self.retired.remove(retired)
                yield from retired.close()

    def _report(self, error: OSError) -> None:
        """Queue a notice for an error, once until the path can be followed again."""
        problem = error.strerror or str(error)
        if problem == self.reported_problem:
            return
        self.reported_problem = problem
        if isinstance(error, FileNotFoundError) and self.current is not None:
            message = "file removed or renamed; waiting for a new file"
        elif isinstance(error, FileNotFoundError):
            message = "no such file; waiting for it to be created"
        else:
            message = f"cannot read: {problem}; retrying"
        self.notices.append(FollowNotice(self.path, message))

    def _report_now(self, error: OSError) -> Iterator[FollowNotice]:
        self._report(error)
        yield from self._drain_notices()

    def _drain_notices(self) -> Iterator[FollowNotice]:
        notices, self.notices = self.notices, []
        yield from notices


class _StdinSource:
    """Standard input, read whenever it is readable, until end of file."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lines = _LineBuffer(STDIN_SOURCE)
        self.finished = False

    def read_ready(self) -> Iterator[FollowedLine]:
        """Read once; select() has reported the descriptor readable, so this does not block."""
        chunk = os.read(self.fd, READ_CHUNK_BYTES)
        if chunk:
            yield from self.lines.feed(chunk)
            return

        self.finished = True
        yield from self.lines.flush()


class Follower:
    """The events of a set of followed paths, where ``-`` stands for standard input.

    Files are opened when the follower is created: from their last complete line, or
    from the start with ``from_start``.  :meth:`events` then yields every new line,
    notices and ticks until :meth:`stop` is called or, when only standard input is
    followed, until it ends.
    """

    def __init__(
        self,
        paths: Iterable[str],
        *,
        from_start: bool = False,
        tick_interval: float = DEFAULT_TICK_INTERVAL,
        use_inotify: bool = True,
        stdin_fd: int = 0,
    ) -> None:
        self.tick_interval = tick_interval
        self.stop_signal: int | None = None
        self._stopped = False
        self._wake_read, self._wake_write = _nonblocking_pipe()

        self._stdin: _StdinSource | None = None
        self._files: list[_FileSource] = []
        for path in paths:
            if path == STDIN_PATH:
                self._stdin = _StdinSource(stdin_fd)
            else:
                self._files.append(_FileSource(path, from_start))

        self._watches = _Watches(_start_inotify() if use_inotify else None)
        self._watches.update(self._files)

    @property
    def uses_inotify(self) -> bool:
        return self._watches.inotify is not None

    def events(self) -> Iterator[FollowEvent]:
        """Yield lines, notices and ticks until stopped or until no source can grow."""
        yield from self._unless_stopped(self.check())
        now = time.monotonic()
        next_tick = now + self.tick_interval
        next_check = now + self._check_interval()

        while not self._stopped and self._has_sources():
            readable = self._wait(min(next_tick, next_check) - time.monotonic())
            files_changed = self._watches.fileno() in readable and self._watches.read_changes()
            if self._stdin is not None and self._stdin.fd in readable:
                yield from self._unless_stopped(self._stdin.read_ready())

            now = time.monotonic()
            if files_changed or now >= next_check:
                yield from self._unless_stopped(self.check())
                next_check = now + self._check_interval()
            if now >= next_tick and not self._stopped:
                yield IdleTick(time.time())
                next_tick = now + self.tick_interval

        if self._stopped:
            # A partial last line would be lost when following ends, so it counts as a line.
            for source in self._files:
                for open_file in [*source.retired, *([source.current] if source.current else [])]:
                    yield from open_file.lines.flush()
            if self._stdin is not None:
                yield from self._stdin.lines.flush()

    def check(self) -> Iterator[FollowEvent]:
        """Check every followed file once and yield what changed."""
        for source in self._files:
            yield from source.check()
        self._watches.update(self._files)

    def stop(self, signal_number: int | None = None) -> None:
        """End :meth:`events` soon; safe to call from a signal handler or another thread."""
        self.stop_signal = signal_number
        self._stopped = True
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"\0")

    def close(self) -> None:
        for source in self._files:
            source.close()
        self._watches.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def __enter__(self) -> Follower:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _unless_stopped(self, events: Iterable[FollowEvent]) -> Iterator[FollowEvent]:
        for event in events:
            if self._stopped:
                return
            yield event

    def _has_sources(self) -> bool:
        return bool(self._files) or (self._stdin is not None and not self._stdin.finished)

    def _check_interval(self) -> float:
        if self._watches.cover(self._files):
            return RECHECK_INTERVAL
        return POLL_INTERVAL

    def _wait(self, timeout: float) -> set[int]:
        descriptors = [self._wake_read]
        if self._watches.inotify is not None:
            descriptors.append(self._watches.fileno())
        if self._stdin is not None and not self._stdin.finished:
            descriptors.append(self._stdin.fd)

        readable, _, _ = select.select(descriptors, [], [], max(0.0, timeout))
        if self._wake_read in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_read, 64)
        return set(readable)


class _Watches:
    """inotify watches on the directory of every followed path and on every open file.

    A directory watch reports a followed name being created, renamed or deleted.  A file
    watch sits on the inode, so it still reports writes after the file was renamed.
    """

    def __init__(self, inotify: inotify_simple.INotify | None) -> None:
        self.inotify = inotify
        self._directories: dict[str, int] = {}
        self._names: dict[int, set[str]] = {}
        self._file_watches: set[int] = set()

    def fileno(self) -> int:
        return self.inotify.fileno() if self.inotify is not None else -1

    def update(self, sources: list[_FileSource]) -> None:
        """Watch the directories and open files of ``sources``, and nothing else."""
        if self.inotify is None:
            return
        for source in sources:
            self._watch_directory(source.path)

        live: set[int] = set()
        for source in sources:
            for open_file in source.open_files():
                if open_file.watch is None:
                    open_file.watch = self._add(f"/proc/self/fd/{open_file.fd}", _FILE_MASK)
                if open_file.watch is not None:
                    live.add(open_file.watch)
        for stale in self._file_watches - live:
            with contextlib.suppress(OSError):
                self.inotify.rm_watch(stale)
        self._file_watches = live

    def cover(self, sources: list[_FileSource]) -> bool:
        """Tell whether every path's directory is watched, so polling can be slow."""
        if self.inotify is None:
            return False
        return all(_directory_of(source.path) in self._directories for source in sources)

    def read_changes(self) -> bool:
        """Consume pending inotify events; tell whether any of them concerns a followed file."""
        relevant = False
        for event in self.inotify.read(timeout=0):
            if event.mask & inotify_simple.flags.IGNORED:
                self._forget(event.wd)
            # An event of a file watch or a queue overflow (wd -1) has no name set.
            names = self._names.get(event.wd)
            if names is None or event.name in names:
                relevant = True
        return relevant

    def close(self) -> None:
        if self.inotify is not None:
            self.inotify.close()

    def _watch_directory(self, path: str) -> None:
        directory = _directory_of(path)
        watch = self._directories.get(directory)
        if watch is None:
            watch = self._add(directory, _DIRECTORY_MASK)
        if watch is None:
            return
        self._directories[directory] = watch
        self._names.setdefault(watch, set()).add(os.path.basename(path))

    def _add(self, path: str, mask: int) -> int | None:
        try:
            return self.inotify.add_watch(path, mask)
        except OSError:
            # A missing directory is retried on the next check; until then the
            # follower polls.
            return None

    def _forget(self, watch: int) -> None:
        self._names.pop(watch, None)
        self._file_watches.discard(watch)
        for directory, directory_watch in list(self._directories.items()):
            if directory_watch == watch:
                del self._directories[directory]


def _start_inotify() -> inotify_simple.INotify | None:
    if inotify_simple is None:
        return None
    try:
        return inotify_simple.INotify()
    except OSError:
        # The per-user limit of inotify instances is reached: poll instead.
        return None


def _directory_of(path: str) -> str:
    return os.path.dirname(os.path.abspath(path))


def _nonblocking_pipe() -> tuple[int, int]:
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    return read_end, write_end


@contextlib.contextmanager
def stop_on_signals(
    follower: Follower, signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM)
) -> Iterator[Follower]:
    """Make SIGINT and SIGTERM stop ``follower`` instead of raising, while the block runs.

    After the block, ``follower.stop_signal`` holds the signal that stopped it, if any.
    Must be entered in the main thread, as Python runs signal handlers only there.
    """

    def handle(signal_number: int, frame: object) -> None:
        follower.stop(signal_number)

    previous = {number: signal.signal(number, handle) for number in signals}
    try:
        yield follower
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
