"""Reading the synthesized workflow: its definition resolved to local ARNs, its functions' synthesized code."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from local_run.template import ASSET_PATH, TemplateError, load_workflow_template
from ops.assembly import CloudAssembly
from tests.cloud_assembly import write_cloud_assembly


def test_resolve_evaluates_join_getatt_and_ref(workflow_template):
    value = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":", {"Fn::GetAtt": ["Fn1", "Arn"]}]]}

    assert workflow_template.resolve(value, function_arns={"Fn1": "x"}) == "arn:aws:x"


@pytest.mark.parametrize(
    "value",
    [{"Fn::GetAtt": ["Unknown", "Arn"]}, {"Ref": "Unknown"}, {"Fn::ImportValue": "SomeExport"}],
    ids=["getatt", "ref", "import"],
)
def test_resolve_names_what_it_cannot_evaluate(workflow_template, value):
    with pytest.raises(TemplateError, match=json.dumps(value).replace("[", r"\[")):
        workflow_template.resolve(value)


def test_the_batch_definition_reads_the_bucket_name_from_the_storage_stack(workflow_template):
    batch = workflow_template.batch
    arns = {logical_id: f"arn:{logical_id}" for logical_id in batch.functions}

    assert '"Bucket":"local-bucket"' in batch.definition(arns, bucket="local-bucket")
    with pytest.raises(TemplateError, match="-Storage"):
        batch.definition(arns)


def test_the_workflow_stack_yields_its_three_functions_and_classifier_settings(workflow_template):
    assert len(workflow_template.functions) == 3
    for spec in workflow_template.functions.values():
        module, _, _ = spec.handler.rpartition(".")
        assert (spec.code_dir / f"{module}.py").is_file()
    assert workflow_template.endpoint_name
    assert len(workflow_template.class_names) >= 2


def test_the_threshold_is_the_synthesized_filters(workflow_template, synthesized_app):
    assert workflow_template.threshold == synthesized_app.config.confidence_threshold


def test_an_invalid_threshold_is_a_template_error_saying_why(workflow_template):
    (spec,) = [spec for spec in workflow_template.functions.values() if "THRESHOLD" in spec.environment]
    broken = dataclasses.replace(spec, environment={**spec.environment, "THRESHOLD": "1.5"})
    template = dataclasses.replace(
        workflow_template, functions={**workflow_template.functions, spec.logical_id: broken}
    )

    with pytest.raises(TemplateError, match=r"THRESHOLD must be in \(0, 1\], got '1.5'"):
        _ = template.threshold


def test_the_resolved_definition_calls_exactly_the_given_arns(workflow_template):
    arns = {
        logical_id: f"arn:aws:lambda:us-east-1:1:function:{logical_id}"
        for logical_id in workflow_template.functions
    }

    definition = json.loads(workflow_template.definition(arns, region="us-east-1", account_id="1"))

    resources = {state["Resource"] for state in definition["States"].values() if state["Type"] == "Task"}
    # The outcome events' PutEvents tasks, in the partition resolved like the rest.
    assert resources == {*arns.values(), "arn:aws:states:::events:putEvents"}
    assert "Fn::" not in json.dumps(definition)


def test_an_assembly_without_asset_metadata_is_refused_with_the_fix(synthesized_app, tmp_path):
    source = CloudAssembly(synthesized_app.assembly.directory)
    templates = {name: source.template(name) for name in source.stack_names}
    for template in templates.values():
        for resource in template["Resources"].values():
            resource.get("Metadata", {}).pop(ASSET_PATH, None)
    write_cloud_assembly(tmp_path, templates)

    with pytest.raises(TemplateError, match="enable-asset-metadata"):
        load_workflow_template(tmp_path)


def test_a_folder_that_is_no_cloud_assembly_is_refused(tmp_path):
    shutil.copy(Path(__file__), tmp_path / "unrelated.py")

    with pytest.raises(TemplateError, match="manifest.json: run `make synth` first"):
        load_workflow_template(tmp_path)


def test_an_assembly_without_the_state_machine_is_refused(tmp_path):
    write_cloud_assembly(tmp_path, {"X-Storage": {"Resources": {}}})

    with pytest.raises(TemplateError, match="found 0; synthesize the app first \\(make synth\\)"):
        load_workflow_template(tmp_path)
