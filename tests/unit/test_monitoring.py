"""Monitoring under mocks (R-MON-2..4) and the dashboard body as a pure function."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from market_data_pipeline.monitoring import AlarmSpec, alarm_specs, dashboard_body

from tests.harness import ACCOUNT, REGION, policy_doc
from tests.unit.conftest import Run, deploy

FUNCTIONS = ["DataIngestion-prod", "DataProcessor-prod", "DataAggregator-prod", "DataQuery-prod"]
DLQS = [
    "ProcessingQueueDLQ-prod",
    "AggregationQueueDLQ-prod",
    "DataIngestionFailureDLQ-prod",
    "DataAggregatorFailureDLQ-prod",
    "TicksStoredTargetDLQ-prod",
    "ScheduleTargetDLQ-prod",
]
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:MarketDataAlarms-prod"


def matches(pattern: str, line: str) -> bool:
    """CloudWatch Logs JSON filter semantics for the `{ $.field = "value" }` form (an independent reading)."""
    m = re.fullmatch(r'\{\s*\$\.([A-Za-z_][\w.]*)\s*=\s*"([^"]*)"\s*\}', pattern)
    assert m, f"unsupported pattern {pattern!r}"
    try:
        value: Any = json.loads(line)
    except json.JSONDecodeError:
        return False  # JSON patterns never match non-JSON lines
    for part in m.group(1).split("."):
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return bool(value == m.group(2))


# What Powertools Logger (TypeScript) writes for logger.error(...) and logger.info(...) (JSON lines).
POWERTOOLS_ERROR = json.dumps(
    {
        "level": "ERROR",
        "message": "record failed",
        "timestamp": "2026-11-25T18:00:00.000Z",
        "service": "processor",
        "sampling_rate": 0,
        "xray_trace_id": "1-abc",
        "error": {"name": "Error", "message": "boom", "stack": "Error: boom"},
    }
)
POWERTOOLS_INFO = json.dumps({"level": "INFO", "message": "stored", "service": "processor"})
LAMBDA_PLATFORM = json.dumps({"time": "2026-11-25T18:00:00Z", "type": "platform.report", "record": {}})


# proves R-MON-2
def test_r_mon_2_a_metric_filter_per_function_matching_powertools_errors(default_run: Run) -> None:
    filters = default_run.all_inputs("aws:cloudwatch/logMetricFilter:LogMetricFilter")
    assert sorted(f["logGroupName"] for f in filters) == sorted(f"/aws/lambda/{n}" for n in FUNCTIONS)
    metric_names = set()
    for f in filters:
        assert matches(f["pattern"], POWERTOOLS_ERROR)
        assert not matches(f["pattern"], POWERTOOLS_INFO)
        assert not matches(f["pattern"], LAMBDA_PLATFORM)
        assert not matches(f["pattern"], "plain text ERROR line")
        t = f["metricTransformation"]
        assert (t["value"], t["namespace"]) == ("1", "MarketData/Logs")
        metric_names.add(t["name"])
    assert len(metric_names) == 4  # one metric per function


def _alarms(run: Run) -> dict[str, dict[str, Any]]:
    return run.by_name("aws:cloudwatch/metricAlarm:MetricAlarm")


# proves R-MON-3
def test_r_mon_3_alarms_for_dlqs_errors_throttles_age_and_logged_errors(default_run: Run) -> None:
    alarms = _alarms(default_run)
    by_metric: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for a in alarms.values():
        by_metric.setdefault((a["namespace"], a["metricName"]), []).append(a)
        assert a["alarmActions"] == [TOPIC]
        assert a["comparisonOperator"] == "GreaterThanThreshold"
    dlq_alarms = by_metric[("AWS/SQS", "ApproximateNumberOfMessagesVisible")]
    assert sorted(a["dimensions"]["QueueName"] for a in dlq_alarms) == sorted(DLQS)
    assert all(a["threshold"] == 0 for a in dlq_alarms)  # not empty
    for metric in ("Errors", "Throttles"):
        got = by_metric[("AWS/Lambda", metric)]
        assert sorted(a["dimensions"]["FunctionName"] for a in got) == sorted(FUNCTIONS)
        assert all(a["threshold"] == 0 and a["statistic"] == "Sum" for a in got)
    ages = {a["dimensions"]["QueueName"]: a for a in by_metric[("AWS/SQS", "ApproximateAgeOfOldestMessage")]}
    assert set(ages) == {"ProcessingQueue-prod", "AggregationQueue-prod"}
    assert all(0 < a["threshold"] <= 4 * 24 * 3600 for a in ages.values())
    # The buffer holds deferrals up to 900 s by design (R-PERF-1): its alarm only fires beyond that.
    assert ages["AggregationQueue-prod"]["threshold"] > 900
    filters = default_run.all_inputs("aws:cloudwatch/logMetricFilter:LogMetricFilter")
    for f in filters:
        t = f["metricTransformation"]
        assert len(by_metric[(t["namespace"], t["name"])]) == 1  # the filter's metric has its alarm


# proves R-MON-3, R-SEC-3
def test_r_mon_3_topic_tls_only_and_email_subscription(default_run: Run) -> None:
    (topic,) = default_run.all_inputs("aws:sns/topic:Topic")
    assert topic["name"] == "MarketDataAlarms-prod"
    (sub,) = default_run.all_inputs("aws:sns/topicSubscription:TopicSubscription")
    assert (sub["protocol"], sub["endpoint"], sub["topic"]) == ("email", "oncall@example.com", TOPIC)
    (policy,) = default_run.all_inputs("aws:sns/topicPolicy:TopicPolicy")
    doc = policy_doc(policy["policy"])
    allow_cw = [s for s in doc["Statement"] if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert allow_cw and allow_cw[0]["Action"] == "sns:Publish" and allow_cw[0]["Resource"] == TOPIC
    # Only this pipeline's alarms (every alarm name ends with -<suffix>).
    pattern = allow_cw[0]["Condition"]["ArnLike"]["aws:SourceArn"]
    assert pattern == f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:*-prod"
    assert all(name.endswith("-prod") for name in _alarms(default_run))
    deny = [s for s in doc["Statement"] if s["Effect"] == "Deny"]
    assert deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# proves R-MON-3
def test_r_mon_3_no_email_no_subscription() -> None:
    run = deploy()
    assert run.of_type("aws:sns/topicSubscription:TopicSubscription") == []
    assert _alarms(run)  # the alarms and topic exist anyway


# proves R-MON-4
def test_r_mon_4_dashboard_shows_every_part_of_the_pipeline(default_run: Run) -> None:
    (dash,) = default_run.all_inputs("aws:cloudwatch/dashboard:Dashboard")
    assert dash["dashboardName"] == f"MarketDataPipeline-prod-{REGION}"  # dashboards are account-wide
    body = json.loads(dash["dashboardBody"])
    metrics = [m for w in body["widgets"] for m in w["properties"]["metrics"]]
    assert all(w["properties"]["region"] == REGION for w in body["widgets"])
    dims = {v for m in metrics for v in m[2:]}
    assert (
        set(FUNCTIONS) | set(DLQS) | {"ProcessingQueue-prod", "MarketDataState-prod", "MarketDataApi-prod"}
        <= dims
    )


# proves R-MON-4
def test_r_mon_4_dashboard_body_is_a_pure_function() -> None:
    def body(region: str, s: str) -> Any:
        return dashboard_body(
            region, s, [f"DataQuery-{s}"], f"Q-{s}", [f"D-{s}"], f"T-{s}", f"A-{s}", f"st{s}"
        )

    a = body("eu-west-1", "aaa")
    # Pure: another stack's body in between changes nothing (no state kept between calls), and each body is a
    # template over its own arguments (nothing hard-coded, nothing left over from an earlier call).
    b = body("ap-south-1", "bbb")
    assert a == body("eu-west-1", "aaa")
    assert json.dumps(a).replace("aaa", "bbb").replace("eu-west-1", "ap-south-1") == json.dumps(b)
    assert "bbb" not in json.dumps(a) and "aaa" not in json.dumps(b)
    widgets = a["widgets"]
    assert {w["properties"]["region"] for w in widgets} == {"eu-west-1"}
    # Widgets must not overlap on the 24-column grid.
    cells = set()
    for w in widgets:
        assert w["x"] >= 0 and w["x"] + w["width"] <= 24
        for x in range(w["x"], w["x"] + w["width"]):
            for y in range(w["y"], w["y"] + w["height"]):
                assert (x, y) not in cells
                cells.add((x, y))
    assert ["MarketData/Logs", "DataQueryErrors-aaa"] in [
        m for w in widgets for m in w["properties"]["metrics"]
    ]


# proves R-MON-4 (issue 11): DynamoDB's ThrottledRequests exists only per (TableName, Operation); a TableName-only
# row of it is an empty graph. The table rows use the metrics that exist per TableName.
def test_r_mon_4_table_throttle_graph_uses_metrics_that_exist_per_table() -> None:
    body = dashboard_body("us-east-1", "x", ["DataQuery-x"], "Q-x", ["D-x"], "T-x", "A-x", "x")
    rows = [m for w in body["widgets"] for m in w["properties"]["metrics"] if m[0] == "AWS/DynamoDB"]
    assert rows and all(m[2:] == ["TableName", "T-x"] for m in rows)
    names = {m[1] for m in rows}
    assert "ThrottledRequests" not in names
    assert {"ReadThrottleEvents", "WriteThrottleEvents"} <= names


# alarm_specs is a pure table: (suffix, functions) -> the alarms. Each row below is written out from R-MON-3 and
# docs/operations.md ("Alarms"), independently of the code: logical name, name, description, namespace, metric,
# dimensions, statistic, threshold, period, evaluation periods (the model: awsx's subnetSpecs + vpc.test.ts, a table
# of inputs and the specs expected).
# fmt: off
def _function_rows(f: str, s: str) -> list[AlarmSpec]:
    fn = (("FunctionName", f"{f}-{s}"),)
    return [
        AlarmSpec(f"{f}-log-errors-alarm", f"{f}-LoggedErrors-{s}", f"{f}-{s} logged errors (level ERROR)",
             "MarketData/Logs", f"{f}Errors-{s}", (), "Sum", 0, 300, 1),
        AlarmSpec(f"{f}-errors-alarm", f"{f}-Errors-{s}", f"{f}-{s} errors (AWS/Lambda)",
             "AWS/Lambda", "Errors", fn, "Sum", 0, 300, 1),
        AlarmSpec(f"{f}-throttles-alarm", f"{f}-Throttles-{s}", f"{f}-{s} throttles (AWS/Lambda)",
             "AWS/Lambda", "Throttles", fn, "Sum", 0, 300, 1),
    ]


def _queue_rows(s: str) -> list[AlarmSpec]:
    def q(name: str) -> tuple[tuple[str, str], ...]:
        return (("QueueName", f"{name}-{s}"),)

    age, visible = "ApproximateAgeOfOldestMessage", "ApproximateNumberOfMessagesVisible"
    return [
        AlarmSpec("queue-age-alarm", f"ProcessingQueue-OldestMessageAge-{s}",
             f"Oldest message in ProcessingQueue-{s} older than 900 s",
             "AWS/SQS", age, q("ProcessingQueue"), "Maximum", 900, 60, 5),
        AlarmSpec("aggregation-queue-age-alarm", f"AggregationQueue-OldestMessageAge-{s}",
             f"Oldest message in AggregationQueue-{s} older than 1800 s",
             "AWS/SQS", age, q("AggregationQueue"), "Maximum", 1800, 60, 5),
    ] + [
        AlarmSpec(f"{dlq}-not-empty-alarm", f"{dlq}-NotEmpty-{s}", f"Dead-letter queue {dlq}-{s} holds messages",
             "AWS/SQS", visible, q(dlq), "Maximum", 0, 60, 1)
        for dlq in ("ProcessingQueueDLQ", "AggregationQueueDLQ", "DataIngestionFailureDLQ",
                    "DataAggregatorFailureDLQ", "TicksStoredTargetDLQ", "ScheduleTargetDLQ")
    ]


ALL_FUNCTIONS = ("DataIngestion", "DataProcessor", "DataAggregator", "DataQuery")  # R-FN-1
ALARM_TABLE: list[tuple[str, str, tuple[str, ...], list[AlarmSpec]]] = [
    # (id, suffix, functions, the alarms expected in order)
    ("no-functions", "dev", (), _queue_rows("dev")),
    ("one-function", "qa-1", ("DataQuery",), _function_rows("DataQuery", "qa-1") + _queue_rows("qa-1")),
    ("the-four", "prod", ALL_FUNCTIONS,
     [r for f in ALL_FUNCTIONS for r in _function_rows(f, "prod")] + _queue_rows("prod")),
]
# fmt: on


# proves R-MON-3
@pytest.mark.parametrize(
    ("suffix", "functions", "expected"), [r[1:] for r in ALARM_TABLE], ids=[r[0] for r in ALARM_TABLE]
)
def test_r_mon_3_alarm_specs_table(
    suffix: str, functions: tuple[str, ...], expected: list[AlarmSpec]
) -> None:
    assert alarm_specs(suffix, functions) == expected
    assert alarm_specs(suffix, functions) == expected  # pure: the same again
    if functions == ALL_FUNCTIONS:
        assert alarm_specs(suffix) == expected  # every function by default


# proves R-MON-3: one loop turns the specs into the alarms, nothing else creates one.
def test_r_mon_3_the_alarms_are_exactly_alarm_specs(default_run: Run) -> None:
    recorded = {
        a.name: default_run.mocks.inputs(a)
        for a in default_run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    specs = alarm_specs("prod")
    assert sorted(recorded) == sorted(f"md-monitoring-{spec.logical}" for spec in specs)
    for spec in specs:
        got = recorded[f"md-monitoring-{spec.logical}"]
        assert (got["name"], got["alarmDescription"], got["namespace"], got["metricName"]) == (
            spec.name,
            spec.description,
            spec.namespace,
            spec.metric,
        )
        assert got.get("dimensions") == (dict(spec.dimensions) or None)
        assert (got["statistic"], got["threshold"], got["period"], got["evaluationPeriods"]) == (
            spec.statistic,
            spec.threshold,
            spec.period,
            spec.evaluation_periods,
        )
        assert got["alarmActions"] == got["okActions"] == [TOPIC]
        assert got["treatMissingData"] == "notBreaching"


# proves R-MON-3: the operator's page has a row for every alarm the component creates (one per function alarm kind).
def test_r_mon_3_every_alarm_has_its_row_in_operations_md() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `([^`]+)`", text, flags=re.MULTILINE))
    missing = []
    for spec in alarm_specs("<s>"):
        function, _, rest = spec.name.partition("-")
        name = f"<Function>-{rest}" if function in ALL_FUNCTIONS else spec.name
        if name not in rows:
            missing.append(name)
    assert not missing, f"docs/operations.md has no row for the alarms {missing}"
