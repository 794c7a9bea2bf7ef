"""Dataset resolution (prepared / demo), the deploy guard, and bad input rejected at synth with clear messages."""

from __future__ import annotations

import json
import shutil

import aws_cdk as cdk
import pytest

from data_prep.dataset import DemoSpec, demo_dataset, load_dataset
from data_prep.errors import DatasetError
from stacks.config import AppConfig, ConfigError
from stacks.constructs.algorithm_image import AlgorithmImage, UnsupportedRegion, algorithm_registry
from stacks.dataset_source import DemoDatasetRefused, require_real_dataset, resolve_dataset
from tests.model.dataset_factory import CLASSES, write_dataset, write_manifest


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    return demo_dataset(DemoSpec(), tmp_path_factory.mktemp("demo-cache"))


def test_prepared_dataset_is_used_when_its_manifest_exists(dataset_dir, tmp_path):
    lines = []
    dataset = resolve_dataset(str(dataset_dir), demo_cache_dir=tmp_path, report=lines.append)
    assert dataset.directory == dataset_dir and not dataset.is_demo and lines == []
    require_real_dataset(dataset)


def test_without_a_prepared_dataset_the_demo_is_used_and_announced(tmp_path, demo):
    lines = []
    dataset = resolve_dataset(
        "data", project_root=tmp_path, demo_cache_dir=demo.directory.parent, report=lines.append
    )
    assert dataset.is_demo and dataset.manifest.content_hash == demo.manifest.content_hash
    assert lines == [
        "scones-vision: no dataset in data/ (`make data` builds it); using the generated demo dataset"
    ]


def test_demo_dataset_is_deterministic(tmp_path, demo):
    rebuilt = demo_dataset(DemoSpec(), tmp_path)
    assert rebuilt.manifest.content_hash == demo.manifest.content_hash
    assert rebuilt.manifest.synthetic and rebuilt.manifest.num_classes == 2


def test_each_demo_spec_is_built_once_into_the_one_cache(demo):
    # The local demo's spec (larger, ambiguous images) next to the synth's: one builder, one cache folder.
    spec = DemoSpec(
        classes=("bicycle", "motorcycle", "bus"), train_per_class=3, test_per_class=1, ambiguity=0.5
    )
    built = demo_dataset(spec, demo.directory.parent)
    manifest_written = (built.directory / "manifest.json").stat().st_mtime_ns

    again = demo_dataset(spec, demo.directory.parent)

    assert built.directory.parent == demo.directory.parent and built.directory != demo.directory
    assert again.directory == built.directory
    assert (again.directory / "manifest.json").stat().st_mtime_ns == manifest_written
    assert again.manifest.classes == spec.classes and again.manifest.splits["train"]["bus"] == 3


def test_deploy_refuses_the_demo_dataset_with_the_command_that_fixes_it(demo):
    with pytest.raises(DemoDatasetRefused, match="Run `make data`"):
        require_real_dataset(demo)


def copy_of(dataset_dir, tmp_path):
    return shutil.copytree(dataset_dir, tmp_path / "data")


def test_one_class_is_rejected(dataset_dir, tmp_path):
    directory = copy_of(dataset_dir, tmp_path)
    write_manifest(
        directory,
        splits={"train": {"bicycle": 3}, "test": {"bicycle": 1}},
        synthetic=False,
        classes=["bicycle"],
    )
    with pytest.raises(DatasetError, match="at least two distinct names"):
        load_dataset(directory)


def test_zero_images_are_rejected(tmp_path):
    directory = write_dataset(tmp_path / "data", train_per_class=0, test_per_class=1)
    with pytest.raises(DatasetError, match="the train split has no images of bicycle, motorcycle"):
        load_dataset(directory)


def test_manifest_counts_that_differ_from_the_lst_are_rejected(dataset_dir, tmp_path):
    directory = copy_of(dataset_dir, tmp_path)
    splits = {"train": {"bicycle": 4, "motorcycle": 3}, "test": dict.fromkeys(CLASSES, 1)}
    write_manifest(directory, splits=splits, synthetic=False)
    with pytest.raises(
        DatasetError, match=r"train.lst: image counts differ from the manifest's \(bicycle 3 != 4\)"
    ):
        load_dataset(directory)


def test_missing_image_files_are_rejected(dataset_dir, tmp_path):
    directory = copy_of(dataset_dir, tmp_path)
    next((directory / "test").glob("*.png")).unlink()
    with pytest.raises(DatasetError, match="test/ holds 1 PNG files, the manifest counts 2"):
        load_dataset(directory)


def test_files_changed_after_the_manifest_are_rejected(dataset_dir, tmp_path):
    directory = copy_of(dataset_dir, tmp_path)
    image = next((directory / "train").glob("*.png"))
    image.write_bytes(image.read_bytes() + b"\0")
    with pytest.raises(DatasetError, match="files changed since manifest.json was written"):
        load_dataset(directory)


def test_unknown_explicit_region_names_it_and_the_supported_list():
    app = cdk.App()
    stack = cdk.Stack(app, "Model", env=cdk.Environment(account="123456789012", region="xx-nowhere-1"))
    with pytest.raises(
        UnsupportedRegion, match=r"'xx-nowhere-1' has no SageMaker image-classification image"
    ) as error:
        AlgorithmImage(stack, "AlgorithmImage")
    assert all(region in str(error.value) for region in algorithm_registry())


def test_known_explicit_region_is_accepted_and_looked_up_in_the_mapping():
    app = cdk.App()
    stack = cdk.Stack(app, "Model", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    image = AlgorithmImage(stack, "AlgorithmImage")
    _mapping, region, key = stack.resolve(image.image_uri)["Fn::FindInMap"]
    assert region == {"Ref": "AWS::Region"} and key == "ImageUri"
    assert algorithm_registry()["eu-west-1"]["ImageUri"].startswith(
        "685385470294.dkr.ecr.eu-west-1.amazonaws.com/"
    )


@pytest.mark.parametrize(
    "url", ["s3://bucket-only", "https://bucket/model.tar.gz", "s3://Bad_Bucket/model.tar.gz", "s3://b/x.zip"]
)
def test_malformed_model_data_url_is_rejected_by_the_config(default_context, url):
    with pytest.raises(ConfigError, match="model_data_url"):
        AppConfig.from_context({**default_context, "model_data_url": url})


def test_training_longer_than_a_deploy_can_wait_is_rejected(default_context):
    with pytest.raises(ConfigError, match="at most 40 minutes of training.*model_data_url"):
        AppConfig.from_context({**default_context, "training_max_runtime_minutes": 120})


def test_hyperparameters_cannot_restate_what_the_manifest_gives(default_context):
    with pytest.raises(ConfigError, match="num_classes come from the dataset manifest"):
        AppConfig.from_context({**default_context, "hyperparameters": json.dumps({"num_classes": 3})})
