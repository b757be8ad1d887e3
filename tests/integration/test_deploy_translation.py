"""The local deploy's translation rules (tools/local/translators.py, host_config.py, deploy.py), on their own (no moto needed except where stated).

The local stack must create exactly what the component declares: an undecided resource type fails the deploy, and
the few local rewrites are narrow (R-RUN-1, R-RUN-3).
"""

import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from tools.local import deploy, host_config, recording, translators


def test_component_types_are_all_decided() -> None:
    """Every type MarketDataPipeline registers has a translator or a stated reason (no silent skipping)."""
    recorded = recording.record("tr")
    translators.check_types(recorded)  # raises on an undecided type
    for r in recorded:
        assert r.typ in translators.TRANSLATORS or translators.not_emulated_reason(r.typ), r.typ


def test_an_unknown_type_fails_the_deploy_naming_it() -> None:
    def program() -> None:
        aws.sqs.Queue("q", name="Q-x")
        aws.kinesis.Stream("s", name="S-x", shard_count=1)

    recorded = recording.record_program(program)
    with pytest.raises(translators.DeployError, match=r"aws:kinesis/stream:Stream"):
        translators.check_types(recorded)
    with pytest.raises(translators.DeployError, match="NOT_EMULATED"):
        deploy.deploy("http://127.0.0.1:9", "x", recorded=recorded)  # fails before any request


@pytest.mark.parametrize(
    ("expr", "ms"),
    [
        ("rate(5 minutes)", 300_000),
        ("rate(1 minute)", 60_000),
        ("rate(2 hours)", 7_200_000),
        ("cron(0/5 * * * ? *)", 60_000),
    ],
)
def test_schedule_expressions(expr: str, ms: int) -> None:
    assert host_config.schedule_ms(expr) == ms


def test_a_bad_schedule_expression_is_refused() -> None:
    with pytest.raises(translators.DeployError, match="allowed rate"):
        host_config.schedule_ms("every 5 minutes")


def test_only_conditional_denies_are_rewritten_for_moto() -> None:
    policy: dict[str, Any] = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "NoDelete",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:DeleteBucket",
                "Resource": "*",
            },
            {
                "Sid": "Read",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::1:root"},
                "Action": "s3:GetObject",
                "Resource": "*",
            },
        ],
    }
    out, changed = translators._moto_safe_policy(json.dumps(policy))
    doc = json.loads(out)
    assert changed == 1
    assert doc["Statement"][0]["Principal"] == translators.UNENFORCED_PRINCIPAL
    assert doc["Statement"][0]["Condition"] == policy["Statement"][0]["Condition"]  # kept, readable back
    assert doc["Statement"][1:] == policy["Statement"][1:]


def _program(code: pulumi.Archive) -> None:
    """The smallest program that yields flat outputs: queue + DLQ, table, bucket, bus, one function."""
    dlq = aws.sqs.Queue("dlq", name="ProcessingQueueDLQ-x")
    q = aws.sqs.Queue(
        "q",
        name="ProcessingQueue-x",
        redrive_policy=pulumi.Output.json_dumps({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": 3}),
    )
    aws.dynamodb.Table(
        "t",
        name="MarketDataState-x",
        hash_key="symbol",
        attributes=[{"name": "symbol", "type": "S"}],
        billing_mode="PAY_PER_REQUEST",
    )
    b = aws.s3.Bucket("b", bucket="market-data-raw-x-123456789012")
    aws.cloudwatch.EventBus("bus", name="MarketDataEvents-x")
    role = aws.iam.Role(
        "r", name="R-x", assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": []})
    )
    aws.lambda_.Function(
        "f",
        name="DataIngestion-x",
        role=role.arn,
        runtime="nodejs18.x",
        handler="index.handler",
        code=code,
        environment={"variables": {"PROCESSING_QUEUE_URL": q.url, "RAW_BUCKET": b.bucket}},
    )


def test_function_env_gets_local_queue_urls_and_keeps_names(tmp_path: Path) -> None:
    from tools.local.moto_server import MotoServer

    (tmp_path / "index.mjs").write_text("export const handler = async () => ({});\n")
    recorded = recording.record_program(lambda: _program(pulumi.FileArchive(str(tmp_path))))
    with MotoServer("process") as moto:
        d = deploy.deploy(moto.endpoint_url, "x", recorded=recorded)
        env = d.host_config["functions"]["DataIngestion-x"]["env"]
        queue_url = moto.client("sqs").get_queue_url(QueueName="ProcessingQueue-x")["QueueUrl"]
        assert env["PROCESSING_QUEUE_URL"] == queue_url
        assert env["PROCESSING_QUEUE_URL"].startswith(moto.endpoint_url)  # not the mock's https://sqs... URL
        assert env["RAW_BUCKET"] == "market-data-raw-x-123456789012"
        assert d.outputs == {"EndpointUrl": moto.endpoint_url}  # no component: no stack outputs
        assert d.host_config["functions"]["DataIngestion-x"]["file"] == str(tmp_path / "index.mjs")
        redrive = json.loads(
            moto.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])[
                "Attributes"
            ]["RedrivePolicy"]
        )
        assert redrive["maxReceiveCount"] == 3 and redrive["deadLetterTargetArn"].endswith(
            ":ProcessingQueueDLQ-x"
        )


