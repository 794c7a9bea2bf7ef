"""The .lst format's one reader and writer: what data_prep writes, every reader parses back, line for line."""

from __future__ import annotations

import pytest

from data_prep.errors import DatasetError, LstError, LstLabelError
from data_prep.lst import LstEntry, format_lst, parse_lst

ENTRIES = [LstEntry(0, 1, "motorbike_s_000009.png"), LstEntry(1, 0, "bike_s_000017.png")]


def test_written_entries_parse_back_unchanged():
    text = format_lst(ENTRIES)

    assert text == "0\t1\tmotorbike_s_000009.png\n1\t0\tbike_s_000017.png\n"
    assert parse_lst(text, source="train.lst", num_classes=2) == ENTRIES


def test_blank_lines_and_windows_line_ends_are_accepted():
    text = "\n0\t1\tmotorbike_s_000009.png\r\n\n1\t0\tbike_s_000017.png\r\n\n"

    assert parse_lst(text, source="train.lst", num_classes=2) == ENTRIES


@pytest.mark.parametrize(
    ("line", "error", "message"),
    [
        ("0\tbike.png", LstError, "expected 'index TAB label TAB path'"),
        ("0 1 bike.png", LstError, "expected 'index TAB label TAB path'"),
        ("0\tone\tbike.png", LstError, "expected 'index TAB label TAB path'"),
        ("x\t1\tbike.png", LstError, "expected 'index TAB label TAB path'"),
        ("0\t-1\tbike.png", LstError, "expected 'index TAB label TAB path'"),
        ("0\t\u00b2\tbike.png", LstError, "expected 'index TAB label TAB path'"),
        ("0\t1\t", LstError, "expected 'index TAB label TAB path'"),
        ("0\t1\tbike.png\textra", LstError, "expected 'index TAB label TAB path'"),
        ("0\t2\tbike.png", LstLabelError, "label 2 but only 2 classes"),
        ("0\t1\t../secrets.png", LstError, "'../secrets.png' is not a path inside the split folder"),
        ("0\t1\t/etc/passwd", LstError, "'/etc/passwd' is not a path inside the split folder"),
    ],
)
def test_a_bad_line_is_a_dataset_error_naming_the_file_and_line(line, error, message):
    text = f"0\t0\tfine.png\n\n{line}\n"

    with pytest.raises(error, match=f"^train.lst line 3: {message}") as raised:
        parse_lst(text, source="train.lst", num_classes=2)
    assert isinstance(raised.value, DatasetError)
