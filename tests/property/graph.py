"""Read what a component run registered (under `tests.harness.AwsMocks`): names, tags, IAM policies.

The AWS naming rules below are written from AWS's documentation, independently of the component's own
`naming.NAME_LIMITS`, so that a wrong limit in the component cannot hide a too-long name.
"""

import inspect
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from tests.harness import ACCOUNT, REGION, AwsMocks, policy_doc

DATA = Path(__file__).resolve().parent.parent / "data" / "taggable_types.json"


@dataclass(frozen=True)
class NameRule:
    """AWS's rule for one resource type's physical name."""

    key: str
    """The input property holding the physical name."""
    min_len: int
    max_len: int
    pattern: str
    """Full-match regex of the allowed characters/shape."""
    suffix_required: bool = True
    """R-ORG-2 applies (a real resource name); False for ids inside another resource (statement/target ids)."""
    optional: bool = False
    """The name may be left to Pulumi's auto-naming (only for ids where that is harmless)."""


# AWS physical-name rules per type (limit and characters), from AWS's service quotas / API references.
NAME_RULES: dict[str, NameRule] = {
    # S3 bucket naming rules: 3-63, lowercase letters, digits, dots, hyphens; begin and end alphanumeric.
    "aws:s3/bucket:Bucket": NameRule("bucket", 3, 63, r"[a-z0-9][a-z0-9.-]*[a-z0-9]"),
    # DynamoDB TableName: 3-255 of [a-zA-Z0-9_.-].
    "aws:dynamodb/table:Table": NameRule("name", 3, 255, r"[A-Za-z0-9_.-]+"),
    # Lambda FunctionName (name only): 1-64 of [a-zA-Z0-9-_].
    "aws:lambda/function:Function": NameRule("name", 1, 64, r"[A-Za-z0-9_-]+"),
    # IAM RoleName: 1-64 of [\w+=,.@-]; inline/managed PolicyName: 1-128 of the same set.
    "aws:iam/role:Role": NameRule("name", 1, 64, r"[\w+=,.@-]+"),
    "aws:iam/rolePolicy:RolePolicy": NameRule("name", 1, 128, r"[\w+=,.@-]+"),
    "aws:iam/policy:Policy": NameRule("name", 1, 128, r"[\w+=,.@-]+"),
    # SQS QueueName: 1-80 of alphanumerics, hyphens, underscores (standard queues, no .fifo).
    "aws:sqs/queue:Queue": NameRule("name", 1, 80, r"[A-Za-z0-9_-]+"),
    # EventBridge custom bus Name: 1-256 of [.\-_A-Za-z0-9] (a custom bus may not contain '/').
    "aws:cloudwatch/eventBus:EventBus": NameRule("name", 1, 256, r"[A-Za-z0-9._-]+"),
    # EventBridge rule Name: 1-64 of [.\-_A-Za-z0-9].
    "aws:cloudwatch/eventRule:EventRule": NameRule("name", 1, 64, r"[A-Za-z0-9._-]+"),
    # EventBridge target Id: 1-64 of [.\-_A-Za-z0-9] (unique per rule; not a resource name).
    "aws:cloudwatch/eventTarget:EventTarget": NameRule(
        "targetId", 1, 64, r"[A-Za-z0-9._-]+", suffix_required=False, optional=True
    ),
    # CloudWatch Logs logGroupName: 1-512 of [\.\-_/#A-Za-z0-9].
    "aws:cloudwatch/logGroup:LogGroup": NameRule("name", 1, 512, r"[A-Za-z0-9._/#-]+"),
    # CloudWatch Logs filterName: 1-512, no ':' and no '*'.
    "aws:cloudwatch/logMetricFilter:LogMetricFilter": NameRule("name", 1, 512, r"[^:*]+"),
    # CloudWatch AlarmName: 1-255 UTF-8, no control characters (we require printable ASCII).
    "aws:cloudwatch/metricAlarm:MetricAlarm": NameRule("name", 1, 255, r"[\x20-\x7e]+"),
    # CloudWatch DashboardName: 1-255 of [A-Za-z0-9-_].
    "aws:cloudwatch/dashboard:Dashboard": NameRule("dashboardName", 1, 255, r"[A-Za-z0-9_-]+"),
    # SNS topic Name: 1-256 of alphanumerics, hyphens, underscores.
    "aws:sns/topic:Topic": NameRule("name", 1, 256, r"[A-Za-z0-9_-]+"),
    # API Gateway API key / usage plan names: free text; we require 1-1024 printable ASCII.
    "aws:apigateway/apiKey:ApiKey": NameRule("name", 1, 1024, r"[\x20-\x7e]+"),
    "aws:apigateway/usagePlan:UsagePlan": NameRule("name", 1, 1024, r"[\x20-\x7e]+"),
    # API Gateway stage name (when created directly): 1-128 of alphanumerics, hyphens, underscores.
    "aws:apigateway/stage:Stage": NameRule("stageName", 1, 128, r"[A-Za-z0-9_-]+"),
    "aws:apigateway/restApi:RestApi": NameRule("name", 1, 1024, r"[\x20-\x7e]+"),
    # Lambda permission StatementId: 1-100 of [a-zA-Z0-9-_] (a policy statement id, not a resource name).
    "aws:lambda/permission:Permission": NameRule(
        "statementId", 1, 100, r"[A-Za-z0-9_-]+", suffix_required=False, optional=True
    ),
}

