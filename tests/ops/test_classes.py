import pytest

from ops.classes import load_class_names, parse_class_names
from ops.errors import ClassNamesError
from tests.ops.builders import write_manifest


def test_class_names_come_from_the_manifest_file_or_its_folder(tmp_path):
    write_manifest(tmp_path)

    assert load_class_names(tmp_path / "manifest.json") == ["bicycle", "motorcycle"]
    assert load_class_names(tmp_path) == ["bicycle", "motorcycle"]


def test_a_missing_manifest_is_a_named_error(tmp_path):
    with pytest.raises(ClassNamesError, match="manifest.json is missing \\(run `make data`\\)"):
        load_class_names(tmp_path / "manifest.json")


def test_an_invalid_manifest_is_a_named_error(tmp_path):
    (tmp_path / "manifest.json").write_text("{oops")

    with pytest.raises(ClassNamesError, match="not valid JSON"):
        load_class_names(tmp_path)


def test_class_names_from_the_command_line_keep_their_order():
    assert parse_class_names(["motorcycle", "bicycle"]) == ["motorcycle", "bicycle"]
    assert parse_class_names([" bicycle, motorcycle "]) == ["bicycle", "motorcycle"]
    assert parse_class_names(["bicycle,motorcycle", "tractor"]) == ["bicycle", "motorcycle", "tractor"]
    with pytest.raises(ClassNamesError, match="distinct non-empty names"):
        parse_class_names(["bicycle,"])
    with pytest.raises(ClassNamesError, match="distinct non-empty names"):
        parse_class_names(["bicycle", "bicycle"])
