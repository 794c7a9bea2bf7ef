"""How every command of the project (`python -m data_prep`, `-m local_run`, `-m ops`) ends: one line on Ctrl-C."""

from __future__ import annotations

import sys
from collections.abc import Callable

# What a shell reports for a process ended by SIGINT (128 + 2): `make` and CI then see an interrupt, not a bug.
EXIT_INTERRUPTED = 130


def run(main: Callable[[], int], *, name: str) -> None:
    """Exit with main()'s status; a KeyboardInterrupt is one line on stderr and status 130, not a traceback."""
    try:
        status = main()
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        status = EXIT_INTERRUPTED
    sys.exit(status)
