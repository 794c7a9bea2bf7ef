"""Draw the layout of the synthesized CloudWatch dashboard as a PNG, from its own widget definitions.

`python -m ops.dashboard_png --cdk-out cdk.out --out docs/dashboard.png` (`make dashboard`) reads the
`AWS::CloudWatch::Dashboard` of the `<project>-Monitoring` template; its `DashboardBody` is JSON text, in the
template often an `Fn::Join` of strings and references (a function's name, the region). The references become
placeholder text (`<Workflow.FilterName>`, `<AWS::Region>`), then each widget is drawn where the body puts it:
`x`, `y`, `width`, `height` on CloudWatch's grid, 24 units wide
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html),
with its title and the metrics, expressions or alarms it shows.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from ops.assembly import MONITORING_STACK_SUFFIX, AssemblyError, CloudAssembly

DASHBOARD_TYPE = "AWS::CloudWatch::Dashboard"
GRID_WIDTH = 24  # CloudWatch dashboards are 24 grid units wide
WIDGET_COLORS = {"metric": "#e8f1fb", "text": "#f4f4f4", "alarm": "#fdecea", "log": "#eef7ee"}
INCHES_PER_UNIT = 0.72


class DashboardError(Exception):
    """The cloud assembly has no dashboard to draw, or its body is not what CloudWatch accepts."""


@dataclass(frozen=True)
class Widget:
    kind: str
    x: int
    y: int
    width: int
    height: int
    title: str
    lines: tuple[str, ...]  # what it shows: one line per metric, expression, alarm or text line


def load_dashboard(assembly_dir: Path) -> tuple[str, list[Widget]]:
    """The dashboard's name and widgets, from the monitoring stack of a cloud assembly (cdk.out)."""
    assembly = CloudAssembly(assembly_dir)
    dashboards = [
        (stack_name, logical_id, resource)
        for stack_name in assembly.stacks_ending_with(MONITORING_STACK_SUFFIX)
        for logical_id, resource in assembly.template(stack_name).get("Resources", {}).items()
        if resource.get("Type") == DASHBOARD_TYPE
    ]
    if len(dashboards) != 1:
        raise DashboardError(
            f"expected one {DASHBOARD_TYPE} in a *{MONITORING_STACK_SUFFIX} stack under {assembly_dir}, "
            f"found {len(dashboards)}; synthesize the app first (make synth)"
        )
    stack_name, logical_id, resource = dashboards[0]
    properties = resource.get("Properties", {})
    # An alarm widget holds its alarms' ARNs, references in the template: shown by the alarms' names.
    alarm_names = {
        alarm_id: alarm["Properties"]["AlarmName"]
        for alarm_id, alarm in assembly.template(stack_name)["Resources"].items()
        if alarm.get("Type") == "AWS::CloudWatch::Alarm"
        and isinstance(alarm["Properties"].get("AlarmName"), str)
    }
    body_text = placeholder_text(properties.get("DashboardBody"), alarm_names)
    try:
        body = json.loads(body_text)
    except ValueError as error:
        raise DashboardError(f"{stack_name} {logical_id}: DashboardBody is not JSON: {error}") from error
    name = placeholder_text(properties.get("DashboardName", logical_id))
    return name, [
        _widget(entry, f"{stack_name} {logical_id} widget {i}")
        for i, entry in enumerate(body.get("widgets", []))
    ]


