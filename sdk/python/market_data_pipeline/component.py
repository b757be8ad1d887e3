"""The MarketDataPipeline component: composition of the building blocks (args -> config -> resources -> outputs)."""

from typing import Optional

import pulumi
import pulumi_aws as aws

from . import constants as c
from . import naming
from .config import MarketDataPipelineArgs, PipelineConfig, validate


def _user_aws_provider(opts: pulumi.ResourceOptions | None) -> pulumi.ProviderResource | None:
    """The aws provider the caller passed in the options, if any."""
    if opts is None:
        return None
    if isinstance(opts.provider, pulumi.ProviderResource) and opts.provider.package == "aws":
        return opts.provider
    providers = opts.providers
    if isinstance(providers, dict):
        p = providers.get("aws")
        return p if isinstance(p, pulumi.ProviderResource) else None
    if isinstance(providers, list):
        for p in providers:
            if isinstance(p, pulumi.ProviderResource) and p.package == "aws":
                return p
    return None


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
        super().__init__(c.COMPONENT_TOKEN, name, {}, opts)
        self._cfg: PipelineConfig = cfg
        if cfg.lambda_runtime == "nodejs18.x":
            pulumi.log.warn(
                "lambda_runtime is nodejs18.x (the specified default), but AWS Lambda no longer accepts new "
                'nodejs18.x functions: set lambda_runtime="nodejs22.x" to deploy to AWS.',
                resource=self,
            )
        provider = _user_aws_provider(opts)
        if provider is None:
            # R-ORG-3: deploy to cfg.region (us-east-1 by default) whatever the stack's aws:region says.
            provider = aws.Provider(
                f"{name}-aws", region=cfg.region, opts=pulumi.ResourceOptions(parent=self)
            )
        self._provider = provider
        self._child = pulumi.ResourceOptions(parent=self, providers={"aws": provider})

        s = cfg.suffix
        self.region = pulumi.Output.from_input(cfg.region)
        self.api_url = pulumi.Output.from_input(f"https://pending/{naming.stage_name(s)}/")
        self.bucket_name = pulumi.Output.from_input(naming.bucket_name(s, "000000000000"))
        self.table_name = pulumi.Output.from_input(naming.table_name(s))
        self.table_arn = pulumi.Output.from_input(
            f"arn:aws:dynamodb:{cfg.region}:0:table/{naming.table_name(s)}"
        )
        self.queue_url = pulumi.Output.from_input(naming.queue_name(s))
        self.dlq_url = pulumi.Output.from_input(naming.dlq_name(s))
        self.event_bus_name = pulumi.Output.from_input(naming.event_bus_name(s))
        self.ingestion_function_name = pulumi.Output.from_input(naming.function_name("DataIngestion", s))
        self.processor_function_name = pulumi.Output.from_input(naming.function_name("DataProcessor", s))
        self.aggregator_function_name = pulumi.Output.from_input(naming.function_name("DataAggregator", s))
        self.query_function_name = pulumi.Output.from_input(naming.function_name("DataQuery", s))
        self.api_key_id = pulumi.Output.from_input(None)
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
