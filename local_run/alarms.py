"""Evaluate a synthesized `AWS::CloudWatch::Alarm` on datapoints, as CloudWatch evaluates it.

What CloudWatch does (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html,
"Evaluating an alarm", and https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html)
and how this module does it:

- The metric's datapoints are aggregated per `Period` (periods aligned to the epoch) with the alarm's
  `Statistic` (Sum, Average, SampleCount, Minimum, Maximum) or `ExtendedStatistic` (pNN, pNN.N); a period
  without datapoints is *missing*. Percentiles here are nearest-rank over the period's values (CloudWatch's
  own are estimates; on a few values both pick an observed value).
- A metric math alarm (`Metrics`) aggregates each `MetricStat` the same way, then computes its one
  `Expression` (`+ - * /`, parentheses, numbers, metric ids and `FILL(id, number)`) per period. An operand
  without a value leaves the result without one (the period is missing), as does a division by zero; `FILL`
  gives a metric's missing periods a constant
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html, "FILL"), which is how
  the stack's expressions say what a missing metric means rather than relying on how arithmetic treats gaps.
- Each present value is compared with `Threshold` by `ComparisonOperator`.
- The alarm looks at the last `EvaluationPeriods` (N) periods up to the evaluation time, and goes to ALARM when
  `DatapointsToAlarm` (M, default N) of them breach. It retrieves more periods than N (the *evaluation range*;
  here 2N): when at least N of those hold datapoints, the N most recent real ones are evaluated and nothing is
  filled; when fewer do, the missing ones among the last N periods are filled according to `TreatMissingData`
  and every real one in the range is kept: `breaching` and `notBreaching` fill them as that; `missing`
  evaluates the real ones alone, and with none at all the alarm is INSUFFICIENT_DATA; `ignore` does the same
  but keeps its current state when there is none (a new alarm's state is INSUFFICIENT_DATA). Default: missing.

Anomaly-detection operators and other expressions are refused with `AlarmDefinitionError`, naming the alarm.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from local_run.emf import Datapoint, Dimensions

ALARM, OK, INSUFFICIENT_DATA = "ALARM", "OK", "INSUFFICIENT_DATA"
STATISTICS = ("Sum", "Average", "SampleCount", "Minimum", "Maximum")
_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d+)?|100)$")
COMPARISONS: Mapping[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
TREAT_MISSING_DATA = ("missing", "ignore", "breaching", "notBreaching")
EVALUATION_RANGE_FACTOR = 2
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class AlarmDefinitionError(ValueError):
    """An alarm uses something this evaluator does not implement, or is malformed; the message names it."""


@dataclass(frozen=True)
class MetricQuery:
    """One metric of an alarm: where its datapoints are and how they are aggregated per period."""

    namespace: str
    metric_name: str
    dimensions: Dimensions
    statistic: str  # Sum | Average | SampleCount | Minimum | Maximum | pNN
    period_s: int

    def describe(self) -> str:
        dimensions = ",".join(f"{name}={value}" for name, value in self.dimensions)
        return f"{self.namespace} {self.metric_name}{{{dimensions}}} {self.statistic}/{self.period_s}s"


@dataclass(frozen=True)
class AlarmDefinition:
    logical_id: str
    name: str
    threshold: float
    comparison: str
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing_data: str
    metrics: Mapping[str, MetricQuery]  # by id; a single-metric alarm has the one id "m"
    expression: str | None  # None: the alarm watches metrics["m"]
    period_s: int
    description: str = ""

    def watched(self) -> str:
        if self.expression is None:
            return self.metrics["m"].describe()
        return f"{self.expression} where " + "; ".join(
            f"{metric_id} = {query.describe()}" for metric_id, query in self.metrics.items()
        )


@dataclass(frozen=True)
class AlarmEvaluation:
    alarm: AlarmDefinition
    state: str
    value: float | None  # the most recent evaluated period's value; None when it is missing
    evaluated: tuple[float | None, ...] = field(
        default=()
    )  # the last N periods, oldest first (None: missing)
    reason: str = ""


def alarm_from_template(
    logical_id: str, properties: Mapping[str, Any], resolve: Callable[[Any], str]
) -> AlarmDefinition:
    """The alarm as CloudFormation's `AWS::CloudWatch::Alarm` properties declare it.

    `resolve` turns a property value that may be an intrinsic function (a dimension value made of another
    stack's output, say) into the text it stands for locally.
    """
    where = f"alarm {logical_id}"
    comparison = properties.get("ComparisonOperator")
    if comparison not in COMPARISONS:
        raise AlarmDefinitionError(
            f"{where}: ComparisonOperator {comparison!r} is not one of {list(COMPARISONS)}"
        )
    treat = properties.get("TreatMissingData", "missing")
    if treat not in TREAT_MISSING_DATA:
        raise AlarmDefinitionError(f"{where}: TreatMissingData {treat!r} is not one of {TREAT_MISSING_DATA}")
    evaluation_periods = _positive_int(properties.get("EvaluationPeriods"), f"{where}: EvaluationPeriods")
    datapoints = _positive_int(
        properties.get("DatapointsToAlarm", evaluation_periods), f"{where}: DatapointsToAlarm"
    )
    if datapoints > evaluation_periods:
        raise AlarmDefinitionError(f"{where}: DatapointsToAlarm {datapoints} exceeds EvaluationPeriods")
    if "Threshold" not in properties:
        raise AlarmDefinitionError(f"{where}: no Threshold (threshold metric ids are not supported)")
    if "Metrics" in properties:
        metrics, expression = _math_metrics(properties["Metrics"], resolve, where)
    else:
        metrics, expression = {"m": _single_metric(properties, resolve, where)}, None
    periods = {query.period_s for query in metrics.values()}
    if len(periods) != 1:
        raise AlarmDefinitionError(f"{where}: its metrics have different periods {sorted(periods)}")
    name = properties.get("AlarmName")
    return AlarmDefinition(
        logical_id=logical_id,
        name=resolve(name) if name is not None else logical_id,
        threshold=float(properties["Threshold"]),
        comparison=comparison,
        evaluation_periods=evaluation_periods,
        datapoints_to_alarm=datapoints,
        treat_missing_data=treat,
        metrics=metrics,
        expression=expression,
        period_s=periods.pop(),
        description=str(resolve(properties.get("AlarmDescription", ""))),
    )


def evaluate(alarm: AlarmDefinition, datapoints: Iterable[Datapoint], *, at: datetime) -> AlarmEvaluation:
    """The alarm's state at `at`, on these datapoints (the evaluation of the last periods ending at `at`)."""
    period = timedelta(seconds=alarm.period_s)
    last_period = _period_start(at, alarm.period_s)
    range_periods = alarm.evaluation_periods * EVALUATION_RANGE_FACTOR
    starts = [last_period - period * back for back in reversed(range(range_periods))]
    points = list(datapoints)
    series = {metric_id: aggregate(query, points, starts) for metric_id, query in alarm.metrics.items()}
    values = series["m"] if alarm.expression is None else _compute(alarm.expression, series, len(starts))
    return _state(alarm, values)


def aggregate(
    query: MetricQuery, datapoints: Iterable[Datapoint], starts: Sequence[datetime]
) -> list[float | None]:
    """The query's statistic per period starting at each of `starts` (None: no datapoint in that period)."""
    period = timedelta(seconds=query.period_s)
    index = {start: position for position, start in enumerate(starts)}
    buckets: list[list[float]] = [[] for _ in starts]
    for point in datapoints:
        if (point.namespace, point.metric_name, point.dimensions) != (
            query.namespace,
            query.metric_name,
            query.dimensions,
        ):
            continue
        position = index.get(_period_start(point.timestamp, query.period_s))
        if position is not None and point.timestamp < starts[position] + period:
            buckets[position].append(point.value)
    return [statistic(query.statistic, values) if values else None for values in buckets]


def statistic(name: str, values: Sequence[float]) -> float:
    if name == "Sum":
        return math.fsum(values)
    if name == "Average":
        return math.fsum(values) / len(values)
    if name == "SampleCount":
        return float(len(values))
    if name == "Minimum":
        return min(values)
    if name == "Maximum":
        return max(values)
    match = _PERCENTILE.match(name)
    if match is None:
        raise AlarmDefinitionError(f"statistic {name!r} is not one of {STATISTICS} or a percentile pNN")
    ordered = sorted(values)
    rank = math.ceil(float(match.group(1)) / 100 * len(ordered))  # nearest rank
    return ordered[max(rank, 1) - 1]


def _state(alarm: AlarmDefinition, values: Sequence[float | None]) -> AlarmEvaluation:
    n, m = alarm.evaluation_periods, alarm.datapoints_to_alarm
    breaches = COMPARISONS[alarm.comparison]
    last_n = tuple(values[-n:])
    latest = last_n[-1]
    real = [value for value in values if value is not None]
    if len(real) >= n:
        evaluated = [breaches(value, alarm.threshold) for value in real[-n:]]
        how = f"the last {n} real datapoints"
    else:
        filled_missing = last_n.count(None)
        evaluated = [breaches(value, alarm.threshold) for value in real]
        if alarm.treat_missing_data in ("breaching", "notBreaching"):
            evaluated += [alarm.treat_missing_data == "breaching"] * filled_missing
            how = f"{len(real)} real datapoint(s), {filled_missing} missing treated as {alarm.treat_missing_data}"
        elif not real:
            reason = f"no datapoint in the evaluation range (TreatMissingData {alarm.treat_missing_data})"
            if alarm.treat_missing_data == "ignore":
                reason += ": it keeps its state, INSUFFICIENT_DATA for a new alarm"
            return AlarmEvaluation(alarm, INSUFFICIENT_DATA, latest, last_n, reason)
        else:
            how = f"{len(real)} real datapoint(s), missing ones not considered ({alarm.treat_missing_data})"
    breaching = sum(evaluated)
    state = ALARM if breaching >= m else OK
    return AlarmEvaluation(alarm, state, latest, last_n, f"{breaching} breaching, {m} needed, of {how}")


def _period_start(moment: datetime, period_s: int) -> datetime:
    seconds = (moment - _EPOCH) // timedelta(seconds=1)
    return _EPOCH + timedelta(seconds=seconds - seconds % period_s)


def _single_metric(properties: Mapping[str, Any], resolve: Callable[[Any], str], where: str) -> MetricQuery:
    statistic_name = properties.get("Statistic") or properties.get("ExtendedStatistic")
    if statistic_name is None:
        raise AlarmDefinitionError(f"{where}: neither Statistic nor ExtendedStatistic")
    return _query({**properties, "Stat": statistic_name}, resolve, where, period=properties.get("Period"))


def _query(
    metric: Mapping[str, Any], resolve: Callable[[Any], str], where: str, *, period: Any
) -> MetricQuery:
    for required in ("Namespace", "MetricName"):
        if required not in metric:
            raise AlarmDefinitionError(f"{where}: no {required}")
    stat = metric["Stat"]
    if stat not in STATISTICS and not _PERCENTILE.match(str(stat)):
        raise AlarmDefinitionError(
            f"{where}: statistic {stat!r} is not one of {STATISTICS} or a percentile pNN"
        )
    dimensions = tuple(
        sorted(
            (str(resolve(item["Name"])), str(resolve(item["Value"]))) for item in metric.get("Dimensions", [])
        )
    )
    return MetricQuery(
        namespace=str(resolve(metric["Namespace"])),
        metric_name=str(resolve(metric["MetricName"])),
        dimensions=dimensions,
        statistic=stat,
        period_s=_positive_int(period, f"{where}: Period"),
    )


def _math_metrics(
    entries: Any, resolve: Callable[[Any], str], where: str
) -> tuple[dict[str, MetricQuery], str]:
    metrics: dict[str, MetricQuery] = {}
    expressions = []
    for entry in entries if isinstance(entries, list) else []:
        metric_id = entry.get("Id")
        if "MetricStat" in entry:
            stat = entry["MetricStat"]
            metrics[metric_id] = _query(
                {**stat.get("Metric", {}), "Stat": stat.get("Stat")},
                resolve,
                f"{where}: metric {metric_id}",
                period=stat.get("Period"),
            )
        elif "Expression" in entry:
            expressions.append(entry)
    if len(expressions) != 1:
        raise AlarmDefinitionError(
            f"{where}: expected one Expression among its Metrics, found {len(expressions)}"
        )
    expression = str(expressions[0]["Expression"])
    unknown = {token for kind, token in _tokens(expression, where) if kind == "id"} - set(metrics)
    if unknown:
        raise AlarmDefinitionError(
            f"{where}: expression {expression!r} names unknown metric ids {sorted(unknown)}"
        )
    return metrics, expression


# The expression language this evaluator implements: numbers, metric ids, + - * /, parentheses and FILL(id, n).
_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d*)?|\.\d+)|(?P<id>[a-z][A-Za-z0-9_]*)|(?P<function>FILL)|(?P<op>[-+*/(),]))"
)
_OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


