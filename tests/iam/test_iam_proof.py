"""R-SEC-4: permissions proven from behaviour (how: tests/iam/proof.py; docs/design.md "How permissions are proven").

A local stack (moto + the local Lambda host running the real bundles) runs the end-to-end scenario with every AWS
request recorded per function: S3 uploads (CSV, JSON Lines, JSON, gzip, with bad lines -> `rejected/` objects),
a clean re-upload of a key that had rejects, POST /ingest (good, duplicate, malformed), the processor (SQS event
source), the aggregator on its events and on its schedule, the query API (latest, ticks, aggregates), the
ingestion of an object that no longer exists, and async invocations of DataIngestion and DataAggregator that fail
every attempt (their events go to the on-failure destinations). Every authorization those calls need is evaluated against the role
the component builds for the function, with AWS's evaluation logic; every Allow element no call needed must have
a reason in `UNUSED_REASONS`. moto checks none of this (it does not evaluate resource ARNs or conditions).

The report is printed on failure and written to `iam-proof.txt` in the test's temporary directory.
"""

import copy
import dataclasses
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from market_data_pipeline import MarketDataPipeline

from tests.harness import AwsMocks, run_pulumi
from tests.iam.proof import (
    BuiltPolicies,
    Judgement,
    Recording,
    attribute,
    built_policies,
    grant_key,
    judge,
    report,
)
from tests.stack_helpers import assert_stopped
from tools.local import datagen, demo
from tools.local.client import StackClient
from tools.local.host import HOST_CALLER, scheduled_event
from tools.local.stack import LocalStack

SUFFIX = "iamproof"
"""The stack's environment suffix (distinctive, so `proof.generic` can replace it in reason keys)."""

UNUSED_REASONS: dict[str, str] = {
    "DataIngestion-{suffix} s3:AbortMultipartUpload arn:aws:s3:::market-data-{suffix}-{account}-us-east-1/rejected/*": (
        "a rejected/ object above 8 MiB is written by multipart upload (@aws-sdk/lib-storage), and an upload that "
        "fails is aborted so no parts are left (lib/lambda/src/adapters/s3.ts; lib/lambda/test/ingestion.test.ts); "
        "the scenario's rejected/ objects are small, one PutObject each"
    ),
    "DataProcessor-{suffix} sqs:ChangeMessageVisibility arn:aws:sqs:us-east-1:{account}:ProcessingQueue-{suffix}": (
        "for the SQS event source mapping, which the Lambda service runs with this role; the local host's "
        "emulation never changes a message's visibility (failed records simply reappear after the visibility "
        "timeout). AWS's AWSLambdaSQSQueueExecutionRole lists only ReceiveMessage, DeleteMessage and "
        "GetQueueAttributes: a candidate for removal once checked on AWS"
    ),
    "DataAggregator-{suffix} sqs:ChangeMessageVisibility arn:aws:sqs:us-east-1:{account}:AggregationQueue-{suffix}": (
        "for the aggregation buffer's SQS event source mapping, which the Lambda service runs with this role; the "
        "local host's emulation never changes a message's visibility (as for DataProcessor's queue above)"
    ),
    "DataAggregator-{suffix} sqs:SendMessage arn:aws:sqs:us-east-1:{account}:AggregationQueue-{suffix}": (
        "DataAggregator's deferrals: a window named while still open is sent back to the buffer with a delay "
        "(lib/lambda/src/core/coalesce.ts; test/aggregator.test.ts, tests/integration/test_streaming.py); the "
        "scenario's ticks all lie in windows that closed before they arrive"
    ),
}
"""Allow elements the local end-to-end run does not use, keyed `<function> <action> <resource>` with `{suffix}`
and `{account}` placeholders, and why each one stays."""


@dataclass
class Proof:
    """One recorded run, judged."""

    policies: BuiltPolicies
    recording: Recording
    judgement: Judgement
    text: str
    report_path: Path


def _log(msg: str) -> None:
    print(msg)


