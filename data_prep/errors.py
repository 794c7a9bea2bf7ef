"""Every failure data_prep reports; the CLI prints the message of any `DataPrepError` as one line."""


class DataPrepError(Exception):
    pass


class DatasetError(DataPrepError):  # a dataset folder is missing, incomplete or has an invalid manifest
    pass


class SourceError(DataPrepError):  # the tarball is unreadable, truncated, corrupt or not in CIFAR's layout
    pass


class ChecksumMismatch(SourceError):
    def __init__(self, name: str, expected: str, actual: str) -> None:
        super().__init__(
            f"md5 of {name} is {actual}, expected {expected} (only for a deliberately non-standard tarball: "
            "--no-verify, or NO_VERIFY=1 with make)"
        )


class DownloadError(SourceError):
    pass


class ClassSelectionError(DataPrepError):
    pass


class OutputError(DataPrepError):  # OUT cannot be written, or exists and is not a data_prep dataset
    pass


class LstError(DatasetError):  # a .lst line is not "index TAB class index TAB path inside the split folder"
    pass


class LstLabelError(LstError):
    pass
