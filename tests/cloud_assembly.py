"""Write a cloud assembly folder by hand, as `cdk synth` lays one out, for tests that craft their own templates.

The readers find a stack's template through manifest.json's `templateFile`, so a folder of templates alone is not
an assembly to them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def write_cloud_assembly(folder: Path, templates: Mapping[str, Mapping[str, Any]]) -> Path:
    """`folder` with each template as `<stack name>.template.json` and a manifest.json that lists those stacks."""
    artifacts = {}
    for stack_name, template in templates.items():
        template_file = f"{stack_name}.template.json"
        (folder / template_file).write_text(json.dumps(template))
        artifacts[stack_name] = {
            "type": "aws:cloudformation:stack",
            "properties": {"templateFile": template_file},
        }
    (folder / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
    return folder
