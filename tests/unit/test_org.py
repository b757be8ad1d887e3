"""Organisation under mocks: tags on every taggable resource (R-ORG-1), the suffix in every physical name
(R-ORG-2), the region and the provider each resource gets (R-ORG-3, aws_provider.py)."""

import importlib
import inspect
import json

import pulumi
import pulumi_aws as aws

from tests.unit.conftest import Run, deploy

REQUIRED = {"Environment": "Production", "Project": "MarketAnalytics"}

# The input holding each type's physical name (R-ORG-2).
NAME_KEYS = {
    "aws:s3/bucket:Bucket": "bucket",
    "aws:dynamodb/table:Table": "name",
    "aws:lambda/function:Function": "name",
    "aws:iam/role:Role": "name",
    "aws:iam/rolePolicy:RolePolicy": "name",
    "aws:sqs/queue:Queue": "name",
    "aws:cloudwatch/eventBus:EventBus": "name",
    "aws:cloudwatch/eventRule:EventRule": "name",
    "aws:cloudwatch/logGroup:LogGroup": "name",
    "aws:cloudwatch/logMetricFilter:LogMetricFilter": "name",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "name",
    "aws:cloudwatch/dashboard:Dashboard": "dashboardName",
    "aws:sns/topic:Topic": "name",
    "aws:apigateway/apiKey:ApiKey": "name",
    "aws:apigateway/usagePlan:UsagePlan": "name",
}


def resource_class(token: str) -> type:
    """The pulumi_aws class of a type token, e.g. aws:lambda/function:Function -> pulumi_aws.lambda_.Function."""
    module = token.split(":")[1].split("/")[0]
    mod = importlib.import_module(f"pulumi_aws.{'lambda_' if module == 'lambda' else module}")
    cls = getattr(mod, token.split(":")[2])
    assert isinstance(cls, type)
    return cls


def takes_tags(token: str) -> bool:
    return "tags" in inspect.signature(resource_class(token)._internal_init).parameters  # type: ignore[attr-defined]


def aws_resources(run: Run) -> list[pulumi.runtime.MockResourceArgs]:
    return [a for a in run.mocks.created if a.custom and a.typ.startswith("aws:")]


# proves R-ORG-1
def test_r_org_1_every_taggable_resource_has_the_required_and_user_tags() -> None:
    run = deploy({"tags": {"Team": "quant"}})
    taggable = [a for a in aws_resources(run) if takes_tags(a.typ)]
    assert len({a.typ for a in taggable}) >= 12
    for a in taggable:
        tags = run.mocks.inputs(a).get("tags") or {}
        assert tags == {**REQUIRED, "Team": "quant"}, (a.typ, a.name, tags)
    # The remote RestAPI component gets them too (and its Stage/RestApi through the transform, test_api).
    assert run.one("aws-apigateway:index:RestAPI")["tags"] == {**REQUIRED, "Team": "quant"}


# proves R-ORG-2
def test_r_org_2_every_physical_name_holds_the_suffix() -> None:
    run = deploy({"environment_suffix": "qa7"})
    seen = set()
    for a in aws_resources(run):
        key = NAME_KEYS.get(a.typ)
        if key is None:
            continue
        inputs = run.mocks.inputs(a)
        name = str(inputs.get(key, inputs.get("namePrefix")))
        assert "qa7" in name, (a.typ, name)
        seen.add(a.typ)
    assert seen == set(NAME_KEYS)
    assert run.one("aws-apigateway:index:RestAPI")["stageName"] == "qa7"


def _provider_of(a: pulumi.runtime.MockResourceArgs) -> str:
    """The logical name of the provider a recorded resource uses; "default" for the stack's default provider."""
    ref = a.provider or ""
    return ref.split("::")[-2] if "pulumi:providers:aws::" in ref and "default_" not in ref else "default"


# proves R-ORG-3 (issue 11): no provider of its own when the stack's region is the one wanted
def test_r_org_3_stack_region_uses_the_stack_default_provider() -> None:
    run = deploy(stack_config={"aws:region": "us-east-1", "aws:profile": "prod-admin"})
    assert run.of_type("pulumi:providers:aws") == []  # the stack's provider keeps aws:profile etc. by itself
    assert {_provider_of(a) for a in aws_resources(run)} == {"default"}
    assert run.outputs["Region"] == "us-east-1"
    run = deploy({"region": "eu-central-1"}, stack_config={"aws:region": "eu-central-1"})
    assert run.of_type("pulumi:providers:aws") == []
    assert run.outputs["Region"] == "eu-central-1"


# proves R-ORG-3 (issue 11): another region gets one provider that carries the stack's aws:* settings over
def test_r_org_3_other_region_provider_carries_the_stack_aws_settings() -> None:
    stack = {
        "aws:region": "eu-west-1",
        "aws:profile": "prod-admin",
        "aws:assumeRoles": '[{"roleArn": "arn:aws:iam::123456789012:role/deployer", "sessionName": "ci"}]',
        "aws:allowedAccountIds": '["123456789012"]',
        "aws:skipMetadataApiCheck": "false",
        "aws:skipRegionValidation": "false",
        "aws:maxRetries": "7",
    }
    run = deploy({"region": "us-east-1"}, stack_config=stack, secret_keys=["aws:assumeRoles"])
    (provider,) = run.of_type("pulumi:providers:aws")
    inputs = run.mocks.inputs(provider)
    assert inputs["region"] == "us-east-1"
    assert inputs["profile"] == "prod-admin"
    assert json.loads(inputs["assumeRoles"]) == [
        {"roleArn": "arn:aws:iam::123456789012:role/deployer", "sessionName": "ci"}
    ]
    assert json.loads(inputs["allowedAccountIds"]) == ["123456789012"]
    assert json.loads(inputs["skipMetadataApiCheck"]) is False and json.loads(inputs["maxRetries"]) == 7
    assert json.loads(inputs["skipRegionValidation"]) is False  # pulumi-aws's getter would say True
    raw = run.mocks.of_type("pulumi:providers:aws")[0].inputs
    assert raw["profile"] == "prod-admin"  # not secret in the stack: plain
    assert "4dabf18193072939515e22adb298388d" in json.dumps(raw["assumeRoles"])  # secret in the stack: secret
    assert {_provider_of(a) for a in aws_resources(run)} == {"md-aws"}
    assert run.outputs["Region"] == "us-east-1"


# proves R-ORG-3: a stack that sets no region still deploys to us-east-1 (through a provider of its own)
def test_r_org_3_no_stack_region_pins_us_east_1(default_run: Run) -> None:
    (provider,) = default_run.of_type("pulumi:providers:aws")
    assert default_run.mocks.inputs(provider)["region"] == "us-east-1"
    assert {_provider_of(a) for a in aws_resources(default_run)} == {"md-aws"}
    assert default_run.outputs["Region"] == "us-east-1"


# proves R-ORG-3
def test_r_org_3_a_caller_provider_is_used_instead() -> None:
    def opts() -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(providers={"aws": aws.Provider("mine", region="us-east-1")})

    run = deploy({"region": "eu-west-1"}, make_opts=opts, stack_config={"aws:region": "us-east-1"})
    (provider,) = run.of_type("pulumi:providers:aws")
    assert provider.name == "mine"
    assert {_provider_of(a) for a in aws_resources(run)} == {"mine"}
    assert run.outputs["Region"] == "us-east-1"  # read from the caller's provider (getRegion)
