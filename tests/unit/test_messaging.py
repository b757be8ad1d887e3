"""Messaging and triggers under mocks (R-SQS-1..3, R-EVB-1, R-EVB-2, R-FN-3..5)."""

import json
from typing import Any

from market_data_pipeline.constants import DEFAULT_AGGREGATION_BATCHING_WINDOW_SECONDS

from tests.harness import ACCOUNT, REGION, policy_doc
from tests.unit.conftest import Run, deploy

QUEUE = "aws:sqs/queue:Queue"


def arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def fn_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def queue_policies(run: Run) -> dict[str, dict[str, Any]]:
    """Queue URL -> parsed policy."""
    return {i["queueUrl"]: policy_doc(i["policy"]) for i in run.all_inputs("aws:sqs/queuePolicy:QueuePolicy")}


def url(name: str) -> str:
    return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"


# proves R-SQS-1, R-SEC-3
def test_r_sqs_1_processing_queue_retention_visibility_sse_tls(default_run: Run) -> None:
    q = default_run.by_name(QUEUE)["ProcessingQueue-prod"]
    assert q["messageRetentionSeconds"] == 4 * 24 * 3600
    assert q["visibilityTimeoutSeconds"] == 300
    assert q["sqsManagedSseEnabled"] is True
    assert default_run.outputs["QueueUrl"] == url("ProcessingQueue-prod")
    (deny,) = queue_policies(default_run)[url("ProcessingQueue-prod")]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "sqs:*"
    assert deny["Resource"] == arn("ProcessingQueue-prod")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# proves R-SQS-1
def test_r_sqs_1_queue_values_follow_the_args() -> None:
    run = deploy(
        {"queue_retention_seconds": 7200, "queue_visibility_timeout_seconds": 600, "max_receive_count": 9}
    )
    q = run.by_name(QUEUE)["ProcessingQueue-prod"]
    assert (q["messageRetentionSeconds"], q["visibilityTimeoutSeconds"]) == (7200, 600)
    assert json.loads(q["redrivePolicy"])["maxReceiveCount"] == 9


# proves R-SQS-2
def test_r_sqs_2_dlq_fourteen_days_and_redrive_policy_names_it(default_run: Run) -> None:
    queues = default_run.by_name(QUEUE)
    dlq = queues["ProcessingQueueDLQ-prod"]
    assert (
        dlq["messageRetentionSeconds"]
        == 14 * 24 * 3600
        > queues["ProcessingQueue-prod"]["messageRetentionSeconds"]
    )
    assert dlq["sqsManagedSseEnabled"] is True
    redrive = json.loads(queues["ProcessingQueue-prod"]["redrivePolicy"])
    assert redrive == {"deadLetterTargetArn": arn("ProcessingQueueDLQ-prod"), "maxReceiveCount": 5}
    assert default_run.outputs["DlqUrl"] == url("ProcessingQueueDLQ-prod")


# proves R-SEC-3
def test_r_sec_3_every_queue_is_encrypted_and_tls_only(default_run: Run) -> None:
    queues = default_run.by_name(QUEUE)
    policies = queue_policies(default_run)
    assert len(queues) == 8
    for name, q in queues.items():
        assert q["sqsManagedSseEnabled"] is True, name
        denies = [s for s in policies[url(name)]["Statement"] if s["Effect"] == "Deny"]
        assert [d["Condition"] for d in denies] == [{"Bool": {"aws:SecureTransport": "false"}}], name


