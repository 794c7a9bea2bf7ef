"""Every failure data_prep reports; the CLI prints the message of any `DataPrepError` as one line."""


class DataPrepError(Exception):
    pass


class DatasetError(DataPrepError):
    """A dataset folder is missing, incomplete or has an invalid manifest."""


class SourceError(DataPrepError):
    """The CIFAR-100 tarball is unreadable, truncated, corrupt or not in the expected layout."""


class ChecksumMismatch(SourceError):
    def __init__(self, name: str, expected: str, actual: str) -> None:
        super().__init__(
            f"md5 of {name} is {actual}, expected {expected} (only for a deliberately non-standard tarball: "
            "--no-verify, or NO_VERIFY=1 with make)"
        )
        self.expected = expected
        self.actual = actual


class DownloadError(SourceError):
    pass


class ClassSelectionError(DataPrepError):
    pass


class OutputError(DataPrepError):
    """The output folder cannot be written, or exists and is not a data_prep dataset."""


class LstError(DatasetError):
    """A line of a .lst file is not "index TAB class index TAB path relative to the split folder"."""


class LstLabelError(LstError):
    pass
