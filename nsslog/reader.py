"""Read error_log files and standard input as lines of bytes, without losing any byte.

gzip, bzip2 and xz data are decompressed on the fly, recognised by their first bytes. Lines end at LF, CRLF or a
lone CR. Bytes are decoded as UTF-8 with ``surrogateescape``, so an invalid byte survives
as a lone surrogate and can be shown later in the escaped form ``\\xHH``.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import stat
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from nsslog.parser import parse_line

# 512 KiB: on a 1M-line log, 1 MiB chunks took 3.5 MB more peak memory and ran no faster.
CHUNK_SIZE = 1 << 19
STDIN_NAME = "<stdin>"

# Magic bytes of the compressed formats: gzip (RFC 1952, deflate), bzip2 ("BZh", block size,
# block magic) and xz.
_MAGIC = (
    (re.compile(rb"\x1f\x8b\x08"), gzip.open),
    (re.compile(rb"BZh[1-9]1AY&SY"), bz2.open),
    (re.compile(rb"\xfd7zXZ\x00"), lzma.open),
)
_MAGIC_LENGTH = 10


class InputError(Exception):
    """An input that cannot be read; the message names the file and the reason."""

    def __init__(self, file: str, reason: str):
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason


@dataclass(frozen=True, slots=True)
class InputFile:
    """One input: a path, or standard input when path is "-"."""

    path: str

    @property
    def name(self) -> str:
        return STDIN_NAME if self.path == "-" else self.path


def decode(data: bytes) -> str:
    """Decode log bytes as UTF-8, keeping invalid bytes as lone surrogates."""
    return data.decode("utf-8", "surrogateescape")


def open_input(path: str) -> BinaryIO:
    """Open a file or standard input ("-") for binary reading, decompressing if needed.

    The first bytes decide: gzip, bzip2 and xz data are decompressed whatever the file
    is called, and anything else is read as it is.
    """
    if path == "-":
        return _decompressing(sys.stdin.buffer)

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError(path, "file not found; check the path") from None
    except PermissionError:
        raise InputError(path, "permission denied; run as a user who can read it") from None
    except OSError as error:
        raise InputError(path, error.strerror or str(error)) from None

    if stat.S_ISDIR(mode):
        raise InputError(path, "is a directory; name the log files inside it")

    try:
        with open(path, "rb") as probe:
            opener = _opener_for(probe.read(_MAGIC_LENGTH)) or open
        return opener(path, "rb")
    except PermissionError:
        raise InputError(path, "permission denied; run as a user who can read it") from None
    except OSError as error:
        raise InputError(path, error.strerror or str(error)) from None


def _opener_for(head: bytes):
    for magic, opener in _MAGIC:
        if magic.match(head):
            return opener
    return None


def _decompressing(stream: BinaryIO) -> BinaryIO:
    # A pipe cannot seek back, so the magic bytes are looked at with peek().
    head = stream.peek(_MAGIC_LENGTH)[:_MAGIC_LENGTH] if hasattr(stream, "peek") else b""
    opener = _opener_for(head)
    return opener(stream, "rb") if opener else stream


def read_chunks(stream: BinaryIO, name: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield the chunks of a binary stream; a read or decompression error becomes InputError."""
    # read1 decompresses at most one buffer of input per call, so a damaged compressed
    # file loses only the data of that buffer, not a whole chunk.
    read = getattr(stream, "read1", stream.read)
    while True:
        try:
            chunk = read(chunk_size)
        except (OSError, EOFError, lzma.LZMAError, zlib.error) as error:
            raise InputError(name, f"read failed: {error}") from None
        if not chunk:
            return
        yield chunk


def iter_lines(stream: BinaryIO, name: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield the lines of a binary stream without their line endings.

    A final line without a line ending is yielded too. Decompression errors become an
    InputError naming the file, after every line read before the error was yielded.
    """
    pending = b""
    try:
        for chunk in read_chunks(stream, name, chunk_size):
            data = pending + chunk
            # A CR at the end of a chunk may be the first half of a CRLF: keep it for later.
            cut = max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1))
            if cut < 0:
                pending = data
                continue

            yield from data[: cut + 1].splitlines()
            pending = data[cut + 1:]
    except InputError:
        if pending:
            yield pending
        raise

    if pending:
        yield from pending.splitlines()


def peek_first_time(path: str, max_bytes: int = 65536) -> str | None:
    """Return the time of the first parsable record in the first bytes of a file."""
    try:
        with open_input(path) as stream:
            head = stream.read(max_bytes)
    except (InputError, OSError, EOFError, lzma.LZMAError, zlib.error):
        return None

    for raw in head.splitlines()[:200]:
        record = parse_line(decode(raw))
        if record is not None and record.timestamp is not None:
            return record.timestamp.isoformat()
    return None


def order_by_time(paths: list[str]) -> list[str]:
    """Sort files by the time of their first record, oldest first.

    Rotated sets (error_log, error_log-20240101.gz, ...) are then read in the order they
    were written. Standard input and files without a readable time keep their place after
    the dated ones, in the order given.
    """
    dated = []
    undated = []
    for index, path in enumerate(paths):
        first = None if path == "-" else peek_first_time(path)
        if first is None:
            undated.append(path)
        else:
            dated.append((first, index, path))
    return [path for _, _, path in sorted(dated)] + undated