def test_a_function_without_its_bundle_fails_clearly(tmp_path: Path) -> None:
    from tools.local.moto_server import MotoServer

    (tmp_path / "other.js").write_text("")
    recorded = recording.record_program(
        lambda: _program(pulumi.AssetArchive({"other.js": pulumi.FileAsset(str(tmp_path / "other.js"))}))
    )
    with MotoServer("process") as moto, pytest.raises(translators.DeployError, match="handler bundle"):
        deploy.deploy(moto.endpoint_url, "x", recorded=recorded)


def test_flat_outputs_are_the_components_stack_outputs() -> None:
    """R-RUN-3: the local stack's flat outputs are the component's `STACK_OUTPUT_KEYS` (ApiUrl once the host serves
    it) with moto's values, and the REST API keeps the physical name the component gives it."""
    from market_data_pipeline import STACK_OUTPUT_KEYS
    from market_data_pipeline.constants import API_KEY_OUTPUT

    from tools.local.moto_server import MotoServer

    with MotoServer("thread") as moto:
        d = deploy.deploy(moto.endpoint_url, "fo")
        assert set(d.outputs) == (set(STACK_OUTPUT_KEYS) - {host_config.API_URL_KEY}) | {"EndpointUrl"}
        sqs = moto.client("sqs")
        assert d.outputs["QueueUrl"] == sqs.get_queue_url(QueueName="ProcessingQueue-fo")["QueueUrl"]
        assert d.outputs["DlqUrl"] == sqs.get_queue_url(QueueName="ProcessingQueueDLQ-fo")["QueueUrl"]
        keys = moto.client("apigateway").get_api_keys()["items"]
        assert [k["id"] for k in keys] == [d.outputs[API_KEY_OUTPUT]]
        table = moto.client("dynamodb").describe_table(TableName=d.outputs["TableName"])["Table"]
        assert d.outputs["TableArn"] == table["TableArn"]
        apis = moto.client("apigateway").get_rest_apis()["items"]
        # naming.api_name, which the component's transform sets on the RestAPI's child
        assert [a["name"] for a in apis] == ["MarketDataApi-fo"]


def test_an_output_without_a_local_value_fails_the_deploy_naming_it() -> None:
    """A stack output still holding a mock-fabricated AWS value (nothing local stands for it) is refused."""
    from market_data_pipeline import COMPONENT_TOKEN

    mock_url = "https://sqs.us-east-1.amazonaws.com/123456789012/ProcessingQueue-x"
    component = recording.Recorded(COMPONENT_TOKEN, "md", {}, None, {"queue_url": mock_url}, False)
    c = translators.DeployContext("http://127.0.0.1:9")
    with pytest.raises(translators.DeployError, match=r"stack output QueueUrl = 'https://sqs"):
        host_config.flat_outputs(c, [component])
