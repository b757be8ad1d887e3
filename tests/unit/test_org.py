"""Organisation under mocks: tags on every taggable resource (R-ORG-1), the suffix in every physical name
(R-ORG-2), us-east-1 through the component's own provider unless the caller passes one (R-ORG-3)."""

import importlib
import inspect

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
        name = str(run.mocks.inputs(a)[key])
        assert "qa7" in name, (a.typ, name)
        seen.add(a.typ)
    assert seen == set(NAME_KEYS)
    assert run.one("aws-apigateway:index:RestAPI")["stageName"] == "qa7"


# proves R-ORG-3
def test_r_org_3_own_provider_pins_us_east_1_for_every_resource(default_run: Run) -> None:
    (provider,) = default_run.of_type("pulumi:providers:aws")
    assert default_run.mocks.inputs(provider)["region"] == "us-east-1"
    for a in aws_resources(default_run):
        assert (a.provider or "").split("::")[-2] == "md-aws", (a.typ, a.name, a.provider)
    assert default_run.outputs["Region"] == "us-east-1"


# proves R-ORG-3
def test_r_org_3_a_caller_provider_is_used_instead() -> None:
    def opts() -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(providers={"aws": aws.Provider("mine", region="us-east-1")})

    run = deploy(make_opts=opts)
    (provider,) = run.of_type("pulumi:providers:aws")
    assert provider.name == "mine"
    assert all((a.provider or "").split("::")[-2] == "mine" for a in aws_resources(run))
    assert run.outputs["Region"] == "us-east-1"  # read from the caller's provider (getRegion)


# proves R-ORG-3
def test_r_org_3_region_arg_moves_the_own_provider() -> None:
    run = deploy({"region": "eu-central-1"})
    (provider,) = run.of_type("pulumi:providers:aws")
    assert run.mocks.inputs(provider)["region"] == "eu-central-1"
    assert run.outputs["Region"] == "eu-central-1"
