"""The local run's generated phone-sized photo, and how the demo reports it."""

from __future__ import annotations

import io
import json

from PIL import Image

from local_run.cli import WIDTH, _photo_lines, _test_images_with_a_large_photo
from local_run.photos import PHOTO_SIZE, large_photo
from local_run.sagemaker_emulator import MAX_REQUEST_BYTES
from local_run.standin_model import read_split
from ops.executions import ExecutionOutcome, TestImage


def test_the_photo_is_a_12_megapixel_jpeg_of_a_few_megabytes(dataset):
    dataset_dir, _ = dataset
    image = read_split(dataset_dir, "test")[0][0].read_bytes()

    photo = large_photo(image)

    with Image.open(io.BytesIO(photo)) as decoded:
        assert (decoded.format, decoded.size) == ("JPEG", PHOTO_SIZE)
    # More than the Step Functions state carries inline, less than any endpoint mode's payload limit.
    assert 2_000_000 < len(photo) < min(MAX_REQUEST_BYTES.values())


def test_the_photo_leads_the_test_list_as_the_image_the_stand_in_is_surest_of(dataset, standin):
    dataset_dir, manifest = dataset

    entries, photo_entry, photo = _test_images_with_a_large_photo(
        dataset_dir, standin.predict, manifest.num_classes
    )

    paths, labels = read_split(dataset_dir, "test")
    surest = max(range(len(paths)), key=lambda i: max(standin.predict(paths[i].read_bytes())))
    assert entries[0] == photo_entry and len(entries) == len(paths) + 1
    assert photo_entry.path == f"photos/{paths[surest].stem}.jpg"
    assert photo_entry.label == labels[surest]
    assert photo_entry.index not in {entry.index for entry in entries[1:]}
    assert photo.startswith(b"\xff\xd8\xff")


def test_the_demo_says_the_photos_size_how_it_passed_and_its_prediction():
    key = "dataset/validation/photos/motorcycle_s_000114.jpg"
    outcome = ExecutionOutcome(
        image=TestImage("scones-vision-local", key, "motorcycle"),
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:x:y",
        status="SUCCEEDED",
        error=None,
        cause=None,
        predicted_class="motorcycle",
        confidence=0.9991,
    )
    serialized = {"message": "image serialized", "s3_key": key, "width": 3000, "height": 4000}
    logs = [json.dumps({**serialized, "image_bytes": 3_066_778, "passed": "by_reference"}), "not json"]

    lines = _photo_lines([outcome], key, logs)

    assert lines == [
        "",
        f"Large photo (generated): s3://scones-vision-local/{key}",
        "  3000x4000 JPEG of 3,066,778 bytes, passed by reference; motorcycle -> motorcycle 0.999, SUCCEEDED",
    ]
    assert all(len(line) <= WIDTH for line in lines)