# The RestAPI component (remote) registers its children (RestApi, Stage, Deployment, Permissions) engine-side,
# so the mocks never see them; `restapi_children` emulates the two named/taggable ones and runs the transforms
# recorded on the RestAPI over them (the engine runs them for real; the mock monitor does not).
RESTAPI_TYPE = "aws-apigateway:index:RestAPI"
RESTAPI_CHILD = "aws:apigateway/restApi:RestApi"
STAGE_CHILD = "aws:apigateway/stage:Stage"
# Without a name from a transform, the RestApi child is auto-named `<logical name>-<7 chars>`.
RESTAPI_LOGICAL_RULE = NameRule("<logical>", 1, 1024 - 8, r"[\x20-\x7e]+")


def restapi_children(mocks: AwsMocks, res: Any) -> list[tuple[str, dict[str, Any]]]:
    """(type, props) of the RestAPI's RestApi and Stage children after the RestAPI's transforms.

    The props start as what pulumi-aws-apigateway sets that matters here (description, stage name) and WITHOUT
    tags: whether RestAPI forwards its `tags` input to its children is not visible under mocks, so only tags a
    transform (or an explicit child setting) adds count.
    """
    inputs = mocks.inputs(res)
    children: list[tuple[str, dict[str, Any]]] = [
        (RESTAPI_CHILD, {"description": inputs.get("description")}),
        (STAGE_CHILD, {"stageName": inputs.get("stageName"), "restApi": "abc123", "deployment": "dep"}),
    ]
    out = []
    for typ, props in children:
        for transform in res.transforms:
            result = transform(
                pulumi.ResourceTransformArgs(
                    custom=True, type_=typ, name=res.name, props=props, opts=pulumi.ResourceOptions()
                )
            )
            if inspect.isawaitable(result):
                raise AssertionError(
                    "async transforms are not emulated: make the RestAPI transform synchronous"
                )
            if result is not None:
                props = dict(result.props)
        out.append((typ, props))
    return out


# Types that have no physical name of their own (configuration of another resource, attachments, mappings).
NAMELESS_TYPES = frozenset(
    {
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketNotification:BucketNotification",
        "aws:sqs/queuePolicy:QueuePolicy",
        "aws:sqs/redrivePolicy:RedrivePolicy",
        "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy",
        "aws:lambda/eventSourceMapping:EventSourceMapping",
        "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:apigateway/methodSettings:MethodSettings",
        "aws:apigateway/account:Account",
        "aws:apigateway/usagePlanKey:UsagePlanKey",
        "aws:sns/topicSubscription:TopicSubscription",
        "aws:sns/topicPolicy:TopicPolicy",
        "aws:cloudwatch/eventBusPolicy:EventBusPolicy",
    }
)


