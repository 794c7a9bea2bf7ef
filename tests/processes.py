"""Helpers for tests that run a command as a user does and interrupt it."""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """A `preexec_fn` giving the child Ctrl-C's default disposition, as a terminal does: a suite run as a shell's
    background job inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
