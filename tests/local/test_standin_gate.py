"""The local run's quality gate: the stand-in model's own accuracy against min_validation_accuracy."""

from __future__ import annotations

import pytest

from local_run import cli
from stacks.config import AppConfig, cdk_json_context


def config(bar: str) -> AppConfig:
    return AppConfig.from_context({**cdk_json_context(), "min_validation_accuracy": bar})


def test_the_line_is_labelled_as_the_stand_ins_own_accuracy_and_fits_the_demo_width():
    line = cli.standin_gate(0.8, config("0.8"))
    assert line == "  quality gate on the stand-in's own accuracy: 0.8 >= min_validation_accuracy 0.8, passed"
    assert len(line) <= 100


@pytest.mark.parametrize("accuracy", [0.7995, float("nan")])
def test_a_stand_in_below_the_bar_or_unmeasured_stops_the_run(accuracy):
    with pytest.raises(cli.StandInBelowBar, match="min_validation_accuracy 0.8, as a deploy would refuse it"):
        cli.standin_gate(accuracy, config("0.8"))


def test_the_refusal_is_one_error_line_and_exit_status_1(monkeypatch, capsys):
    def refuse(*args):
        raise cli.StandInBelowBar("the stand-in's own accuracy 0.5 is below min_validation_accuracy 0.8")

    monkeypatch.setattr(cli, "_run", refuse)
    assert cli.main(["demo", "--no-progress"]) == 1
    assert (
        capsys.readouterr().err
        == "error: the stand-in's own accuracy 0.5 is below min_validation_accuracy 0.8\n"
    )