def suffix_token(name: str, suffix: str) -> bool:
    """R-ORG-2 `{resource-type}-{suffix}`: the name is the suffix, or holds `-<suffix>` ending the name or
    followed by `-` or `/` (`DataIngestion-<s>`, `market-data-raw-<s>-<account>`, `/aws/.../X-<s>/access`)."""
    return name == suffix or re.search(rf"-{re.escape(suffix)}(?:$|[-/])", name) is not None


def check_name(rule: NameRule, name: Any, suffix: str, what: str) -> list[str]:
    """Problems of one physical name against its AWS rule and R-ORG-2 (empty when fine)."""
    if not isinstance(name, str):
        return [f"{what}: name {rule.key}={name!r} is not a string"]
    problems = []
    if not rule.min_len <= len(name) <= rule.max_len:
        problems.append(f"{what}: {name!r} has {len(name)} chars, AWS allows {rule.min_len}-{rule.max_len}")
    if not re.fullmatch(rule.pattern, name):
        problems.append(f"{what}: {name!r} breaks AWS's character rule {rule.pattern}")
    if rule.suffix_required and not suffix_token(name, suffix):
        problems.append(f"{what}: {name!r} does not hold the suffix {suffix!r} (R-ORG-2)")
    return problems


def bucket_extra_problems(name: str) -> list[str]:
    """S3's further bucket-name rules: no '..', not an IP address, no reserved prefixes/suffixes."""
    problems = []
    if ".." in name or ".-" in name or "-." in name:
        problems.append(f"bucket {name!r}: adjacent dot/hyphen")
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
        problems.append(f"bucket {name!r}: formatted as an IP address")
    if name.startswith(("xn--", "sthree-", "amzn-s3-demo-")) or name.endswith(
        ("-s3alias", "--ol-s3", "--x-s3")
    ):
        problems.append(f"bucket {name!r}: reserved prefix or suffix")
    return problems


def physical_name_problems(mocks: AwsMocks, suffix: str) -> tuple[list[str], int]:
    """Check every registered resource's physical name; returns (problems, number of names checked)."""
    problems: list[str] = []
    checked = 0
    seen: dict[str, set[str]] = {}
    urns: set[tuple[str, str]] = set()
    for res in mocks.created:
        if (res.typ, res.name) in urns:
            problems.append(f"duplicate logical name {res.typ} {res.name!r} (URN clash)")
        urns.add((res.typ, res.name))
        inputs = mocks.inputs(res)
        what = f"{res.typ} {res.name!r}"
        if res.typ == RESTAPI_TYPE:
            for typ, props in restapi_children(mocks, res):
                if typ == RESTAPI_CHILD and props.get("name") is None:
                    problems += check_name(
                        RESTAPI_LOGICAL_RULE, res.name, suffix, what + " (auto-named RestApi)"
                    )
                else:
                    child_rule = NAME_RULES[typ]
                    problems += check_name(
                        child_rule, props.get(child_rule.key), suffix, f"{what} child {typ}"
                    )
                checked += 1
            continue
        if not res.custom or res.typ.startswith("pulumi:providers:"):
            continue
        rule = NAME_RULES.get(res.typ)
        if rule is None:
            if res.typ not in NAMELESS_TYPES:
                problems.append(
                    f"{what}: type not in NAME_RULES nor NAMELESS_TYPES: classify it in tests/property/graph.py"
                )
            continue
        name = inputs.get(rule.key)
        if name is None:
            if not rule.optional:
                problems.append(
                    f"{what}: no explicit physical name ({rule.key}): auto-naming loses the suffix"
                )
            continue
        checked += 1
        problems += check_name(rule, name, suffix, what)
        if res.typ == "aws:s3/bucket:Bucket":
            problems += bucket_extra_problems(name)
        if rule.suffix_required:
            names = seen.setdefault(res.typ, set())
            if name in names:
                problems.append(f"{what}: physical name {name!r} used twice")
            names.add(name)
    return problems, checked


def taggable() -> tuple[frozenset[str], frozenset[str]]:
    """(taggable pulumi_aws types, taggable remote component types) from tests/data/taggable_types.json."""
    doc = json.loads(DATA.read_text(encoding="utf-8"))
    return frozenset(doc["types"]), frozenset(doc["components"])