# proves R-FN-3
def test_r_fn_3_s3_incoming_prefix_invokes_ingestion(default_run: Run) -> None:
    (note,) = default_run.all_inputs("aws:s3/bucketNotification:BucketNotification")
    assert note["bucket"] == f"market-data-prod-{ACCOUNT}-us-east-1"
    (target,) = note["lambdaFunctions"]
    assert target["lambdaFunctionArn"] == fn_arn("DataIngestion-prod")
    assert target["events"] == ["s3:ObjectCreated:*"]
    assert target["filterPrefix"] == "incoming/"
    perms = [
        p
        for p in default_run.all_inputs("aws:lambda/permission:Permission")
        if p["principal"] == "s3.amazonaws.com"
    ]
    assert len(perms) == 1
    assert perms[0]["function"] == "DataIngestion-prod"
    assert perms[0]["sourceArn"] == f"arn:aws:s3:::market-data-prod-{ACCOUNT}-us-east-1"
    assert perms[0]["sourceAccount"] == ACCOUNT
    # The notification waits for the permission (S3 validates the destination).
    assert (
        "md-triggers-s3-invoke-ingestion"
        in default_run.mocks.dependencies["md-triggers-incoming-notification"]
    )


# proves R-FN-4
def _esm(run: Run, queue: str) -> dict[str, Any]:
    (esm,) = [
        e
        for e in run.all_inputs("aws:lambda/eventSourceMapping:EventSourceMapping")
        if e["eventSourceArn"] == arn(queue)
    ]
    return esm


