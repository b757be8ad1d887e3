"""Development stack: the same pipeline with overrides (R-PKG-7). Optional config: environmentSuffix.

It leaves the region's API Gateway account setting (one per account and region) to examples/prod, which manages
it: deploy prod first (`make examples-up` does), or the stage's access and execution logs have no role to use.
"""

import pulumi
from market_data_pipeline import MarketDataPipeline, export_stack_outputs

pipeline = MarketDataPipeline(
    "market-data",
    {
        "environment_suffix": pulumi.Config().get("environmentSuffix") or "dev",
        "lambda_runtime": "nodejs22.x",
        "manage_api_gateway_account": False,
        "lambda_memory_mb": 1024,
        "data_retention_days": 7,
        "log_retention_days": 3,
        "api_throttle_rate_limit": 100.0,
        "api_throttle_burst_limit": 50,
        "processor_max_concurrency": 5,
        "tags": {"Owner": "platform-dev", "CostCenter": "sandbox"},
    },
)
export_stack_outputs(pipeline)
