"""The MarketDataPipeline component: composition of the building blocks (args -> config -> resources -> outputs)."""

import functools
from collections.abc import Callable
from typing import Optional

import pulumi
import pulumi_aws as aws

from . import constants as c
from . import policies
from .api import Api
from .aws_provider import placement
from .config import MarketDataPipelineArgs, PipelineConfig, validate
from .functions import (
    EnvironmentResources,
    PipelineFunction,
    Triggers,
    check_bundles,
    function_environment,
)
from .messaging import Messaging
from .monitoring import Monitoring
from .naming import DeadLetterQueue
from .security import policy_json, protected_arns
from .storage import Storage


class MarketDataPipeline(pulumi.ComponentResource):
    """A serverless, event-driven market-data pipeline on AWS: S3 and a REST API in, Lambda (Node.js) ingestion, SQS, processing into DynamoDB, EventBridge-driven aggregation, a query API, IAM least privilege and CloudWatch monitoring."""

    api_url: pulumi.Output[str]
    """HTTPS invoke URL of the REST API stage (ends with `/<stage>/`)."""
    bucket_name: pulumi.Output[str]
    """Name of the raw-data bucket (upload objects under `incoming/`)."""
    table_name: pulumi.Output[str]
    """Name of the MarketDataState DynamoDB table."""
    table_arn: pulumi.Output[str]
    """ARN of the MarketDataState DynamoDB table."""
    queue_url: pulumi.Output[str]
    """URL of the processing queue."""
    dlq_url: pulumi.Output[str]
    """URL of the processing queue's dead-letter queue."""
    event_bus_name: pulumi.Output[str]
    """Name of the pipeline's EventBridge bus."""
    ingestion_function_name: pulumi.Output[str]
    """Name of the DataIngestion function."""
    processor_function_name: pulumi.Output[str]
    """Name of the DataProcessor function."""
    aggregator_function_name: pulumi.Output[str]
    """Name of the DataAggregator function."""
    query_function_name: pulumi.Output[str]
    """Name of the DataQuery function."""
    api_key_id: pulumi.Output[Optional[str]]  # noqa: UP045 (the schema analyzer needs Optional, not a union)
    """Id of the API key (API_KEY auth only; read its value with `aws apigateway get-api-key --include-value`)."""
    region: pulumi.Output[str]
    """AWS region the pipeline is deployed in."""

    def __init__(
        self,
        name: str,
        args: MarketDataPipelineArgs,
        opts: Optional[pulumi.ResourceOptions] = None,  # noqa: UP045
    ) -> None:
        """Validate `args` (raising ValueError naming a bad arg) and build the whole pipeline."""
        cfg = validate(args)  # before anything is registered: bad args create nothing
        check_bundles()  # R-FN-7: a missing handler bundle fails here, naming `make build`
        super().__init__(c.COMPONENT_TOKEN, name, {}, opts)
        self._cfg: PipelineConfig = cfg
        if cfg.lambda_runtime in c.RUNTIME_DEPRECATIONS:
            pulumi.log.warn(
                f"lambda_runtime is {cfg.lambda_runtime}: {c.RUNTIME_DEPRECATIONS[cfg.lambda_runtime]}, so a new "
                f'stack cannot create its functions: use lambda_runtime="{c.DEFAULT_LAMBDA_RUNTIME}" (the default) '
                "to deploy to AWS.",
                resource=self,
            )
        if cfg.lambda_memory_mb > c.MAX_DEFAULT_QUOTA_MEMORY_MB:
            pulumi.log.warn(
                f"lambda_memory_mb is {cfg.lambda_memory_mb}: new AWS accounts refuse more than "
                f"{c.MAX_DEFAULT_QUOTA_MEMORY_MB} MB until AWS raises their Lambda memory quota (AWS raises it "
                "with usage, or ask through Service Quotas).",
                resource=self,
            )
        # R-ORG-3: the stack's own provider and region unless another region is asked for (aws_provider.py).
        where = placement(name, cfg, opts, self)
        self._provider = where.provider
        child = pulumi.ResourceOptions(
            parent=self, providers={"aws": where.provider} if where.provider is not None else None
        )
        invoke = pulumi.InvokeOutputOptions(parent=self, provider=where.provider)
        account_id = aws.get_caller_identity_output(opts=invoke).account_id
        region = where.region

        storage = Storage(f"{name}-storage", cfg, account_id, region, child)
        messaging = Messaging(f"{name}-messaging", cfg, child)
        protected = protected_arns(
            storage.bucket.arn,
            storage.table.arn,
            messaging.queue_arns,
            messaging.bus.arn,
            [messaging.ticks_rule.arn, messaging.schedule_rule.arn],
        )
        env_resources = EnvironmentResources[pulumi.Input[str]](
            raw_bucket=storage.bucket.bucket,
            processing_queue_url=messaging.queue.url,
            state_table=storage.table.name,
            event_bus_name=messaging.bus.name,
            aggregation_queue_url=messaging.aggregation_queue.url,
        )
        dlqs = messaging.dead_letter_queues

        def function(fn: str, policy: Callable[[pulumi.Output[str]], pulumi.Output[str]]) -> PipelineFunction:
            """Function `fn` (of FUNCTION_NAMES), named after its handler, with its environment and timeout."""
            return PipelineFunction(
                f"{name}-{c.HANDLER_DIRS[fn]}",
                fn,
                cfg,
                region=region,
                environment=function_environment(fn, cfg, env_resources),
                policy=policy,
                opts=child,
            )

        fns = {
            "DataIngestion": function(
                "DataIngestion",
                lambda lg: policy_json(
                    functools.partial(policies.ingestion_policy, api_archive=cfg.api_archive),
                    lg,
                    messaging.queue.arn,
                    dlqs[DeadLetterQueue.INGESTION_FAILURES].arn,
                    protected=protected,
                ),
            ),
            "DataProcessor": function(
                "DataProcessor",
                lambda lg: policy_json(
                    policies.processor_policy, lg, messaging.queue.arn, messaging.bus.arn, protected=protected
                ),
            ),
            "DataAggregator": function(
                "DataAggregator",
                lambda lg: policy_json(
                    policies.aggregator_policy,
                    lg,
                    dlqs[DeadLetterQueue.AGGREGATOR_FAILURES].arn,
                    messaging.aggregation_queue.arn,
                    protected=protected,
                ),
            ),
            "DataQuery": function(
                "DataQuery",
                lambda lg: policy_json(policies.query_policy, lg, protected=protected),
            ),
        }
        Triggers(
            f"{name}-triggers",
            cfg,
            bucket=storage.bucket,
            account_id=account_id,
            messaging=messaging,
            ingestion=fns["DataIngestion"].function,
            processor=fns["DataProcessor"].function,
            aggregator=fns["DataAggregator"].function,
            opts=child,
        )
        api = Api(
            f"{name}-api",
            cfg,
            functions={f: p.function for f, p in fns.items()},
            opts=child,
        )
        Monitoring(
            f"{name}-monitoring",
            cfg,
            account_id=account_id,
            region=region,
            log_groups={f: p.log_group for f, p in fns.items()},
            opts=child,
        )

        self.region = region
        self.api_url = api.url
        self.bucket_name = storage.bucket.bucket
        self.table_name = storage.table.name
        self.table_arn = storage.table.arn
        self.queue_url = messaging.queue.url
        self.dlq_url = dlqs[DeadLetterQueue.PROCESSING].url
        self.event_bus_name = messaging.bus.name
        self.ingestion_function_name = fns["DataIngestion"].function.name
        self.processor_function_name = fns["DataProcessor"].function.name
        self.aggregator_function_name = fns["DataAggregator"].function.name
        self.query_function_name = fns["DataQuery"].function.name
        self.api_key_id = api.api_key.id if api.api_key is not None else pulumi.Output.from_input(None)
        self.register_outputs(self._outputs())

    def _outputs(self) -> dict[str, pulumi.Output[object]]:
        return {
            "api_url": self.api_url,
            "bucket_name": self.bucket_name,
            "table_name": self.table_name,
            "table_arn": self.table_arn,
            "queue_url": self.queue_url,
            "dlq_url": self.dlq_url,
            "event_bus_name": self.event_bus_name,
            "ingestion_function_name": self.ingestion_function_name,
            "processor_function_name": self.processor_function_name,
            "aggregator_function_name": self.aggregator_function_name,
            "query_function_name": self.query_function_name,
            "api_key_id": self.api_key_id,
            "region": self.region,
        }


