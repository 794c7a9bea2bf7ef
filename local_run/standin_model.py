"""The endpoint's local stand-in: a scikit-learn classifier trained here in seconds, NOT the SageMaker algorithm.
It answers as the endpoint does (one probability per class, in the manifest's order)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from data_prep.dataset import read_lst
from data_prep.manifest import Manifest

IMAGE_SIDE = 32
POOLED_SIDE = 8  # 32x32 averaged down to 8x8: coarse layout, robust to small shifts
HISTOGRAM_BINS = 8  # per RGB channel


@dataclass(frozen=True)
class StandInModel:
    classes: tuple[str, ...]
    pipeline: Pipeline
    test_accuracy: float

    def predict(self, body: bytes) -> list[float]:
        """Probabilities of each class for one PNG or JPEG image; ValueError when the bytes are no image."""
        probabilities = self.pipeline.predict_proba(features(body)[None, :])[0]
        return probabilities.tolist()


def features(body: bytes) -> np.ndarray:
    """Pooled pixels and per-channel colour histograms of an image, any size, scaled to [0, 1]."""
    try:
        with Image.open(io.BytesIO(body)) as image:
            pixels = np.asarray(image.convert("RGB").resize((IMAGE_SIDE, IMAGE_SIDE)), dtype=np.float32) / 255
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        # DecompressionBombError: a header claiming more pixels than Pillow will allocate; it is no OSError.
        raise ValueError(f"cannot decode the request body as an image: {error}") from error
    block = IMAGE_SIDE // POOLED_SIDE
    pooled = pixels.reshape(POOLED_SIDE, block, POOLED_SIDE, block, 3).mean(axis=(1, 3))
    histograms = [
        np.histogram(pixels[..., channel], bins=HISTOGRAM_BINS, range=(0.0, 1.0))[0] / pixels[..., 0].size
        for channel in range(3)
    ]
    return np.concatenate([pooled.ravel(), *histograms])


def read_split(dataset_dir: Path, split: str) -> tuple[list[Path], np.ndarray]:
    """The image paths and class indexes the split's .lst lists, in its order."""
    entries = read_lst(dataset_dir / f"{split}.lst", num_classes=Manifest.load(dataset_dir).num_classes)
    labels = np.array([entry.label for entry in entries], dtype=np.int64)
    return [dataset_dir / split / entry.path for entry in entries], labels


def train_standin(dataset_dir: Path, classes: Sequence[str], *, seed: int = 0) -> StandInModel:
    """Fit on the train split, measure accuracy on the test split."""
    train_paths, train_labels = read_split(dataset_dir, "train")
    test_paths, test_labels = read_split(dataset_dir, "test")
    # Every class index must be seen in training, or predict_proba would return fewer columns than classes.
    missing = sorted(set(range(len(classes))) - set(train_labels.tolist()))
    if missing:
        raise ValueError(f"the train split of {dataset_dir} has no images of class(es) {missing}")
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000, random_state=seed))
    pipeline.fit(np.stack([features(path.read_bytes()) for path in train_paths]), train_labels)
    accuracy = float("nan")
    if test_paths:
        test_features = np.stack([features(path.read_bytes()) for path in test_paths])
        accuracy = float(pipeline.score(test_features, test_labels))
    return StandInModel(classes=tuple(classes), pipeline=pipeline, test_accuracy=accuracy)
