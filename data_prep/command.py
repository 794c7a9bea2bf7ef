"""How every command of the project (`python -m data_prep`, `-m local_run`, `-m ops`) ends: one line on Ctrl-C."""

from __future__ import annotations

import importlib
import sys

# What a shell reports for a process ended by SIGINT (128 + 2): `make` and CI then see an interrupt, not a bug.
EXIT_INTERRUPTED = 130


def run(package: str) -> None:
    """Exit with `<package>.cli.main()`'s status. The CLI is imported inside, so a Ctrl-C while numpy or aws_cdk
    loads is also one line on stderr and status 130, not a traceback."""
    try:
        status = importlib.import_module(f"{package}.cli").main()
    except KeyboardInterrupt:
        print(f"{package}: interrupted", file=sys.stderr)
        status = EXIT_INTERRUPTED
    sys.exit(status)
