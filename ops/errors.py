"""Errors meant for the person running a tool: the CLI prints `error: <message>` and exits with `exit_status`."""


class OpsError(Exception):
    exit_status = 2  # bad input


class RunFailed(OpsError):
    exit_status = 1  # an execution or job that ran and did not succeed


class ClassNamesError(OpsError):
    pass


class CaptureFormatError(OpsError):
    pass
