"""Security wiring (R-SEC): one role per function with its inline least-privilege policy, and the optional
API Gateway account role for access and execution logs. The documents themselves come from `policies` (pure
functions)."""

import json
from collections.abc import Callable, Sequence

import pulumi
import pulumi_aws as aws

from . import constants as c
from . import naming
from .config import PipelineConfig
from .policies import ProtectedArns, api_gateway_role_denies, assume_role_policy


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
    region: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
    """The execution role of one function (R-SEC-1) and its inline policy; nothing else is attached. IAM names
    are account-wide, so the role's name holds the region too."""
    role = aws.iam.Role(
        f"{name}-role",
        name=pulumi.Output.from_input(region).apply(lambda r: naming.role_name(function, cfg.suffix, r)),
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
    name: str, cfg: PipelineConfig, opts: pulumi.ResourceOptions
) -> aws.apigateway.Account:
    """The region's API Gateway account setting (`aws.apigateway.Account`), pointing at a role with AWS's managed
    policy AmazonAPIGatewayPushToCloudWatchLogs.

    The setting is one per account and region and serves every REST API there, so the role may write any API's
    logs (a role that allowed only this stack's log group broke the logs of every other API of the region), and
    the setting, the role and its policies are kept when the stack is destroyed (`retain_on_delete`: pulumi-aws
    v7 resets the account setting on delete, which would break the other APIs' logs and any later stage update
    with access logs). The role is named by prefix, so a later deploy creates a new role rather than colliding
    with the kept one. Only one stack per account and region should manage the setting
    (`manage_api_gateway_account`); see README "Deploying to AWS".
    """
    kept = pulumi.ResourceOptions(retain_on_delete=True)
    role = aws.iam.Role(
        f"{name}-apigw-logs-role",
        name_prefix=naming.api_cloudwatch_role_prefix(cfg.suffix),
        description="Lets API Gateway write the access and execution logs of the REST APIs of this region",
        assume_role_policy=json.dumps(assume_role_policy("apigateway.amazonaws.com")),
        tags=dict(cfg.tags),
        opts=pulumi.ResourceOptions.merge(opts, kept),
    )
    partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=role)).partition
    managed = aws.iam.RolePolicyAttachment(
        f"{name}-apigw-logs-managed-policy",
        role=role.id,  # an IAM role's id is its name
        policy_arn=partition.apply(lambda p: c.API_GATEWAY_LOGS_MANAGED_POLICY.format(partition=p)),
        opts=pulumi.ResourceOptions(parent=role, retain_on_delete=True),
    )
    denies = aws.iam.RolePolicy(
        f"{name}-apigw-logs-policy",
        name=f"ApiGatewayLogsDenies-{cfg.suffix}",
        role=role.id,
        policy=json.dumps(api_gateway_role_denies()),
        opts=pulumi.ResourceOptions(parent=role, retain_on_delete=True),
    )
    return aws.apigateway.Account(
        f"{name}-apigw-account",
        cloudwatch_role_arn=role.arn,
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[managed, denies], retain_on_delete=True)
        ),
    )
