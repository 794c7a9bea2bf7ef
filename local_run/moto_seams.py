"""Where the local run reaches into moto: two private methods of MOTO_VERSION only (docs/LOCAL.md)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from typing import Any
from unittest import mock

import moto
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
    resource_eval_s3,
)

from local_run.lambda_runtime import InProcessFunction

MOTO_VERSION = "5.2.5"


class MotoChanged(RuntimeError):
    """The installed moto is not the version whose internals the local run was checked against."""


@contextlib.contextmanager
def patched_moto(functions: Mapping[str, InProcessFunction]) -> Iterator[None]:
    """While active, moto's Lambda runs `functions[name]` in-process, and its ResultWriter writes result files."""
    if moto.__version__ != MOTO_VERSION:
        raise MotoChanged(
            f"moto {moto.__version__} is installed; the local run patches moto {MOTO_VERSION}'s internals "
            "(local_run/moto_seams.py): check them against this version, then update MOTO_VERSION"
        )

    # Without Docker, moto answers lambda:Invoke here, echoing the body; a handler's error goes out as Lambda's
    # does, with x-amz-function-error, so the interpreter raises its errorType into Retry and Catch.
    def invoke(
        self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: dict
    ) -> Any:
        name = self.get_function(function_name, qualifier).function_name
        result = functions[name].invoke(body)
        if result.failed:
            response_headers["x-amz-function-error"] = "Unhandled"
        return result.payload

    with (
        mock.patch.object(LambdaSimpleBackend, "invoke", invoke),
        mock.patch.object(
            resource_eval_s3.ResourceEvalS3, "_handle_put_object", staticmethod(_write_results)
        ),
    ):
        yield


def _write_results(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
    """What Step Functions' ResultWriter writes with WriterConfig JSONL/COMPACT, where moto writes an empty manifest.

    https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html. moto keeps a failed child
    as a null result without its error: it becomes a FAILED entry without Error.
    """
    parameters, results = env.stack.pop(), env.stack.pop()
    s3 = resource_eval_s3.ResourceEvalS3._get_s3_client(
        resource_runtime_part=resource_runtime_part, state_credentials=state_credentials
    )
    map_run_arn = env.map_run_record_pool_manager.get_all().pop().map_run_arn
    bucket, prefix = parameters["Bucket"], parameters["Prefix"]
    folder = f"{prefix}{'/' if prefix and not prefix.endswith('/') else ''}{map_run_arn.split(':')[-1]}/"
    files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    lines = {
        "SUCCEEDED": [json.dumps(result) for result in results if result is not None],
        "FAILED": [json.dumps({"Status": "FAILED"}) for result in results if result is None],
    }
    for status, status_lines in lines.items():
        if status_lines:
            key, body = f"{folder}{status}_0.json", "".join(f"{line}\n" for line in status_lines).encode()
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            files[status].append({"Key": key, "Size": len(body)})
    manifest = {"DestinationBucket": bucket, "MapRunArn": map_run_arn, "ResultFiles": files}
    s3.put_object(Bucket=bucket, Key=f"{folder}manifest.json", Body=json.dumps(manifest).encode())
    details = {"Bucket": bucket, "Key": f"{folder}manifest.json"}
    env.stack.append({"MapRunArn": map_run_arn, "ResultWriterDetails": details})


def local_definition(definition: str) -> str:
    """The batch definition with the four changes moto's interpreter needs to run it, and nothing else.

    Its parser takes only STANDARD children, a float ToleratedFailurePercentage and no WriterConfig; it has no
    ItemBatcher, so each child gets a batch of one image in the `{"Items": [...]}` shape of a batch.
    """
    document = json.loads(definition)

    def rewrite(states: dict[str, Any]) -> None:
        for state in states.values():
            processor = state.get("ItemProcessor", {})
            config = processor.get("ProcessorConfig", {})
            if state.get("Type") == "Map" and config.get("Mode") == "DISTRIBUTED":
                config["ExecutionType"] = "STANDARD"
                if "ToleratedFailurePercentage" in state:
                    state["ToleratedFailurePercentage"] = float(state["ToleratedFailurePercentage"])
                state.get("ResultWriter", {}).pop("WriterConfig", None)
                if state.pop("ItemBatcher", None) is not None:
                    state["ItemSelector"] = {"Items": [state["ItemSelector"]]}
            rewrite(processor.get("States", {}))

    rewrite(document["States"])
    return json.dumps(document)
