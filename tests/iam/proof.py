"""The IAM proof from recorded calls (R-SEC-4): what each function did on the local stack, judged by its role.

1. Roles as built: `MarketDataPipeline` runs under the Pulumi mocks (`tests.harness`), `tests.property.graph.
   role_policies` collects each role's documents, and each function is tied to its role by the ARN it was given.
2. Calls as made: the local stack runs with a counting proxy per function and one for the host
   (`LocalStack(record_calls=True)`); `tools/local/proxy.py` + `tools/local/calls.py` turn every request into the (IAM action, resource ARN,
   context) authorizations AWS makes for it. The host's own calls are attributed as AWS attributes them: the SQS
   event source mapping polls with the function's execution role, an async invocation's on-failure destination is
   sent with it; the trigger shims (S3 notification and rule target queues) are local plumbing, not role calls.
   Calls the Lambda service makes for a function that the host does not make (log writes, X-Ray segments with
   active tracing) are added as *modeled* and labelled so. An S3 read answered 404 adds the *implied* check
   `s3:ListBucket` on the bucket: without it AWS answers 403 instead (GetObject in the S3 API Reference); implied
   checks are reported with their verdict, not counted as denied calls.
3. Judgement: `evaluate` hands every authorization to `@cloud-copilot/iam-simulate` (`tools/iam/simulate.mjs`),
   AWS's evaluation logic with its action/resource catalogue, with the role's policies and the resource's own
   policy (bucket, queue). Then each Allow (statement x action x resource) is evaluated alone against the allowed
   calls: one that no call needed is *unused* and must have a written reason.
"""

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness import ACCOUNT, REGION, AwsMocks, policy_doc
from tests.property.graph import as_list, role_policies
from tools.local.calls import Call, IamRequest, sqs_queue_arn

REPO = Path(__file__).resolve().parents[2]
EVALUATOR = REPO / "tools" / "iam" / "simulate.mjs"
EVALUATOR_MODULES = REPO / "tools" / "iam" / "node_modules" / "@cloud-copilot" / "iam-simulate"
RESULTS = ("Allowed", "ExplicitlyDenied", "ImplicitlyDenied", "Error")

# What the Lambda service does with a function's execution role that the local host does not do (AWS Lambda
# Developer Guide, "Lambda execution role": logs:CreateLogStream and logs:PutLogEvents on the function's log group,
# and with active tracing xray:PutTraceSegments and xray:PutTelemetryRecords on *).
MODELED_LOG_STREAM = "2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef"
MODELED_LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
MODELED_XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
IMPLIED_404 = "implied: a 404 for a missing key needs s3:ListBucket (AWS answers 403 without it)"


class EvaluatorMissingError(RuntimeError):
    """The Node evaluator (tools/iam) is not installed."""


@dataclass(frozen=True)
class Request:
    """One authorization to evaluate: who (policy set and principal), what (action, resource) and the context."""

    id: str
    policy_set: str
    principal: str
    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)
    resource_policy: str | None = None


@dataclass(frozen=True)
class Verdict:
    """iam-simulate's answer for one request."""

    result: str
    """Allowed, ExplicitlyDenied, ImplicitlyDenied, or Error (the request itself is invalid: see ``error``)"""
    error: str = ""
    allow: tuple[str, ...] = ()
    """Sids of the identity Allow statements that matched"""
    deny: tuple[str, ...] = ()
    """Sids of the Deny statements (identity and resource policy) that matched"""
    ignored_context_keys: tuple[str, ...] = ()
    """context keys the action does not know (dropped before evaluation)"""


