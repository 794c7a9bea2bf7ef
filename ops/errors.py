"""Errors the operations tools raise on bad input; the CLI prints their message and exits 2."""


class OpsError(Exception):
    """Base of every error whose message is meant for the person running the tool."""


class StateMachineNotFound(OpsError):
    pass


class StackNotFound(OpsError):
    """No deployed stack of that name in the region."""


class StackOutputNotFound(OpsError):
    """The stack exists but has no output with the expected key (not deployed completely, or another app)."""


class NoTestImages(OpsError):
    pass


class ClassNamesError(OpsError):
    """Class names missing, malformed, or not matching the data they should name."""


class CaptureFormatError(OpsError):
    """A data capture line that is not a SageMaker capture record."""


class NoCaptureRecords(OpsError):
    pass