def test_r_fn_4_processor_reads_sqs_batches_with_partial_failures(default_run: Run) -> None:
    esm = _esm(default_run, "ProcessingQueue-prod")
    assert esm["eventSourceArn"] == arn("ProcessingQueue-prod")
    assert esm["functionName"] == fn_arn("DataProcessor-prod")
    assert esm["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert esm["batchSize"] == 10
    assert esm["maximumBatchingWindowInSeconds"] == 1
    assert esm["scalingConfig"] == {"maximumConcurrency": 100}


# proves R-FN-4
def test_r_fn_4_batching_follows_the_args() -> None:
    run = deploy(
        {"processor_batch_size": 100, "processor_batching_window_seconds": 5, "processor_max_concurrency": 20}
    )
    esm = _esm(run, "ProcessingQueue-prod")
    assert (
        esm["batchSize"],
        esm["maximumBatchingWindowInSeconds"],
        esm["scalingConfig"]["maximumConcurrency"],
    ) == (100, 5, 20)


def _targets(run: Run) -> dict[str, dict[str, Any]]:
    return {t["rule"]: t for t in run.all_inputs("aws:cloudwatch/eventTarget:EventTarget")}


# proves R-EVB-1
def test_r_evb_1_own_bus_and_rule_routing_ticks_stored_to_aggregator(default_run: Run) -> None:
    (bus,) = default_run.all_inputs("aws:cloudwatch/eventBus:EventBus")
    assert bus["name"] == "MarketDataEvents-prod" == default_run.outputs["EventBusName"]
    rule = default_run.by_name("aws:cloudwatch/eventRule:EventRule")["TicksStoredRule-prod"]
    assert rule["eventBusName"] == "MarketDataEvents-prod"
    assert json.loads(rule["eventPattern"]) == {
        "source": ["market-data.processor"],
        "detail-type": ["TicksStored"],
    }
    assert rule["state"] == "ENABLED"
    # the processor emits, and the aggregator accepts, exactly what the rule matches (their environment)
    for fn in ("DataProcessor-prod", "DataAggregator-prod"):
        env = default_run.by_name("aws:lambda/function:Function")[fn]["environment"]["variables"]
        assert json.loads(rule["eventPattern"]) == {
            "source": [env["EVENT_SOURCE"]],
            "detail-type": [env["EVENT_DETAIL_TYPE"]],
        }, fn
    target = _targets(default_run)["TicksStoredRule-prod"]
    assert target["arn"] == arn("AggregationQueue-prod")  # the coalescing buffer (R-FN-5)
    assert target["eventBusName"] == "MarketDataEvents-prod"


# proves R-FN-5, R-EVB-1, R-PERF-1, R-SQS-3
def test_r_fn_5_r_perf_1_buffer_feeds_the_aggregator_in_batches(default_run: Run) -> None:
    queues = default_run.by_name(QUEUE)
    buf = queues["AggregationQueue-prod"]
    assert buf["sqsManagedSseEnabled"] is True
    # AWS: visibility timeout >= 6 x the timeout of the function an SQS event source invokes.
    (agg,) = [
        f
        for f in default_run.all_inputs("aws:lambda/function:Function")
        if f["name"] == "DataAggregator-prod"
    ]
    assert buf["visibilityTimeoutSeconds"] >= 6 * agg["timeout"]
    assert json.loads(buf["redrivePolicy"]) == {
        "deadLetterTargetArn": arn("AggregationQueueDLQ-prod"),
        "maxReceiveCount": 5,
    }
    assert queues["AggregationQueueDLQ-prod"]["messageRetentionSeconds"] == 14 * 24 * 3600
    esm = _esm(default_run, "AggregationQueue-prod")
    assert esm["functionName"] == fn_arn("DataAggregator-prod")
    assert esm["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert (
        esm["batchSize"] > 10
        and esm["maximumBatchingWindowInSeconds"] == DEFAULT_AGGREGATION_BATCHING_WINDOW_SECONDS
    )  # > 10 needs a window >= 1 s
    assert esm["scalingConfig"] == {"maximumConcurrency": 2}
    # Only the TicksStored rule may send to the buffer (plus TLS only).
    policy = queue_policies(default_run)[url("AggregationQueue-prod")]
    (allow,) = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"} and allow["Action"] == "sqs:SendMessage"
    assert allow["Resource"] == arn("AggregationQueue-prod")
    assert allow["Condition"] == {
        "ArnEquals": {
            "aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/MarketDataEvents-prod/TicksStoredRule-prod"
        }
    }
    run = deploy({"aggregation_batching_window_seconds": 30})
    assert _esm(run, "AggregationQueue-prod")["maximumBatchingWindowInSeconds"] == 30


# proves R-EVB-2
def test_r_evb_2_schedule_every_five_minutes_to_aggregator(default_run: Run) -> None:
    rule = default_run.by_name("aws:cloudwatch/eventRule:EventRule")["AggregationSchedule-prod"]
    assert rule["scheduleExpression"] == "rate(5 minutes)"
    assert rule.get("eventBusName") in (None, "default")  # schedules only fire on the default bus
    assert _targets(default_run)["AggregationSchedule-prod"]["arn"] == fn_arn("DataAggregator-prod")
    run = deploy({"aggregation_schedule": "rate(1 minute)"})
    assert (
        run.by_name("aws:cloudwatch/eventRule:EventRule")["AggregationSchedule-prod"]["scheduleExpression"]
        == "rate(1 minute)"
    )


# proves R-EVB-1, R-EVB-2
def test_r_evb_1_2_events_may_invoke_the_aggregator_from_each_rule_only(default_run: Run) -> None:
    perms = [
        p
        for p in default_run.all_inputs("aws:lambda/permission:Permission")
        if p["principal"] == "events.amazonaws.com"
    ]
    assert {p["function"] for p in perms} == {"DataAggregator-prod"}
    # TicksStored goes through the buffer (its queue policy admits the rule); only the schedule invokes directly.
    rule_arns = {f"arn:aws:events:{REGION}:{ACCOUNT}:rule/AggregationSchedule-prod"}
    assert {p["sourceArn"] for p in perms} == rule_arns


# proves R-SQS-3
def test_r_sqs_3_every_event_target_has_retries_and_its_own_dlq(default_run: Run) -> None:
    targets = _targets(default_run)
    dlqs = {t["deadLetterConfig"]["arn"] for t in targets.values()}
    assert len(dlqs) == len(targets) == 2
    policies = queue_policies(default_run)
    for rule, t in targets.items():
        assert t["retryPolicy"]["maximumRetryAttempts"] >= 1, rule
        assert 60 <= t["retryPolicy"]["maximumEventAgeInSeconds"] <= 86400, rule
        dlq_name = t["deadLetterConfig"]["arn"].rsplit(":", 1)[1]
        allow = [s for s in policies[url(dlq_name)]["Statement"] if s["Effect"] == "Allow"]
        assert len(allow) == 1, rule
        assert allow[0]["Principal"] == {"Service": "events.amazonaws.com"}
        assert allow[0]["Action"] == "sqs:SendMessage"
        rule_arn = allow[0]["Condition"]["ArnEquals"]["aws:SourceArn"]
        assert rule_arn.endswith(f"/{rule}")  # only its own rule may deliver


# proves R-SQS-3
def test_r_sqs_3_async_invocations_have_on_failure_destinations(default_run: Run) -> None:
    configs = {
        c["functionName"]: c
        for c in default_run.all_inputs("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
    }
    assert set(configs) == {"DataIngestion-prod", "DataAggregator-prod"}
    queues = default_run.by_name(QUEUE)
    for fn, cfg in configs.items():
        assert 0 <= cfg["maximumRetryAttempts"] <= 2
        assert 60 <= cfg["maximumEventAgeInSeconds"] <= 21600
        dest = cfg["destinationConfig"]["onFailure"]["destination"]
        name = dest.rsplit(":", 1)[1]
        assert name == f"{fn.split('-')[0]}FailureDLQ-prod"
        assert queues[name]["messageRetentionSeconds"] == 14 * 24 * 3600


# proves R-SQS-3, R-MON-3, R-MON-4, R-SEC-2, R-SEC-3: every dead-letter queue - found from what the resources use as
# one (redrive targets, on-failure destinations, rule target DLQs), not from the component's list - has its
# NotEmpty alarm, its dashboard row, a TLS-only policy, and is in every role's Deny of queue destruction.
def test_every_dead_letter_queue_in_use_is_alarmed_shown_and_protected(default_run: Run) -> None:
    used = {
        json.loads(q["redrivePolicy"])["deadLetterTargetArn"]
        for q in default_run.all_inputs(QUEUE)
        if "redrivePolicy" in q
    }
    used |= {
        c["destinationConfig"]["onFailure"]["destination"]
        for c in default_run.all_inputs("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
    }
    used |= {
        t["deadLetterConfig"]["arn"] for t in default_run.all_inputs("aws:cloudwatch/eventTarget:EventTarget")
    }
    names = {a.rsplit(":", 1)[1] for a in used}
    assert len(names) == 6, names  # 2 redrive targets, 2 on-failure destinations, 2 rule target DLQs
    alarmed = {
        a["dimensions"]["QueueName"]
        for a in default_run.all_inputs("aws:cloudwatch/metricAlarm:MetricAlarm")
        if a["metricName"] == "ApproximateNumberOfMessagesVisible" and a["threshold"] == 0
    }
    (dash,) = default_run.all_inputs("aws:cloudwatch/dashboard:Dashboard")
    shown = {
        m[3]
        for w in json.loads(dash["dashboardBody"])["widgets"]
        for m in w["properties"]["metrics"]
        if m[1] == "ApproximateNumberOfMessagesVisible" and m[2] == "QueueName"
    }
    policies = queue_policies(default_run)
    role_policies = {  # the inline policy of each function's role, `<Function>Policy-<s>` (R-SEC-1)
        p["name"]: policy_doc(p["policy"])
        for p in default_run.all_inputs("aws:iam/rolePolicy:RolePolicy")
        if p["name"].endswith("Policy-prod")
    }
    assert len(role_policies) == 4  # one inline policy per function role (R-SEC-1)
    for name in sorted(names):
        assert name in alarmed, f"{name}: no NotEmpty alarm"
        assert name in shown, f"{name}: not on the dashboard"
        tls = [s for s in policies[url(name)]["Statement"] if s["Effect"] == "Deny"]
        assert tls and tls[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, name
        for role, doc in role_policies.items():
            (deny,) = [s for s in doc["Statement"] if s.get("Sid") == "DenyQueueDestruction"]
            assert arn(name) in deny["Resource"], f"{name}: not protected in {role}"
