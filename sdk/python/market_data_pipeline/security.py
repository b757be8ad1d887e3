"""Security wiring (R-SEC): one role per function with its inline least-privilege policy, and the optional
API Gateway account role for access logs. The documents themselves come from `policies` (pure functions)."""

import json
from collections.abc import Callable, Sequence

import pulumi
import pulumi_aws as aws

from . import naming
from .config import PipelineConfig
from .policies import ProtectedArns, api_gateway_logs_policy, assume_role_policy


def protected_arns(
    bucket_arn: pulumi.Input[str],
    table_arn: pulumi.Input[str],
    queue_arns: Sequence[pulumi.Input[str]],
    bus_arn: pulumi.Input[str],
    rule_arns: Sequence[pulumi.Input[str]],
) -> pulumi.Output[ProtectedArns]:
    """Resolve the pipeline's ARNs into the ProtectedArns the Deny statements name (R-SEC-2)."""
    n_q = len(queue_arns)
    return pulumi.Output.all(bucket_arn, table_arn, bus_arn, *queue_arns, *rule_arns).apply(
        lambda v: ProtectedArns(
            bucket_arn=v[0],
            table_arn=v[1],
            bus_arn=v[2],
            queue_arns=tuple(v[3 : 3 + n_q]),
            rule_arns=tuple(v[3 + n_q :]),
        )
    )


def policy_json(
    build: Callable[..., dict[str, object]], *arns: pulumi.Input[str], protected: pulumi.Output[ProtectedArns]
) -> pulumi.Output[str]:
    """`build(*resolved_arns, protected)` rendered as a JSON policy string once every ARN is known."""
    return pulumi.Output.all(protected, *arns).apply(lambda v: json.dumps(build(*v[1:], v[0])))


def function_role(
    name: str,
    function: str,
    cfg: PipelineConfig,
    policy: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
    """The execution role of one function (R-SEC-1) and its inline policy; nothing else is attached."""
    role = aws.iam.Role(
        f"{name}-role",
        name=naming.role_name(function, cfg.suffix),
        description=f"Execution role of {naming.function_name(function, cfg.suffix)}",
        assume_role_policy=json.dumps(assume_role_policy("lambda.amazonaws.com")),
        tags=dict(cfg.tags),
        opts=opts,
    )
    inline = aws.iam.RolePolicy(
        f"{name}-policy",
        name=naming.role_policy_name(function, cfg.suffix),
        role=role.id,
        policy=policy,
        opts=pulumi.ResourceOptions(parent=role),
    )
    return role, inline


def api_gateway_account(
    name: str, cfg: PipelineConfig, access_log_group_arn: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> aws.apigateway.Account:
    """The region's API Gateway account setting pointing at a role that may write our access log group.

    A documented choice (arg `manage_api_gateway_account`): stage access logs need this account-level role;
    it is one setting per account and region, so stacks sharing an account should let only one manage it.
    """
    role = aws.iam.Role(
        f"{name}-apigw-logs-role",
        name=naming.api_cloudwatch_role_name(cfg.suffix),
        description="Lets API Gateway write the market-data API's access logs",
        assume_role_policy=json.dumps(assume_role_policy("apigateway.amazonaws.com")),
        tags=dict(cfg.tags),
        opts=opts,
    )
    inline = aws.iam.RolePolicy(
        f"{name}-apigw-logs-policy",
        name=f"ApiGatewayLogsPolicy-{cfg.suffix}",
        role=role.id,
        policy=pulumi.Output.from_input(access_log_group_arn).apply(
            lambda arn: json.dumps(api_gateway_logs_policy(arn))
        ),
        opts=pulumi.ResourceOptions(parent=role),
    )
    return aws.apigateway.Account(
        f"{name}-apigw-account",
        cloudwatch_role_arn=role.arn,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[inline])),
    )
