"""Market Data Pipeline: a Pulumi component package that deploys a serverless market-data pipeline on AWS.

Usage: `MarketDataPipeline("md", {"environment_suffix": "prod"})` in a Pulumi Python program.
"""

from .component import STACK_OUTPUT_KEYS, MarketDataPipeline, export_stack_outputs, stack_outputs
from .config import ApiAuth, ConfigError, MarketDataPipelineArgs, PipelineConfig, validate
from .constants import COMPONENT_TOKEN, PACKAGE_NAME, PACKAGE_VERSION

__all__ = [
    "COMPONENT_TOKEN",
    "PACKAGE_NAME",
    "PACKAGE_VERSION",
    "STACK_OUTPUT_KEYS",
    "ApiAuth",
    "ConfigError",
    "MarketDataPipeline",
    "MarketDataPipelineArgs",
    "PipelineConfig",
    "export_stack_outputs",
    "stack_outputs",
    "validate",
]