def _quiet(client: StackClient, timeout: float = 60.0) -> None:
    """Wait (bounded) until the stack is quiet (`StackClient.quiet`) twice in a row, delayed messages included: a
    DataAggregator deferral still waiting in its buffer would make calls after the proof stopped looking (R-SEC-4:
    every call of the run is evidence)."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the local stack did not go quiet within {timeout:.0f}s: {client.host.stats()}"
            )
        quiet = quiet + 1 if client.quiet(include_delayed=True) else 0
        time.sleep(0.5)


def _clean_body(f: datagen.DataFile) -> bytes:
    """The file without its bad lines (CSV or JSON Lines, uncompressed): a clean new version of the same key."""
    bad = {b.position for b in f.bad}
    lines = f.body.decode().splitlines()
    return ("\n".join(line for i, line in enumerate(lines, 1) if i not in bad) + "\n").encode()


def run_scenario(stack: LocalStack) -> None:
    """The end-to-end paths of the module doc, on a small dataset; returns when the pipeline is quiet."""
    ds = datagen.generate(seed=11, symbols=("AAPL", "MSFT"), minutes=2, ticks_per_minute=15, batch_size=25)
    p = StackClient.of(stack)
    demo.send(p, ds, _log)
    ok, _t, _got = demo.wait_drained(p, ds, datagen.reference_aggregates(ds.ticks), 90.0, _log)
    assert ok, "the pipeline did not store every tick and aggregate of the scenario"
    s3 = p.s3
    bucket = p.bucket
    # a clean new version of a key that had rejects (its rejected/ object goes)
    f = next(f for f in ds.files if f.fmt in ("csv", "jsonl") and f.bad)
    s3.put_object(Bucket=bucket, Key=f.key, Body=_clean_body(f))
    # the query API: latest, ticks and aggregates
    for path in (
        "/symbols/AAPL/latest",
        f"/symbols/AAPL/ticks?from={ds.start_ms}&to={ds.end_ms}&limit=5",
        f"/symbols/MSFT/aggregates?interval=5m&from={ds.start_ms}&to={ds.end_ms}",
    ):
        status, _h, body = p.api("GET", path)
        assert status == 200, f"GET {path} -> {status}: {body[:300]!r}"
    names = {n.split("-", 1)[0]: n for n in stack.host.config["functions"]}
    client = stack.host.lambda_client()
    # the aggregator on its schedule (the host's own schedule is minutes away)
    scheduled = scheduled_event("iam-proof")
    r = client.invoke(FunctionName=names["DataAggregator"], Payload=json.dumps(scheduled).encode())
    assert not r.get("FunctionError"), r["Payload"].read()[:500]
    # the ingestion of an object deleted before its notification was handled
    s3.put_object(Bucket=bucket, Key="incoming/iam-proof/deleted.csv", Body=b"")
    s3.delete_object(Bucket=bucket, Key="incoming/iam-proof/deleted.csv")
    gone = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": {"key": "incoming/iam-proof/deleted.csv"}},
            }
        ]
    }
    r = client.invoke(FunctionName=names["DataIngestion"], Payload=json.dumps(gone).encode())
    assert not r.get("FunctionError"), r["Payload"].read()[:500]
    # async invocations that fail every attempt: the event goes to the function's on-failure destination
    destinations = []
    for fn in (names["DataIngestion"], names["DataAggregator"]):
        client.invoke(
            FunctionName=fn, InvocationType="Event", Payload=b'{"iam-proof": "an unsupported event"}'
        )
        destinations.append(stack.host.config["functions"][fn]["async"]["onFailureQueueUrl"])
    deadline = time.monotonic() + 60
    for url in destinations:
        while not p.depth(url):
            assert time.monotonic() < deadline, f"no failed async event reached {url}"
            time.sleep(0.5)
    _quiet(p)


def _policies() -> BuiltPolicies:
    mocks, _ = run_pulumi(lambda: MarketDataPipeline("md", {"environment_suffix": SUFFIX}), AwsMocks())
    return built_policies(mocks)


def _judge(
    policies: BuiltPolicies, stack_calls: Any, host_config: Any, invocations: Any
) -> tuple[Recording, Judgement]:
    recording = attribute(stack_calls, host_config, HOST_CALLER, invocations, policies.functions)
    return recording, judge(policies, recording)


@pytest.fixture(scope="module")
def recorded(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, int], Path]]:
    """Run the scenario on a recording local stack; yields (calls per caller, host config, invocations, tmp dir)."""
    tmp = tmp_path_factory.mktemp("iam-proof")
    stack = LocalStack(tmp, suffix=SUFFIX, record_calls=True)
    stack.start()
    try:
        run_scenario(stack)
        calls = {name: proxy.since(0) for name, proxy in stack.recorders.items()}
        invocations = {n: int(s["invocations"]) for n, s in stack.host.stats().items()}
        config = copy.deepcopy(stack.host.config)
    finally:
        stack.stop()
        assert_stopped(stack.started_pids, "the IAM proof's local stack")
    yield calls, config, invocations, tmp


@pytest.fixture(scope="module")
def proof(recorded: tuple[dict[str, Any], dict[str, Any], dict[str, int], Path]) -> Proof:
    """The recorded run judged against the roles as built."""
    calls, config, invocations, tmp = recorded
    policies = _policies()
    recording, judgement = _judge(policies, calls, config, invocations)
    text = report(judgement, recording, policies, UNUSED_REASONS, SUFFIX)
    path = tmp / "iam-proof.txt"
    path.write_text(text + "\n")
    print(f"{text}\n(report: {path})")
    return Proof(policies, recording, judgement, text, path)


def test_scenario_exercised_every_function_and_the_event_source(proof: Proof) -> None:
    """R-SEC-4: the proof is not vacuous: each function made calls of its own, the event source mapping polled,
    and the paths named in the module doc left their calls."""
    by_fn: dict[str, set[str]] = {}
    for a in proof.recording.attributed:
        by_fn.setdefault(a.function, set()).add(f"{a.source}|{a.request.action}")
    for fn in proof.policies.functions:
        assert any(s.startswith("handler|") for s in by_fn.get(fn, set())), f"{fn} made no call\n{proof.text}"
    seen = {s for v in by_fn.values() for s in v}
    for source, action in (
        ("handler", "s3:GetObject"),
        ("handler", "s3:PutObject"),
        ("handler", "s3:DeleteObject"),
        ("handler", "sqs:SendMessage"),
        ("handler", "dynamodb:BatchWriteItem"),
        ("handler", "dynamodb:Query"),
        ("handler", "events:PutEvents"),
        ("event source mapping", "sqs:ReceiveMessage"),
        ("on-failure destination", "sqs:SendMessage"),
    ):
        assert f"{source}|{action}" in seen, f"no recorded {source} call needed {action}\n{proof.text}"


def test_every_recorded_call_is_allowed_by_its_role(proof: Proof) -> None:
    """R-SEC-4: 0 denied calls; a call the proof cannot classify or attribute fails it too."""
    assert not proof.recording.problems, "\n".join(proof.recording.problems) + "\n" + proof.text
    assert not proof.judgement.denied, proof.text


def test_every_unused_permission_has_a_reason(proof: Proof) -> None:
    """R-SEC-4: each Allow element no call used is kept with a written reason; a reason for a grant that is now
    used or gone is stale and must be removed."""
    unused = {grant_key(g, SUFFIX) for g in proof.judgement.unused}
    missing = sorted(unused - set(UNUSED_REASONS))
    stale = sorted(set(UNUSED_REASONS) - unused)
    assert not missing, (
        "unused permissions without a reason (add one to UNUSED_REASONS or drop the grant):\n  "
        + "\n  ".join(missing)
        + "\n"
        + proof.text
    )
    assert not stale, (
        "reasons for permissions that are used or no longer granted (remove them):\n  " + "\n  ".join(stale)
    )


def test_function_roles_are_fully_evaluable(proof: Proof) -> None:
    """R-SEC-4: a managed policy attached by ARN (contents unknown under mocks) would escape the proof."""
    opaque = {fn: r.managed_arns for fn, r in proof.policies.functions.items() if r.managed_arns}
    assert not opaque, f"function roles with managed policies the proof cannot read: {opaque}"


def test_proof_fails_when_an_action_is_removed(
    proof: Proof, recorded: tuple[dict[str, Any], dict[str, Any], dict[str, int], Path]
) -> None:
    """R-SEC-4, the guard shown failing: the same recorded calls against a processor role without
    `dynamodb:BatchWriteItem` give denied calls naming it."""
    calls, config, invocations, _tmp = recorded
    policies = copy.deepcopy(proof.policies)
    processor = next(fn for fn in policies.functions if fn.startswith("DataProcessor"))
    removed = 0
    for doc in policies.functions[processor].documents:
        for st in doc["Statement"]:
            if st.get("Effect") == "Allow" and "dynamodb:BatchWriteItem" in st.get("Action", []):
                st["Action"] = [a for a in st["Action"] if a != "dynamodb:BatchWriteItem"]
                removed += 1
    assert removed == 1
    _recording, judgement = _judge(policies, calls, config, invocations)
    denied = {(a.function, a.request.action, v.result) for a, v in judgement.denied}
    assert denied == {(processor, "dynamodb:BatchWriteItem", "ImplicitlyDenied")}, denied


def test_proof_denies_put_events_of_another_source(
    proof: Proof, recorded: tuple[dict[str, Any], dict[str, Any], dict[str, int], Path]
) -> None:
    """R-SEC-4, R-EVB-1: DataProcessor may put only the TicksStored events the rule matches (the `events:source`
    and `events:detail-type` conditions of its grant). The same recorded calls, with the processor's PutEvents
    entries naming another source or detail-type, are denied; the unchanged ones were allowed (test above)."""
    calls, config, invocations, _tmp = recorded
    for key, other in (("events:source", "other.source"), ("events:detail-type", "OtherEvent")):
        spoofed = {caller: [_spoof_put_events(c, key, other) for c in cs] for caller, cs in calls.items()}
        changed = sum(
            a != b for caller, cs in calls.items() for a, b in zip(cs, spoofed[caller], strict=True)
        )
        assert changed > 0, "the scenario recorded no PutEvents call"
        _recording, judgement = _judge(proof.policies, spoofed, config, invocations)
        denied = {(a.function.split("-")[0], a.request.action, v.result) for a, v in judgement.denied}
        assert denied == {("DataProcessor", "events:PutEvents", "ImplicitlyDenied")}, (key, denied)


def _spoof_put_events(call: Any, key: str, value: str) -> Any:
    """``call`` with context key ``key`` of its PutEvents authorizations set to ``value`` (other calls unchanged)."""
    if not any(r.action == "events:PutEvents" for r in call.iam):
        return call
    iam = tuple(
        dataclasses.replace(r, context=tuple((k, value if k == key else v) for k, v in r.context))
        for r in call.iam
    )
    return dataclasses.replace(call, iam=iam)