def evaluate(
    policy_sets: Mapping[str, Sequence[Mapping[str, Any]]],
    requests: Sequence[Request],
    resource_policies: Mapping[str, Mapping[str, Any]] | None = None,
    timeout: float = 300.0,
) -> dict[str, Verdict]:
    """Evaluate every request with AWS's policy evaluation logic (one Node process for the batch).

    ``policy_sets`` maps a name to the identity policy documents of one principal; a request names its set and,
    optionally, the resource policy (from ``resource_policies``) of the resource it touches.
    """
    node = shutil.which("node")
    if node is None:
        raise EvaluatorMissingError("`node` is not on PATH (the IAM evaluator runs on Node.js)")
    if not EVALUATOR_MODULES.is_dir():
        raise EvaluatorMissingError(f"{EVALUATOR_MODULES} is missing: run `make node` (npm ci in tools/iam)")
    ids = [r.id for r in requests]
    if len(set(ids)) != len(ids):
        raise ValueError("request ids must be unique")
    payload = {
        "policySets": {
            k: [{"name": f"{k}#{i}", "policy": d} for i, d in enumerate(v)] for k, v in policy_sets.items()
        },
        "resourcePolicies": dict(resource_policies or {}),
        "requests": [
            {
                "id": r.id,
                "principal": r.principal,
                "accountId": ACCOUNT,
                "policySet": r.policy_set,
                "action": r.action,
                "resource": r.resource,
                "context": dict(r.context),
                **({"resourcePolicy": r.resource_policy} if r.resource_policy else {}),
            }
            for r in requests
        ],
    }
    with tempfile.TemporaryDirectory(prefix="iam-eval-") as tmp:
        path = Path(tmp) / "in.json"
        path.write_text(json.dumps(payload))
        proc = subprocess.run(
            [node, str(EVALUATOR), str(path)],
            capture_output=True,
            timeout=timeout,
            check=False,
            cwd=str(EVALUATOR.parent),
        )
    if proc.returncode != 0:
        raise RuntimeError(f"IAM evaluator failed ({proc.returncode}): {proc.stderr.decode()[-3000:]}")
    out: dict[str, Verdict] = {}
    for row in json.loads(proc.stdout):
        if row["result"] not in RESULTS:
            raise RuntimeError(f"IAM evaluator answered {row['result']!r} for {row['id']}; known: {RESULTS}")
        out[row["id"]] = Verdict(
            row["result"],
            row.get("error", ""),
            tuple(row.get("allow", ())),
            tuple(row.get("deny", ())),
            tuple(row.get("ignoredContextKeys", ())),
        )
    return out


# ----------------------------------------------------------------------------------------------------------------
# roles as the component builds them


@dataclass
class FunctionRole:
    """One function's execution role as built: its documents and what the Lambda service does with it."""

    function: str
    role_name: str
    documents: list[dict[str, Any]]
    managed_arns: list[str]
    log_group: str
    active_tracing: bool

    @property
    def principal(self) -> str:
        """The session ARN the function's calls are made as."""
        return f"arn:aws:sts::{ACCOUNT}:assumed-role/{self.role_name}/{self.function}"


@dataclass
class BuiltPolicies:
    """Function roles, roles no function assumes, and resource policies keyed by the ARN they protect."""

    functions: dict[str, FunctionRole]
    other_roles: dict[str, list[str]]
    """physical role name -> its managed policy ARNs (roles assumed by services other than our functions)"""
    resource_policies: dict[str, dict[str, Any]]
    """bucket or queue ARN -> its resource policy"""


def built_policies(mocks: AwsMocks) -> BuiltPolicies:
    """Read the roles and resource policies a component run under ``mocks`` registered."""
    roles = {rp.name or rp.role: rp for rp in role_policies(mocks).values()}
    functions: dict[str, FunctionRole] = {}
    for fn in mocks.of_type("aws:lambda/function:Function"):
        inputs = mocks.inputs(fn)
        name = str(inputs["name"])
        role_name = str(inputs["role"]).rsplit("/", 1)[-1]
        if role_name not in roles:
            raise AssertionError(
                f"function {name} names role {inputs['role']!r}, which the component did not build"
            )
        rp = roles[role_name]
        logging = inputs.get("loggingConfig") or {}
        functions[name] = FunctionRole(
            function=name,
            role_name=role_name,
            documents=[dict(d) for d in rp.documents],
            managed_arns=list(rp.managed_arns),
            log_group=str(logging.get("logGroup") or f"/aws/lambda/{name}"),
            active_tracing=(inputs.get("tracingConfig") or {}).get("mode") == "Active",
        )
    used = {f.role_name for f in functions.values()}
    other = {name: list(rp.managed_arns) for name, rp in roles.items() if name not in used}
    resource_policies: dict[str, dict[str, Any]] = {}
    for r in mocks.of_type("aws:s3/bucketPolicy:BucketPolicy"):
        i = mocks.inputs(r)
        resource_policies[f"arn:aws:s3:::{i['bucket']}"] = policy_doc(i["policy"])
    for r in mocks.of_type("aws:sqs/queuePolicy:QueuePolicy"):
        i = mocks.inputs(r)
        resource_policies[sqs_queue_arn(str(i["queueUrl"]), REGION)] = policy_doc(i["policy"])
    return BuiltPolicies(functions, other, resource_policies)


