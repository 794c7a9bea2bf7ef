"""Session-wide fixtures: the app is synthesized once per test session and shared by every test that needs it.

aws_cdk and the app are imported inside the fixtures, so test folders that never synthesize (handlers, data_prep)
do not pay for starting jsii.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import aws_cdk as cdk

    from stacks.config import AppConfig

# The CLI turns asset metadata on; the tests synthesize the same templates `cdk synth` writes.
CLI_CONTEXT = {"aws:cdk:enable-asset-metadata": True, "aws:cdk:enable-path-metadata": True}


@dataclass(frozen=True)
class SynthesizedApp:
    app: cdk.App
    assembly: cdk.cx_api.CloudAssembly
    config: AppConfig

    def stack(self, suffix: str) -> cdk.Stack:
        """The stack whose id ends in `-<suffix>` (Storage, Model, Workflow)."""
        import aws_cdk as cdk

        matches = [
            c for c in self.app.node.children if isinstance(c, cdk.Stack) and c.stack_name.endswith(suffix)
        ]
        assert len(matches) == 1, (
            f"expected one stack ending in {suffix!r}, found {[s.stack_name for s in matches]}"
        )
        return matches[0]

    def template(self, suffix: str) -> dict[str, Any]:
        return self.assembly.get_stack_by_name(self.stack(suffix).stack_name).template


@pytest.fixture(scope="session")
def default_context(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """cdk.json's settings, with the dataset pointed at an empty folder: the tests always synthesize with the
    generated demo dataset, whatever `make data` left in data/, so snapshots are the same on every machine."""
    from stacks.config import cdk_json_context

    no_prepared_dataset = tmp_path_factory.mktemp("no-prepared-dataset")
    return {**cdk_json_context(), **CLI_CONTEXT, "dataset_dir": str(no_prepared_dataset)}


@pytest.fixture(scope="session")
def synthesized_app(
    default_context: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> SynthesizedApp:
    from app import build_app
    from stacks.config import AppConfig

    outdir: Path = tmp_path_factory.mktemp("cdk.out")
    app = build_app(default_context, outdir=str(outdir))
    assembly = app.synth()
    return SynthesizedApp(app=app, assembly=assembly, config=AppConfig.from_context(default_context))