STACK_OUTPUT_KEYS = {
    "ApiUrl": "api_url",
    "BucketName": "bucket_name",
    "TableName": "table_name",
    "TableArn": "table_arn",
    "QueueUrl": "queue_url",
    "DlqUrl": "dlq_url",
    "EventBusName": "event_bus_name",
    "IngestionFunctionName": "ingestion_function_name",
    "ProcessorFunctionName": "processor_function_name",
    "AggregatorFunctionName": "aggregator_function_name",
    "QueryFunctionName": "query_function_name",
    c.API_KEY_OUTPUT: "api_key_id",
    "Region": "region",
}
"""Stable stack-output key (docs/design.md, `cfn-outputs/flat-outputs.json`) -> component output attribute."""


def stack_outputs(pipeline: MarketDataPipeline) -> dict[str, pulumi.Output[object]]:
    """The component's outputs under the stable stack-output keys (R-PKG-7); ApiKeyId only with an API key."""
    outs: dict[str, pulumi.Output[object]] = {k: getattr(pipeline, a) for k, a in STACK_OUTPUT_KEYS.items()}
    if pipeline._cfg.api_auth.value != "API_KEY":
        del outs[c.API_KEY_OUTPUT]
    return outs


def export_stack_outputs(pipeline: MarketDataPipeline) -> None:
    """`pulumi.export` every stable stack output of `pipeline`."""
    for key, value in stack_outputs(pipeline).items():
        pulumi.export(key, value)
