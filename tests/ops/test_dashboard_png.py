"""The dashboard picture is drawn from the synthesized dashboard's own widget definitions."""

from pathlib import Path

import pytest
from PIL import Image

from ops.dashboard_png import DashboardError, draw_dashboard, load_dashboard, main, placeholder_text
from tests.cloud_assembly import write_cloud_assembly

FUNCTION = {"Fn::GetStackOutput": {"StackName": "X-Workflow", "OutputName": "FilterName"}}


def _body_as_cdk_writes_it() -> dict:
    """A DashboardBody as CDK synthesizes it: JSON text cut around references, inside an Fn::Join."""
    return {
        "Fn::Join": [
            "",
            [
                '{"widgets":[{"type":"text","width":24,"height":2,"x":0,"y":0,"properties":{"markdown":"# Scones"}},'
                '{"type":"metric","width":12,"height":6,"x":0,"y":2,"properties":{"title":"Filter errors",'
                '"region":"',
                {"Ref": "AWS::Region"},
                '","metrics":[["AWS/Lambda","Errors","FunctionName","',
                FUNCTION,
                '",{"stat":"Sum"}]]}},'
                '{"type":"metric","width":12,"height":6,"x":12,"y":2,"properties":{"title":"Unexpected failures",'
                '"metrics":[[{"label":"unexpected","expression":"failed - below"}],'
                '["X","BelowThreshold","Workflow","X",{"id":"below","visible":false}]],'
                '"annotations":{"alarms":["arn:aws:cloudwatch:us-east-1:1:alarm:X-Unexpected"]}}}]}',
            ],
        ]
    }


def _assembly(folder: Path, body) -> Path:
    template = {
        "Resources": {"Board": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {"DashboardBody": body}}}
    }
    return write_cloud_assembly(folder, {"X-Monitoring": template})


def test_references_become_placeholder_text():
    assert placeholder_text({"Ref": "AWS::Region"}) == "<AWS::Region>"
    assert placeholder_text(FUNCTION) == "<Workflow.FilterName>"
    assert placeholder_text({"Fn::Join": ["-", ["a", {"Fn::GetAtt": ["Topic", "Arn"]}]]}) == "a-<Topic.Arn>"


def test_widgets_are_read_with_their_position_title_and_metrics(tmp_path: Path):
    name, widgets = load_dashboard(_assembly(tmp_path, _body_as_cdk_writes_it()))

    assert name == "Board"
    assert [(w.kind, w.x, w.y, w.width, w.height) for w in widgets] == [
        ("text", 0, 0, 24, 2),
        ("metric", 0, 2, 12, 6),
        ("metric", 12, 2, 12, 6),
    ]
    assert (widgets[0].title, widgets[0].lines) == ("Scones", ())
    assert widgets[1].title == "Filter errors"
    assert widgets[1].lines == ("AWS/Lambda Errors by FunctionName [Sum]",)
    assert widgets[2].lines == (
        "unexpected = failed - below",
        "X BelowThreshold by Workflow",
        "alarm X-Unexpected",
    )


def test_the_png_is_drawn_to_the_grid(tmp_path: Path):
    name, widgets = load_dashboard(_assembly(tmp_path, _body_as_cdk_writes_it()))

    path = draw_dashboard(name, widgets, tmp_path / "docs" / "dashboard.png")

    with Image.open(path) as image:
        width, height = image.size
    assert width > 1000 and height > 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"widgets": [', "DashboardBody is not JSON"),
        ('{"widgets": [{"x": 20, "width": 6}]}', "off CloudWatch's grid"),
        ('{"widgets": [{"x": "left"}]}', "must be numbers"),
    ],
)
def test_a_broken_dashboard_body_is_refused(tmp_path: Path, body: str, message: str):
    with pytest.raises(DashboardError, match=message):
        load_dashboard(_assembly(tmp_path, body))


def test_the_command_exits_2_without_a_dashboard(tmp_path: Path, capsys):
    write_cloud_assembly(tmp_path, {"X-Workflow": {"Resources": {}}})

    assert main(["--cdk-out", str(tmp_path), "--out", str(tmp_path / "d.png")]) == 2
    assert "expected one AWS::CloudWatch::Dashboard" in capsys.readouterr().err


def test_the_command_exits_2_without_a_cloud_assembly(tmp_path: Path, capsys):
    assert main(["--cdk-out", str(tmp_path), "--out", str(tmp_path / "d.png")]) == 2
    assert f"error: no {tmp_path / 'manifest.json'}: run `make synth` first" in capsys.readouterr().err


def test_the_command_draws_the_dashboard(tmp_path: Path, capsys):
    _assembly(tmp_path, _body_as_cdk_writes_it())

    assert main(["--cdk-out", str(tmp_path), "--out", str(tmp_path / "d.png")]) == 0
    assert capsys.readouterr().out == f"dashboard Board: 3 widgets drawn to {tmp_path / 'd.png'}\n"


def test_an_alarm_arn_reference_shows_the_alarm_name():
    assert placeholder_text({"Fn::GetAtt": ["AlarmA", "Arn"]}, {"AlarmA": "X-Unexpected"}) == "X-Unexpected"
    assert placeholder_text({"Fn::GetAtt": ["Other", "Arn"]}, {"AlarmA": "X-Unexpected"}) == "<Other.Arn>"


def test_the_synthesized_dashboard_is_drawn_with_every_alarm(synthesized_app, tmp_path: Path):
    assembly = Path(synthesized_app.assembly.directory)
    name, widgets = load_dashboard(assembly)
    monitoring = synthesized_app.template("Monitoring")
    alarm_names = {
        resource["Properties"]["AlarmName"]
        for resource in monitoring["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }

    shown = {
        line.removeprefix("alarm ")
        for widget in widgets
        for line in widget.lines
        if line.startswith("alarm ")
    }
    assert shown == alarm_names
    assert all(widget.x + widget.width <= 24 for widget in widgets)
    assert draw_dashboard(name, widgets, tmp_path / "dashboard.png").stat().st_size > 20_000
