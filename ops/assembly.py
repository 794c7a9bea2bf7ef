"""The one reader of cdk.out/: read from the files, so the tools see exactly what `cdk deploy` deploys."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.errors import OpsError

MANIFEST_FILE = "manifest.json"
STACK_ARTIFACT_TYPE = "aws:cloudformation:stack"
# The per-region entries of the AlgorithmImage construct's CfnMapping (stacks/constructs/algorithm_image.py).
IMAGE_URI_KEY = "ImageUri"


class AssemblyError(OpsError):
    pass


@dataclass(frozen=True)
class BootstrapRequirement:
    version: int
    ssm_parameter: str


class CloudAssembly:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        manifest_path = self.directory / MANIFEST_FILE
        try:
            self.manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        except FileNotFoundError:
            raise AssemblyError(f"no {manifest_path}: run `make synth` first") from None
        except json.JSONDecodeError as error:
            raise AssemblyError(f"{manifest_path} is not JSON ({error}): run `make synth` again") from None
        self._stacks = {
            name: artifact
            for name, artifact in self.manifest.get("artifacts", {}).items()
            if artifact.get("type") == STACK_ARTIFACT_TYPE
        }
        self._templates: dict[str, dict[str, Any]] = {}

    @property
    def stack_names(self) -> list[str]:
        return sorted(self._stacks)

    def template(self, stack_name: str) -> dict[str, Any]:
        """Read once from the manifest's templateFile; shared, so not to be changed."""
        if stack_name not in self._stacks:
            raise AssemblyError(
                f"{self.directory} has no stack {stack_name!r} (it has: {', '.join(self.stack_names) or 'none'}); "
                "run `make synth` with the same CONTEXT"
            )
        if stack_name not in self._templates:
            template_path = self.directory / self._stacks[stack_name]["properties"]["templateFile"]
            try:
                self._templates[stack_name] = json.loads(template_path.read_text())
            except (OSError, json.JSONDecodeError) as error:
                raise AssemblyError(
                    f"cannot read {template_path} ({error}): run `make synth` again"
                ) from None
        return self._templates[stack_name]

    def stacks_with_output(self, output_name: str) -> list[str]:
        return [name for name in self.stack_names if output_name in self.template(name).get("Outputs", {})]

    def bootstrap_requirements(self) -> list[BootstrapRequirement]:
        """The highest `requiresBootstrapStackVersion` per SSM parameter, as `cdk deploy` enforces it; a
        `lookupRole`'s is for context lookups only, which this app has none of. Schema:
        https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.cloud_assembly_schema.AssetManifestOptions.html"""
        highest: dict[str, int] = {}
        for artifact in self.manifest.get("artifacts", {}).values():
            properties = artifact.get("properties", {})
            version = properties.get("requiresBootstrapStackVersion")
            parameter = properties.get("bootstrapStackVersionSsmParameter")
            if version is not None and parameter:
                highest[parameter] = max(int(version), highest.get(parameter, 0))
        return [BootstrapRequirement(version, parameter) for parameter, version in sorted(highest.items())]


def algorithm_image_regions(template: dict[str, Any]) -> list[str]:
    """The regions of the algorithm image mapping, found by its shape (its logical id is a hash)."""
    candidates = [
        mapping
        for mapping in template.get("Mappings", {}).values()
        if mapping and all(isinstance(entry, dict) and IMAGE_URI_KEY in entry for entry in mapping.values())
    ]
    if len(candidates) != 1:
        raise AssemblyError(
            f"expected one region -> {IMAGE_URI_KEY} mapping in the Model template, found {len(candidates)}: "
            "is cdk.out/ from this app? Run `make synth`"
        )
    return sorted(candidates[0])


def resolve(value: Any, lookup: Callable[[tuple[str, str]], Any], *, region: str, account_id: str) -> Any:
    """Evaluate the intrinsic functions CDK writes into a template value: Fn::Join, Fn::GetAtt, Ref and
    Fn::GetStackOutput. `lookup` gives the value of (logical id, attribute), (logical id, "Ref") or
    (stack name, output name); a KeyError from it, or any other function, is an AssemblyError naming the node."""
    # The pseudo parameters a template may Ref, for the account and region it is evaluated for.
    pseudo = {
        "AWS::Partition": "aws",
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::URLSuffix": "amazonaws.com",
    }

    def evaluate(node: Any) -> Any:
        if isinstance(node, list):
            return [evaluate(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) != 1 or not next(iter(node)).startswith(("Fn::", "Ref")):
            return {key: evaluate(item) for key, item in node.items()}
        ((function, argument),) = node.items()
        try:
            return evaluate_function(function, argument)
        except KeyError:
            raise AssemblyError(f"no value for {json.dumps(node)}") from None

    def evaluate_function(function: str, argument: Any) -> Any:
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(evaluate(part)) for part in parts)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return lookup((logical_id, attribute))
        if function == "Ref":
            return pseudo[argument] if argument in pseudo else lookup((argument, "Ref"))
        if function == "Fn::GetStackOutput":
            return lookup((argument.get("StackName"), argument.get("OutputName")))
        raise AssemblyError(f"cannot evaluate {json.dumps({function: argument})}")

    return evaluate(value)
