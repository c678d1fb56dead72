"""Run the nsslog command line with the line-by-line path instead of the chunked scan.

``python bench/plain_cli.py ARGS`` behaves as ``nsslog ARGS`` except that every line is
parsed and analysed one by one, as before the chunked fast path existed. The benchmark uses
it to measure what the fast path gains, in the same run.
"""

from __future__ import annotations

import functools
import sys

from nsslog import cli

if __name__ == "__main__":
    cli._analyse_files = functools.partial(cli._analyse_files, scanner="none")
    sys.exit(cli.main())
