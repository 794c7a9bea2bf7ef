"""Snapshots of every synthesized template: a safety net that shows any change in review.

Asset hashes change whenever a handler's source changes, so they are replaced by a placeholder; everything else
is compared as synthesized. Update with `pytest --snapshot-update` and review the diff.
"""

from __future__ import annotations

import json
import re

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")


def normalised(template: dict) -> dict:
    return json.loads(ASSET_HASH.sub("<asset-hash>", json.dumps(template, sort_keys=True)))


@pytest.fixture
def json_snapshot(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("suffix", ["Storage", "Model", "Workflow", "Monitoring"])
def test_template_matches_snapshot(synthesized_app, json_snapshot, suffix):
    assert normalised(synthesized_app.template(suffix)) == json_snapshot


def test_normalisation_keeps_everything_but_asset_hashes():
    template = {"Key": "a" * 64 + ".zip", "Name": "SerializeImage", "Short": "abc123"}
    assert normalised(template) == {"Key": "<asset-hash>.zip", "Name": "SerializeImage", "Short": "abc123"}