def resource_policy_for(resource: str, policies: Mapping[str, Any]) -> str | None:
    """The key of the resource policy that governs ``resource`` (a bucket's covers its objects), if any."""
    if resource in policies:
        return resource
    if resource.startswith("arn:aws:s3:::"):
        bucket = "arn:aws:s3:::" + resource[len("arn:aws:s3:::") :].split("/", 1)[0]
        return bucket if bucket in policies else None
    return None


# ----------------------------------------------------------------------------------------------------------------
# calls as made


@dataclass(frozen=True)
class Attributed:
    """One authorization made with a function's role, and how it came about."""

    function: str
    source: str
    """"handler" (the function's own SDK call), "event source mapping", "on-failure destination",
    "modeled: ..." (what the Lambda service does that the local host does not) or "implied: ..." (a permission
    AWS consults to shape an answer, not a call)"""
    request: IamRequest
    call: str
    """the API call it came from, e.g. ``s3 HeadObject 404``"""


@dataclass
class Recording:
    """Every recorded call, attributed."""

    attributed: list[Attributed] = field(default_factory=list)
    emulation: list[str] = field(default_factory=list)
    """host calls on the local trigger shims (not made by any role in AWS)"""
    problems: list[str] = field(default_factory=list)
    """calls that could not be classified or attributed (each one fails the proof)"""


def _describe(c: Call) -> str:
    return f"{c.service} {c.action} {c.status}"


def attribute(
    calls: Mapping[str, Sequence[Call]],
    host_config: Mapping[str, Any],
    host_caller: str,
    invocations: Mapping[str, int],
    roles: Mapping[str, FunctionRole],
) -> Recording:
    """Attribute recorded calls to functions (see the module doc); ``calls`` is keyed by function name and
    ``host_caller``; ``invocations`` (function -> count) decides which functions get the modeled service calls."""
    rec = Recording()
    esm = {
        sqs_queue_arn(s["queueUrl"], REGION): s["function"]
        for s in host_config["eventSources"]
        if s["type"] == "sqs"
    }
    shims = {
        sqs_queue_arn(s["queueUrl"], REGION): s["type"]
        for s in host_config["eventSources"]
        if s["type"] in ("s3-notification", "eventbridge-rule")
    }
    failure = {
        sqs_queue_arn(f["async"]["onFailureQueueUrl"], REGION): name
        for name, f in host_config["functions"].items()
        if (f.get("async") or {}).get("onFailureQueueUrl")
    }
    for who, made in calls.items():
        for c in made:
            if c.unclassified:
                rec.problems.append(f"{who}: unclassified call {c.unclassified}")
                continue
            if who != host_caller:
                rec.attributed += [Attributed(who, "handler", r, _describe(c)) for r in c.iam]
                reads = [r for r in c.iam if r.action in ("s3:GetObject", "s3:GetObjectVersion")]
                if c.status == 404 and reads:
                    bucket, key = reads[0].resource.split("/", 1)
                    # AWS evaluates this ListBucket with s3:prefix = the requested key (ceph/ceph#68577 mirrors
                    # AWS here), so a grant limited by an s3:prefix condition answers it.
                    implied = IamRequest(
                        "s3:ListBucket", bucket, (("aws:SecureTransport", "true"), ("s3:prefix", key))
                    )
                    rec.attributed.append(Attributed(who, IMPLIED_404, implied, _describe(c)))
                continue
            for r in c.iam:
                if r.resource in shims:
                    rec.emulation.append(f"{_describe(c)} on the {shims[r.resource]} shim queue")
                elif r.resource in esm and r.action != "sqs:SendMessage":
                    rec.attributed.append(
                        Attributed(esm[r.resource], "event source mapping", r, _describe(c))
                    )
                elif r.resource in failure and r.action == "sqs:SendMessage":
                    rec.attributed.append(
                        Attributed(failure[r.resource], "on-failure destination", r, _describe(c))
                    )
                else:
                    rec.problems.append(
                        f"host: call {_describe(c)} {r} is neither a shim, an event source nor a destination"
                    )
    transport = (("aws:SecureTransport", "true"),)
    for name, role in roles.items():
        if invocations.get(name, 0) < 1:
            continue
        group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{role.log_group}"
        for action in MODELED_LOG_ACTIONS:
            req = IamRequest(action, f"{group}:log-stream:{MODELED_LOG_STREAM}", transport)
            rec.attributed.append(Attributed(name, "modeled: Lambda writes the function's logs", req, action))
        if role.active_tracing:
            for action in MODELED_XRAY_ACTIONS:
                req = IamRequest(action, "*", transport)
                rec.attributed.append(Attributed(name, "modeled: active tracing sends segments", req, action))
    return rec


