"""Load a Lambda handler module the way the Lambda runtime does, for the tests of every handler.

Lambda imports `app` from the function's code folder with that folder first on sys.path, so a handler
imports its sibling modules by their plain names (`import image_format`). Each handler is loaded once per
test session under its own module name: "app" would clash with the CDK entry point app.py, and two
handlers' siblings must not shadow each other.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

LAMBDA_SOURCE_DIR = Path(__file__).resolve().parents[1] / "lambda_src"
HANDLER_MODULE = "app"


@functools.cache
def load_handler_module(function_folder: str) -> ModuleType:
    """lambda_src/<function_folder>/app.py as a module named `<function_folder>_app`."""
    code_dir = LAMBDA_SOURCE_DIR / function_folder
    module_name = f"{function_folder}_{HANDLER_MODULE}"
    spec = importlib.util.spec_from_file_location(module_name, code_dir / f"{HANDLER_MODULE}.py")
    assert spec is not None and spec.loader is not None, f"no handler module in {code_dir}"
    module = importlib.util.module_from_spec(spec)
    modules_before = set(sys.modules)
    # Registered before it runs: dataclasses look a class's module up in sys.modules.
    sys.modules[module_name] = module
    sys.path.insert(0, str(code_dir))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(code_dir))
        # The siblings stay reachable as attributes of the handler module (`module.image_format`).
        for name in set(sys.modules) - modules_before - {module_name}:
            if Path(getattr(sys.modules[name], "__file__", None) or "/").is_relative_to(code_dir):
                del sys.modules[name]
    return module