def tag_problems(mocks: AwsMocks, expected: dict[str, str]) -> tuple[list[str], int]:
    """Every taggable registered resource carries at least `expected` tags (R-ORG-1); returns (problems, checked)."""
    types, components = taggable()
    problems: list[str] = []
    checked = 0
    tagged: list[tuple[str, dict[str, Any]]] = []
    for res in mocks.created:
        if res.typ == RESTAPI_TYPE:
            tagged += [(f"{res.name!r} child {t}", p) for t, p in restapi_children(mocks, res) if t in types]
        if res.typ in types or res.typ in components:
            tagged.append((f"{res.typ} {res.name!r}", mocks.inputs(res)))
    for what, props in tagged:
        checked += 1
        tags = props.get("tags") or {}
        missing = {k: v for k, v in expected.items() if tags.get(k) != v}
        if missing:
            problems.append(f"{what}: tags {tags!r} lack {missing!r}")
    return problems, checked


@dataclass
class RolePolicies:
    """The IAM policy documents attached to one role, as recorded."""

    role: str
    """Logical name of the role."""
    name: str | None
    documents: list[dict[str, Any]] = field(default_factory=list)
    managed_arns: list[str] = field(default_factory=list)

    def statements(self) -> Iterator[dict[str, Any]]:
        """Every statement of every document."""
        for doc in self.documents:
            stmts = doc.get("Statement", [])
            yield from [stmts] if isinstance(stmts, dict) else stmts


def role_policies(mocks: AwsMocks) -> dict[str, RolePolicies]:
    """Collect, per role, its inline policies, RolePolicy documents, and attached managed policies."""
    roles: dict[str, RolePolicies] = {}
    ref_to_role: dict[str, str] = {}
    for res in mocks.of_type("aws:iam/role:Role"):
        inputs = mocks.inputs(res)
        rp = RolePolicies(role=res.name, name=inputs.get("name"))
        for inline in inputs.get("inlinePolicies") or []:
            if inline.get("policy"):
                rp.documents.append(policy_doc(inline["policy"]))
        rp.managed_arns += list(inputs.get("managedPolicyArns") or [])
        roles[res.name] = rp
        ref_to_role[f"{res.name}-id"] = res.name
        if rp.name:
            ref_to_role[rp.name] = res.name
    policies: dict[str, dict[str, Any]] = {}
    for res in mocks.of_type("aws:iam/policy:Policy"):
        inputs = mocks.inputs(res)
        doc = policy_doc(inputs["policy"])
        name = inputs.get("name") or res.name
        policies[f"arn:aws:iam::123456789012:policy/{name}"] = doc
    for res in mocks.of_type("aws:iam/rolePolicy:RolePolicy"):
        inputs = mocks.inputs(res)
        role = ref_to_role.get(str(inputs.get("role")))
        if role is None:
            raise AssertionError(f"RolePolicy {res.name!r} names an unknown role {inputs.get('role')!r}")
        roles[role].documents.append(policy_doc(inputs["policy"]))
    for res in mocks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        inputs = mocks.inputs(res)
        role = ref_to_role.get(str(inputs.get("role")))
        if role is None:
            raise AssertionError(f"attachment {res.name!r} names an unknown role {inputs.get('role')!r}")
        arn = str(inputs.get("policyArn"))
        if arn in policies:
            roles[role].documents.append(policies[arn])
        else:
            roles[role].managed_arns.append(arn)
    return roles


