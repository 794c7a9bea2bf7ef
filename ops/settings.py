"""The app's settings as the CDK CLI takes them (cdk.json's context, `-c KEY=VALUE` over it), and the cloud
assembly `cdk synth` wrote from them: the options `ops preflight` and `ops cost` share."""

from __future__ import annotations

import argparse
from pathlib import Path

from ops.errors import OpsError
from stacks.config import AppConfig, ConfigError, cdk_json_context


def add_settings_options(parser: argparse.ArgumentParser, *, cdk_command: str, cdk_out_use: str) -> None:
    """`-c KEY=VALUE` (repeatable) and `--cdk-out`; `cdk_command` is the CDK command whose `-c` it mirrors."""
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        type=context_setting,
        metavar="KEY=VALUE",
        help=f"a setting over cdk.json's, as `cdk {cdk_command} -c` takes it (repeatable)",
    )
    parser.add_argument(
        "--cdk-out", type=Path, default=Path("cdk.out"), help=f"{cdk_out_use} (default: %(default)s)"
    )


def context_setting(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not key or not equals:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def app_config(args: argparse.Namespace) -> AppConfig:
    try:
        return AppConfig.from_context({**cdk_json_context(), **dict(args.context)})
    except ConfigError as error:
        raise OpsError(str(error)) from error
