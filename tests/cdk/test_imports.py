"""Constructs never import a stack module (issue 15): dependencies flow from stacks to constructs only."""

from __future__ import annotations

import ast
import re
from pathlib import Path

CONSTRUCTS = Path(__file__).resolve().parents[2] / "stacks" / "constructs"
STACK_MODULE = re.compile(r"^stacks\.\w+_stack$")


def imported_modules(source: str) -> set[str]:
    """Every module an import statement names, at any depth (functions, TYPE_CHECKING blocks included)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_construct_module_imports_a_stack_module():
    offenders = {
        path.name: sorted(filter(STACK_MODULE.match, imported_modules(path.read_text())))
        for path in sorted(CONSTRUCTS.glob("*.py"))
    }
    assert len(offenders) > 10
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_check_sees_imports_inside_functions_and_from_the_package():
    source = "def f():\n    from stacks.workflow_stack import X\nfrom stacks import model_stack\n"
    assert {"stacks.workflow_stack", "stacks.model_stack"} <= imported_modules(source)