def as_list(value: Any) -> list[Any]:
    """An IAM element that may be a string or a list, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


XRAY_ONLY_STAR = ("xray:",)


def iam_problems(roles: dict[str, RolePolicies]) -> list[str]:
    """R-SEC-1/R-SEC-2: exact actions, no `*` resource except X-Ray, a Deny in every role, nothing opaque."""
    problems: list[str] = []
    for rp in roles.values():
        who = f"role {rp.name or rp.role!r}"
        if rp.managed_arns:
            problems.append(f"{who}: managed policies {rp.managed_arns} cannot be checked for exact actions")
        denies = 0
        allows = 0
        for st in rp.statements():
            effect = st.get("Effect")
            if effect == "Deny":
                denies += 1
                continue
            if effect != "Allow":
                problems.append(f"{who}: statement with Effect {effect!r}")
                continue
            allows += 1
            if "NotAction" in st or "NotResource" in st:
                problems.append(f"{who}: Allow with NotAction/NotResource {st}")
            actions = as_list(st.get("Action"))
            resources = as_list(st.get("Resource"))
            if not actions or not resources:
                problems.append(f"{who}: Allow without Action or Resource {st}")
            for action in actions:
                if not isinstance(action, str) or "*" in action or ":" not in action:
                    problems.append(f"{who}: wildcard or malformed action {action!r} (R-SEC-1)")
            if "*" in resources and not all(str(a).startswith(XRAY_ONLY_STAR) for a in actions):
                problems.append(f"{who}: Resource '*' for non-X-Ray actions {actions} (R-SEC-1)")
            for r in resources:
                if r != "*" and (not isinstance(r, str) or not r.startswith("arn:")):
                    problems.append(f"{who}: resource {r!r} is not an ARN")
        if denies == 0:
            problems.append(f"{who}: no Deny statement (R-SEC-2)")
        if allows == 0 and not rp.managed_arns:
            problems.append(f"{who}: grants nothing (no Allow statement)")
    return problems


SPEC_OBJECT_PREFIXES = ("incoming/", "rejected/", "api/")
"""The only key prefixes a function may touch in the raw bucket (R-FN-3 uploads, R-DATA-3 rejects, the API archive).

Written here from the spec, not imported from the component, so that a widened grant cannot widen the check too."""


def resource_scope_problems(mocks: AwsMocks, suffix: str) -> list[str]:
    """R-SEC-1: every resource a function role allows lies inside what the spec lets that pipeline touch.

    Allowed: the function's own log group (and its streams), the stack's table (exactly: no index or other table), the
    stack's queues and event bus (exact ARNs of resources this stack created), the raw bucket itself, objects under
    SPEC_OBJECT_PREFIXES only, and `*` (X-Ray, checked by iam_problems). A grant on `bucket/*`, `table/*`, another
    function's log group or another stack's queue is a problem.
    """
    (bucket,) = [mocks.inputs(r)["bucket"] for r in mocks.of_type("aws:s3/bucket:Bucket")]
    created = {
        typ: {mocks.inputs(r).get("name") for r in mocks.of_type(typ)}
        for typ in ("aws:sqs/queue:Queue", "aws:cloudwatch/eventBus:EventBus", "aws:dynamodb/table:Table")
    }
    stack_arns = {
        *(f"arn:aws:sqs:{REGION}:{ACCOUNT}:{q}" for q in created["aws:sqs/queue:Queue"]),
        *(
            f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{b}"
            for b in created["aws:cloudwatch/eventBus:EventBus"]
        ),
        *(f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{t}" for t in created["aws:dynamodb/table:Table"]),
        f"arn:aws:s3:::{bucket}",
        *(f"arn:aws:s3:::{bucket}/{p}*" for p in SPEC_OBJECT_PREFIXES),
    }
    roles = {rp.name: rp for rp in role_policies(mocks).values()}
    problems: list[str] = []
    functions = [mocks.inputs(r) for r in mocks.of_type("aws:lambda/function:Function")]
    for fn in functions:
        role = roles.get(str(fn["role"]).rsplit("/", 1)[-1])
        if role is None:
            problems.append(f"{fn['name']}: role {fn['role']!r} not recorded")
            continue
        group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{fn['name']}"
        allowed = stack_arns | {group, f"{group}:*", "*"}
        for st in role.statements():
            if st.get("Effect") != "Allow":
                continue
            for res in as_list(st.get("Resource")):
                if res not in allowed:
                    problems.append(f"{fn['name']}: {st.get('Sid')} allows {st.get('Action')} on {res!r}")
    if not all(name.endswith(suffix) for names in created.values() for name in names if name):
        problems.append(f"a queue, bus or table without the suffix {suffix!r}: {created}")
    return problems
