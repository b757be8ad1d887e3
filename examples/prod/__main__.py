"""Production stack: the specification's defaults (R-PKG-7).

Optional config: `environmentSuffix` (default prod), `alarmEmail`, and `lambdaRuntime` (the spec's default is
nodejs18.x, which AWS no longer accepts for new functions: `pulumi config set lambdaRuntime nodejs22.x`).
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