# ----------------------------------------------------------------------------------------------------------------
# grants and the judgement


@dataclass(frozen=True)
class Grant:
    """One Allow element: a statement's action x resource (or the whole statement for NotAction/NotResource)."""

    function: str
    sid: str
    action: str
    resource: str
    statement: str
    """the probe statement as JSON (the element alone, with the statement's conditions)"""


def grants(function: str, documents: Iterable[Mapping[str, Any]]) -> list[Grant]:
    """Every Allow element of a function's documents."""
    out: list[Grant] = []
    for d in documents:
        for i, st in enumerate(as_list(d.get("Statement"))):
            if st.get("Effect") != "Allow":
                continue
            sid = str(st.get("Sid") or f"#{i}")
            if "NotAction" in st or "NotResource" in st:
                act = (
                    "NotAction " + ",".join(as_list(st["NotAction"]))
                    if "NotAction" in st
                    else ",".join(as_list(st["Action"]))
                )
                res = (
                    "NotResource " + ",".join(as_list(st["NotResource"]))
                    if "NotResource" in st
                    else ",".join(as_list(st["Resource"]))
                )
                out.append(Grant(function, sid, act, res, json.dumps(st, sort_keys=True)))
                continue
            for a in as_list(st.get("Action")):
                for r in as_list(st.get("Resource")):
                    probe = {**st, "Action": [a], "Resource": [r]}
                    out.append(Grant(function, sid, a, r, json.dumps(probe, sort_keys=True)))
    return out


def _service(action: str) -> str:
    return action.split(":", 1)[0].lower()


@dataclass
class Judgement:
    """The proof's outcome."""

    verdicts: list[tuple[Attributed, Verdict]]
    denied: list[tuple[Attributed, Verdict]]
    """calls the role does not allow (or the evaluator refuses as invalid): each one fails the proof"""
    implied: list[tuple[Attributed, Verdict]]
    """implied checks (not calls) and their verdicts: reported"""
    used: dict[Grant, list[Attributed]]
    unused: list[Grant]


def judge(policies: BuiltPolicies, recording: Recording) -> Judgement:
    """Evaluate every attributed authorization, then find which Allow elements were needed."""
    distinct: dict[tuple[str, IamRequest], Attributed] = {}
    for a in recording.attributed:
        distinct.setdefault((a.function, a.request), a)
    sets = {name: role.documents for name, role in policies.functions.items()}
    reqs: list[Request] = []
    keyed: dict[str, Attributed] = {}
    for n, ((fn, iam), a) in enumerate(sorted(distinct.items(), key=lambda kv: (kv[0][0], repr(kv[0][1])))):
        if fn not in policies.functions:
            raise AssertionError(f"calls recorded for {fn!r}, which is not a function the component built")
        rid = f"c{n}"
        keyed[rid] = a
        reqs.append(
            Request(
                rid,
                fn,
                policies.functions[fn].principal,
                iam.action,
                iam.resource,
                dict(iam.context),
                resource_policy_for(iam.resource, policies.resource_policies),
            )
        )
    verdict = evaluate(sets, reqs, policies.resource_policies)
    verdicts = [(keyed[r.id], verdict[r.id]) for r in reqs]
    denied = [(a, v) for a, v in verdicts if v.result != "Allowed" and not a.source.startswith("implied")]
    implied = [(a, v) for a, v in verdicts if a.source.startswith("implied")]

    all_grants = [g for name, role in policies.functions.items() for g in grants(name, role.documents)]
    probe_sets = {
        f"g{i}": [{"Version": "2012-10-17", "Statement": [json.loads(g.statement)]}]
        for i, g in enumerate(all_grants)
    }
    probes: list[Request] = []
    probe_of: dict[str, tuple[Grant, Attributed]] = {}
    allowed = [(a, r) for (a, v), r in zip(verdicts, reqs, strict=True) if v.result == "Allowed"]
    for i, g in enumerate(all_grants):
        services = {_service(x) for x in g.action.removeprefix("NotAction ").split(",")}
        for a, r in allowed:
            if a.function != g.function:
                continue
            if (
                not g.action.startswith("NotAction ")
                and "*" not in services
                and _service(r.action) not in services
            ):
                continue  # a grant of another service cannot match; skip evaluating it
            pid = f"p{len(probes)}"
            probe_of[pid] = (g, a)
            probes.append(Request(pid, f"g{i}", r.principal, r.action, r.resource, r.context))
    probe_verdict = evaluate(probe_sets, probes) if probes else {}
    used: dict[Grant, list[Attributed]] = {g: [] for g in all_grants}
    for pid, (g, a) in probe_of.items():
        if probe_verdict[pid].result == "Allowed":
            used[g].append(a)
    unused = [g for g in all_grants if not used[g]]
    return Judgement(verdicts, denied, implied, {g: v for g, v in used.items() if v}, unused)


