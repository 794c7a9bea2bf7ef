"""The stand-in model answers like the endpoint: one probability per class, in the manifest's order."""

from __future__ import annotations

import math

import pytest

from local_run.photos import large_photo
from local_run.standin_model import read_split


def test_it_learns_the_synthetic_classes(standin):
    assert standin.test_accuracy >= 0.9


def test_it_answers_one_probability_per_class_in_manifest_order(standin, dataset):
    dataset_dir, manifest = dataset
    paths, labels = read_split(dataset_dir, "test")

    probabilities = standin.predict(paths[0].read_bytes())

    assert standin.classes == manifest.classes
    assert len(probabilities) == manifest.num_classes
    assert math.fsum(probabilities) == pytest.approx(1.0)
    assert probabilities.index(max(probabilities)) == labels[0]


def test_bytes_that_are_no_image_are_a_value_error(standin):
    with pytest.raises(ValueError, match="cannot decode"):
        standin.predict(b"not an image")


def test_it_decodes_a_phone_sized_jpeg_and_sees_the_same_class(standin, dataset):
    dataset_dir, _ = dataset
    paths, labels = read_split(dataset_dir, "test")
    photo = large_photo(paths[0].read_bytes())

    probabilities = standin.predict(photo)

    assert probabilities.index(max(probabilities)) == labels[0]
