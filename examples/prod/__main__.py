"""Production stack: the specification's defaults (R-PKG-7): nodejs22.x, 3,008 MB, us-east-1 (`aws:region` in
Pulumi.prod.yaml). This stack manages the region's API Gateway account setting (the CloudWatch logs role).

Optional config: `environmentSuffix` (default prod), `alarmEmail`, and `lambdaRuntime` (e.g. nodejs24.x).
"""

import pulumi
from market_data_pipeline import MarketDataPipeline, MarketDataPipelineArgs, export_stack_outputs

config = pulumi.Config()
args: MarketDataPipelineArgs = {"environment_suffix": config.get("environmentSuffix") or "prod"}
if email := config.get("alarmEmail"):
    args["alarm_email"] = email
if runtime := config.get("lambdaRuntime"):
    args["lambda_runtime"] = runtime
export_stack_outputs(MarketDataPipeline("market-data", args))
