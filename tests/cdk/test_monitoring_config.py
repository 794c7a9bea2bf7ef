"""The alarm settings: cdk.json's defaults, text from `-c` parsed to types, and every bad value refused in one line."""

from __future__ import annotations

import pytest

from stacks.config import AppConfig, cdk_json_context
from tests.cdk.helpers import assert_refused_in_one_line


@pytest.fixture(scope="module")
def defaults() -> dict:
    return cdk_json_context()


def test_defaults_fit_the_demo_and_subscribe_nobody(defaults):
    config = AppConfig.from_context(defaults)
    assert (
        config.alarm_email,
        config.alarm_unexpected_failures,
        config.alarm_endpoint_5xx_errors,
        config.alarm_latency_p90_ms,
        config.alarm_below_threshold_share,
        config.alarm_below_threshold_minutes,
        config.alarm_idle_hours,
    ) == ("", 1, 1, 1000, 0.5, 15, 24)


def test_command_line_text_values_are_parsed(defaults):
    config = AppConfig.from_context(
        {
            **defaults,
            "alarm_email": " ops@example.com ",
            "alarm_latency_p90_ms": "250",
            "alarm_below_threshold_share": "0.25",
            "alarm_below_threshold_minutes": "1440",
            "alarm_idle_hours": "168",
        }
    )
    assert config.alarm_email == "ops@example.com"
    assert config.alarm_latency_p90_ms == 250
    assert config.alarm_below_threshold_share == 0.25
    assert config.alarm_below_threshold_minutes == 1440
    assert config.alarm_idle_hours == 168


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("alarm_email", "ops", "one e-mail address"),
        ("alarm_email", "ops@example", "one e-mail address"),
        ("alarm_email", "a@b.com, c@d.com", "one e-mail address"),
        ("alarm_email", "ops @example.com", "one e-mail address"),
        ("alarm_unexpected_failures", "0", "[1, 100000]"),
        ("alarm_endpoint_5xx_errors", "1.5", "integer"),
        ("alarm_latency_p90_ms", "0", "[1, 60000]"),
        ("alarm_latency_p90_ms", "60001", "[1, 60000]"),
        ("alarm_below_threshold_share", "0", "(0.0, 1.0]"),
        ("alarm_below_threshold_share", "1.5", "(0.0, 1.0]"),
        ("alarm_below_threshold_share", "half", "a number"),
        ("alarm_below_threshold_minutes", "12", "[5, 1440] and a multiple of 5"),
        ("alarm_below_threshold_minutes", "1445", "[5, 1440]"),
        ("alarm_below_threshold_minutes", "0", "[5, 1440]"),
        ("alarm_idle_hours", "0", "[1, 168]"),
        ("alarm_idle_hours", "169", "[1, 168]"),
    ],
)
def test_bad_alarm_value_names_key_value_and_what_is_allowed(defaults, key, value, allowed):
    assert_refused_in_one_line(defaults, key, value, allowed)