def _tokens(expression: str, where: str) -> list[tuple[str, str]]:
    """(kind, text) pairs: kind is number, id or op."""
    tokens = []
    position = 0
    text = expression.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise AlarmDefinitionError(
                f"{where}: expression {expression!r} has {text[position:].strip()!r}, which is not a number, "
                "a metric id, + - * /, a parenthesis or FILL(id, number)"
            )
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    return tokens


def _compute(expression: str, series: Mapping[str, list[float | None]], length: int) -> list[float | None]:
    tokens = [token for _, token in _tokens(expression, f"expression {expression!r}")]
    values = []
    for index in range(length):
        values.append(_evaluate_at(tokens, series, index, expression))
    return values


def _evaluate_at(
    tokens: list[str], series: Mapping[str, list[float | None]], index: int, expression: str
) -> float | None:
    """Recursive descent over `expr := term (('+'|'-') term)*`, `term := factor (('*'|'/') factor)*`,
    `factor := number | id | FILL '(' id ',' number ')' | '-' factor | '(' expr ')'`; None where an operand has
    no value, and on x/0."""
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        if position >= len(tokens):
            raise AlarmDefinitionError(f"expression {expression!r} ends too early")
        position += 1
        return tokens[position - 1]

    def expr() -> float | None:
        value = term()
        while peek() in ("+", "-"):
            op = _OPERATORS[take()]
            right = term()
            value = None if value is None or right is None else op(value, right)
        return value

    def term() -> float | None:
        value = factor()
        while peek() in ("*", "/"):
            symbol = take()
            right = factor()
            if value is None or right is None or (symbol == "/" and right == 0):
                value = None
            else:
                value = _OPERATORS[symbol](value, right)
        return value

    def factor() -> float | None:
        token = take()
        if token == "-":
            value = factor()
            return None if value is None else -value
        if token == "(":
            value = expr()
            if take() != ")":
                raise AlarmDefinitionError(f"expression {expression!r}: a parenthesis is not closed")
            return value
        if token == "FILL":
            return fill()
        if token in series:
            return series[token][index]
        try:
            return float(token)
        except ValueError:
            raise AlarmDefinitionError(f"expression {expression!r}: unexpected {token!r}") from None

    def fill() -> float:
        opening, metric_id, comma, constant, closing = (take() for _ in range(5))
        if (opening, comma, closing) != ("(", ",", ")") or metric_id not in series:
            raise AlarmDefinitionError(f"expression {expression!r}: expected FILL(metric id, number)")
        try:
            replacement = float(constant)
        except ValueError:
            raise AlarmDefinitionError(
                f"expression {expression!r}: expected FILL(metric id, number)"
            ) from None
        value = series[metric_id][index]
        return replacement if value is None else value

    value = expr()
    if position != len(tokens):
        raise AlarmDefinitionError(f"expression {expression!r}: unexpected {tokens[position]!r}")
    return value


def _positive_int(value: Any, where: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1 or number != value and str(number) != str(value):
        raise AlarmDefinitionError(f"{where} is {value!r}, not a positive whole number")
    return number
