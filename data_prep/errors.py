"""Every failure data_prep reports; the CLI prints the message of any `DataPrepError` as one line."""


class DataPrepError(Exception):
    """Base class: a failure the user can act on, described by its message."""


class DatasetError(DataPrepError):
    """A dataset folder is missing, incomplete or has an invalid manifest."""


class SourceError(DataPrepError):
    """The CIFAR-100 tarball is unreadable, truncated, corrupt or not in the expected layout."""


class ChecksumMismatch(SourceError):
    def __init__(self, name: str, expected: str, actual: str) -> None:
        super().__init__(
            f"md5 of {name} is {actual}, expected {expected} "
            "(use --no-verify only for a deliberately non-standard tarball)"
        )
        self.expected = expected
        self.actual = actual


class DownloadError(SourceError):
    """The download failed after its retries."""


class ClassSelectionError(DataPrepError):
    """A requested class name is unknown, repeated, or too few classes were requested."""


class OutputError(DataPrepError):
    """The output folder cannot be written, or exists and is not a data_prep dataset."""


class LstError(DatasetError):
    """A line of a .lst file is not "index TAB class index TAB path relative to the split folder"."""


class LstLabelError(LstError):
    """A line of a .lst file names a class index the dataset does not have."""