def placeholder_text(node: Any, alarm_names: dict[str, str] | None = None) -> str:
    """A template value as text: strings as they are, `Fn::Join` joined, an alarm's ARN as its name (from
    `alarm_names`, by logical id), any other intrinsic as `<...>`."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and len(node) == 1:
        ((function, argument),) = node.items()
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(placeholder_text(part, alarm_names) for part in parts)
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt" and argument[0] in (alarm_names or {}):
            return alarm_names[argument[0]]
        if function == "Fn::GetAtt":
            return f"<{'.'.join(argument) if isinstance(argument, list) else argument}>"
        if function == "Fn::GetStackOutput":
            return f"<{argument.get('StackName', '').rsplit('-', 1)[-1]}.{argument.get('OutputName')}>"
        if function == "Fn::ImportValue":
            return f"<import {placeholder_text(argument)}>"
    return f"<{json.dumps(node)}>"


def draw_dashboard(name: str, widgets: Sequence[Widget], out_path: Path) -> Path:
    """One PNG: every widget as a box at its grid position, with its title and what it shows."""
    if not widgets:
        raise DashboardError(f"dashboard {name} has no widgets")
    rows = max(widget.y + widget.height for widget in widgets)
    figure = Figure(figsize=(GRID_WIDTH * INCHES_PER_UNIT, rows * INCHES_PER_UNIT * 0.55 + 0.8))
    axes = figure.add_axes((0.005, 0.005, 0.99, 0.99 - 0.6 / figure.get_figheight()))
    axes.set_xlim(0, GRID_WIDTH)
    axes.set_ylim(rows, 0)
    axes.axis("off")
    for widget in widgets:
        _draw_widget(axes, widget)
    figure.suptitle(
        f"CloudWatch dashboard {name}: layout from its synthesized widget definitions (24-unit grid)",
        fontsize=14,
        y=1 - 0.15 / figure.get_figheight(),
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out_path, dpi=80)
    return out_path


def _draw_widget(axes, widget: Widget) -> None:
    pad = 0.08
    axes.add_patch(
        FancyBboxPatch(
            (widget.x + pad, widget.y + pad),
            widget.width - 2 * pad,
            widget.height - 2 * pad,
            boxstyle="round,pad=0,rounding_size=0.15",
            facecolor=WIDGET_COLORS.get(widget.kind, "#ffffff"),
            edgecolor="#8a99a8",
        )
    )
    # Characters that fit across the box at the fonts below (bold 10 pt title, 8 pt lines, 80 dpi).
    characters = max(int(widget.width * 6.5), 12)
    axes.text(
        widget.x + 0.3,
        widget.y + 0.35,
        textwrap.shorten(widget.title or f"({widget.kind} widget)", characters),
        fontsize=10,
        fontweight="bold",
        va="top",
    )
    room = max(int((widget.height - 0.9) / 0.42), 1)
    lines = [textwrap.shorten(line, int(widget.width * 10)) for line in widget.lines]
    if len(lines) > room:
        lines = [*lines[: room - 1], f"... and {len(lines) - room + 1} more"]
    for index, line in enumerate(lines):
        axes.text(widget.x + 0.3, widget.y + 1.0 + index * 0.42, line, fontsize=8, va="top", color="#243447")


def _widget(entry: Any, where: str) -> Widget:
    if not isinstance(entry, dict):
        raise DashboardError(f"{where} is not an object")
    try:
        x, y, width, height = (int(entry.get(key, default)) for key, default in _GEOMETRY_DEFAULTS)
    except (TypeError, ValueError) as error:
        raise DashboardError(f"{where}: x, y, width and height must be numbers: {error}") from error
    if x < 0 or y < 0 or width < 1 or height < 1 or x + width > GRID_WIDTH:
        raise DashboardError(f"{where}: x={x} y={y} width={width} height={height} is off CloudWatch's grid")
    properties = entry.get("properties", {})
    kind = entry.get("type", "metric")
    title, lines = str(properties.get("title", "")), _contents(kind, properties)
    if kind == "text" and not title and lines:
        title, lines = lines[0], lines[1:]  # a text widget's first line is its heading
    return Widget(kind, x, y, width, height, title, tuple(lines))


# CloudWatch's defaults for a widget without them (the dashboard body structure page): width 6, height 6.
_GEOMETRY_DEFAULTS = (("x", 0), ("y", 0), ("width", 6), ("height", 6))


def _contents(kind: str, properties: dict[str, Any]) -> list[str]:
    if kind == "text":
        return [
            line.strip("# ").strip()
            for line in str(properties.get("markdown", "")).splitlines()
            if line.strip()
        ]
    lines = [_metric_line(metric) for metric in properties.get("metrics", [])]
    lines += [f"alarm {_alarm_name(arn)}" for arn in properties.get("alarms", [])]
    annotations = properties.get("annotations", {})
    # An alarm widget lists its alarm's ARN under annotations.alarms (CDK's AlarmWidget writes it there).
    lines += [f"alarm {_alarm_name(str(arn))}" for arn in annotations.get("alarms", [])]
    lines += [
        f"line {item.get('label', '')} {item.get('value', '')}".strip()
        for item in annotations.get("horizontal", [])
    ]
    return [line for line in lines if line]


def _metric_line(metric: Any) -> str:
    """A metric array `[namespace, name, dim, value, ..., {options}]` or an expression, as one short line."""
    if not isinstance(metric, list):
        return ""
    options = metric[-1] if metric and isinstance(metric[-1], dict) else {}
    names = [str(part) for part in metric if not isinstance(part, dict)]
    stat = options.get("stat", "")
    label = options.get("label")
    if "expression" in options:
        return f"{label or options.get('id', 'expression')} = {options['expression']}"
    if len(names) < 2:
        return label or ""
    namespace, metric_name, dimensions = names[0], names[1], names[2:]
    dimension_names = ",".join(dimensions[0::2])
    shown = f"{namespace} {metric_name}" + (f" by {dimension_names}" if dimension_names else "")
    return shown + (f" [{stat}]" if stat else "") + (f" ({label})" if label else "")


def _alarm_name(arn: str) -> str:
    return arn.rsplit(":alarm:", 1)[-1] if ":alarm:" in arn else arn


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.dashboard_png",
        description="Draw the synthesized CloudWatch dashboard's layout (its widgets' positions, titles and "
        "metrics) as a PNG.",
    )
    parser.add_argument(
        "--cdk-out", type=Path, default=Path("cdk.out"), help="cloud assembly (default: %(default)s)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("docs/dashboard.png"), help="PNG to write (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    try:
        name, widgets = load_dashboard(args.cdk_out)
        path = draw_dashboard(name, widgets, args.out)
    except (DashboardError, AssemblyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"dashboard {name}: {len(widgets)} widgets drawn to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