def generic(text: str, suffix: str) -> str:
    """``text`` with the stack's suffix and account replaced by ``{suffix}`` and ``{account}`` (stable keys)."""
    return text.replace(ACCOUNT, "{account}").replace(suffix, "{suffix}")


def grant_key(g: Grant, suffix: str) -> str:
    """The key of an unused grant in the reasons table: ``<function> <action> <resource>``, made generic."""
    return generic(f"{g.function} {g.action} {g.resource}", suffix)


def report(
    j: Judgement, recording: Recording, policies: BuiltPolicies, reasons: Mapping[str, str], suffix: str
) -> str:
    """A human-readable report: calls per function and verdict, denied calls, used and unused grants."""
    lines = ["IAM proof (R-SEC-4): recorded calls evaluated against the roles the component builds", ""]
    by_fn: dict[str, dict[str, int]] = {}
    for a, v in j.verdicts:
        kind = f"{v.result} (implied)" if a.source.startswith("implied") else v.result
        by_fn.setdefault(a.function, {})
        by_fn[a.function][kind] = by_fn[a.function].get(kind, 0) + 1
    lines.append(
        f"distinct authorizations evaluated: {len(j.verdicts)} (from {len(recording.attributed)} recorded)"
    )
    for fn, counts in sorted(by_fn.items()):
        lines.append(f"  {fn}: {', '.join(f'{k} {n}' for k, n in sorted(counts.items()))}")
    lines.append(f"denied calls: {len(j.denied)}")
    for a, v in j.denied:
        lines.append(
            f"  DENIED {a.function} {a.request.action} {a.request.resource} {dict(a.request.context)} "
            f"[{a.source}; {a.call}] -> {v.result}{' ' + v.error if v.error else ''}"
            f"{' deny: ' + ','.join(v.deny) if v.deny else ''}"
        )
    dropped = sorted({f"{a.request.action} {k}" for a, v in j.verdicts for k in v.ignored_context_keys})
    lines.append(
        f"context keys the catalogue does not know for the action (dropped): {', '.join(dropped) or 'none'}"
    )
    lines.append(f"implied checks (reported, not calls): {len(j.implied)}")
    for a, v in j.implied:
        lines.append(
            f"  {a.function} {a.request.action} {a.request.resource} [{a.source}; {a.call}] -> {v.result}"
        )
    lines.append(f"host calls on local trigger shims (no role in AWS): {len(recording.emulation)}")
    lines.append("")
    lines.append("permissions used (function, Sid, action, resource: calls, sources):")
    for g, calls in sorted(j.used.items(), key=lambda kv: (kv[0].function, kv[0].sid, kv[0].action)):
        sources = sorted({a.source for a in calls})
        lines.append(
            f"  {generic(f'{g.function} {g.sid} {g.action} {g.resource}', suffix)}: {len(calls)} ({', '.join(sources)})"
        )
    lines.append("")
    lines.append(f"permissions granted but not used by any call: {len(j.unused)}")
    for g in j.unused:
        key = grant_key(g, suffix)
        lines.append(f"  {key} [Sid {g.sid}]: {reasons.get(key, 'NO REASON KEPT')}")
    if policies.other_roles:
        lines.append("")
        lines.append("roles no function assumes (not part of this proof):")
        for name, managed in sorted(policies.other_roles.items()):
            lines.append(f"  {generic(name, suffix)}{' managed: ' + ', '.join(managed) if managed else ''}")
    return "\n".join(lines)
