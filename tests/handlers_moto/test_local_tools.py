"""The Python wrappers of the local stack: moto server control, the Lambda host process (issue 4 item 1, 3) and
`LocalStack`, the one owner of the stack's start-up (R-RUN-1)."""

import json
import os
from pathlib import Path
from typing import Any

import pytest
from market_data_pipeline import COMPONENT_TOKEN

from tests.handlers_moto.conftest import FIXTURES, wait_until
from tools.local import datagen
from tools.local.client import StackClient
from tools.local.fault_proxy import FaultProxyProcess
from tools.local.host import (
    LambdaHostError,
    LambdaHostProcess,
    PipelineResources,
    bundle_path,
    pipeline_host_config,
)
from tools.local.moto_server import MotoServer
from tools.local.recording import record
from tools.local.stack import LocalStack


def _pid_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_moto_server_binds_localhost_resets_and_stops(mode: str) -> None:
    """moto listens on 127.0.0.1 on a free port, reset empties it, stop ends the child process by PID."""
    server = MotoServer(mode=mode).start()  # type: ignore[arg-type]
    try:
        assert server.endpoint_url.startswith("http://127.0.0.1:") and server.port > 0
        s3 = server.client("s3")
        # In thread mode moto's backends are this process's globals: earlier in-process tests may have left state.
        server.reset()
        assert s3.list_buckets()["Buckets"] == []
        s3.create_bucket(Bucket="wrapper-test")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["wrapper-test"]
        server.reset()
        assert s3.list_buckets()["Buckets"] == []
        assert server.env()["AWS_ENDPOINT_URL"] == server.endpoint_url
        pid = server.pid
    finally:
        server.stop()
    if mode == "process":
        assert pid is not None and pid != os.getpid()
        wait_until(lambda: _pid_gone(pid), 10, "the moto child to exit")
    with pytest.raises(ValueError, match="mode must be 'process' or 'thread'"):
        MotoServer(mode="docker")  # type: ignore[arg-type]


def test_host_process_reports_bad_config_and_stops_by_pid(tmp_path: Path) -> None:
    """A config error surfaces as LambdaHostError with the host's message; a started host is stopped by its PID."""
    bad = LambdaHostProcess({"functions": {"F": {"file": str(tmp_path / "missing.mjs")}}})
    with pytest.raises(LambdaHostError, match=r"functions\.F\.file .*missing\.mjs does not exist"):
        bad.start()
    bad.close()
    log = tmp_path / "host.log"
    host = LambdaHostProcess({"functions": {"F": {"file": str(FIXTURES / "probe.mjs")}}}, log_path=log)
    host.start()
    try:
        assert host.alive() and host.url.startswith("http://127.0.0.1:")
        assert host.get_json("/_host/health") == {"ok": True, "functions": ["F"]}
        pid = host.pid
    finally:
        assert host.stop() == 0
        host.close()
    assert pid is not None and _pid_gone(pid) and "listening on http://127.0.0.1:" in log.read_text()


def _declared(suffix: str, args: dict[str, Any]) -> tuple[PipelineResources, dict[str, Any]]:
    """What the component declares for `args` under the Pulumi mocks: resources named as the mocks name them, and
    per function its environment, timeout, memory, async retries and the event source mapping that feeds it."""
    rec = record(suffix, args)
    outs = next(r.outputs for r in rec if r.typ == COMPONENT_TOKEN)
    queues = {r.inputs["name"]: r.outputs for r in rec if r.typ == "aws:sqs/queue:Queue"}
    res = PipelineResources(
        suffix=suffix,
        bucket=outs["bucket_name"],
        table=outs["table_name"],
        queue_url=outs["queue_url"],
        event_bus=outs["event_bus_name"],
        s3_shim_queue_url="s3shim",
        aggregation_queue_url=queues[f"AggregationQueue-{suffix}"]["url"],
    )
    fns: dict[str, Any] = {}
    for r in rec:
        if r.typ == "aws:lambda/function:Function":
            fns[r.inputs["name"]] = {
                "env": r.inputs["environment"]["variables"],
                "timeout": r.inputs["timeout"],
                "memory": r.inputs["memorySize"],
            }
    for r in rec:
        if r.typ == "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig":
            fns[r.inputs["functionName"]]["retries"] = r.inputs["maximumRetryAttempts"]
        if r.typ == "aws:lambda/eventSourceMapping:EventSourceMapping":
            fns[r.inputs["functionName"].split(":")[-1]]["sqs"] = {
                "queue": r.inputs["eventSourceArn"].split(":")[-1],
                "batchSize": r.inputs["batchSize"],
                "maximumBatchingWindowSeconds": r.inputs["maximumBatchingWindowInSeconds"],
            }
    return res, fns


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"api_archive": True, "data_retention_days": 400, "lambda_memory_mb": 1024},
        {
            "queue_visibility_timeout_seconds": 120,
            "processor_batch_size": 100,
            "processor_batching_window_seconds": 5,
            "aggregation_batching_window_seconds": 2,
        },
    ],
    ids=["defaults", "archive-retention-memory", "batches-timeouts"],
)
def test_pipeline_host_config_runs_each_function_as_the_component_declares_it(args: dict[str, Any]) -> None:
    """R-FN-3..6: for the same args, `pipeline_host_config` gives each bundle exactly the environment the component
    declares under the Pulumi mocks (every variable, so one added to the component cannot be missing locally), and
    its timeout, memory, async retries, batch size and batching window."""
    res, declared = _declared("dev", args)
    cfg = pipeline_host_config(res, endpoint_url="http://127.0.0.1:1", args=args, schedule_every_ms=None)
    queue_names = {res.queue_url: res.queue_url.rsplit("/", 1)[-1]}
    queue_names[res.aggregation_queue_url] = res.aggregation_queue_url.rsplit("/", 1)[-1]
    assert set(cfg["functions"]) == set(declared)
    for name, fn in cfg["functions"].items():
        want = declared[name]
        assert fn["env"] == want["env"], name
        assert (fn["timeout"], fn["memory"]) == (want["timeout"], want["memory"]), name
        if "retries" in want:
            assert fn["async"]["maximumRetryAttempts"] == want["retries"], name
    sqs = {s["function"]: s for s in cfg["eventSources"] if s["type"] == "sqs"}
    assert set(sqs) == {n for n, f in declared.items() if "sqs" in f}
    for name, src in sqs.items():
        assert {
            "queue": queue_names[src["queueUrl"]],
            "batchSize": src["batchSize"],
            "maximumBatchingWindowSeconds": src["maximumBatchingWindowSeconds"],
        } == declared[name]["sqs"], name


def test_pipeline_host_config_overrides_and_bad_input() -> None:
    """The local overrides change only what they name; a bad arg is refused by the component's own validation,
    and an unknown timeout key or function names what is allowed."""
    res = PipelineResources(
        suffix="dev",
        bucket="b",
        table="MarketDataState-dev",
        queue_url="q",
        event_bus="MarketDataEvents-dev",
        s3_shim_queue_url="s3shim",
        aggregation_queue_url="aggq",
        ingestion_failure_queue_url="ingfail",
        api_key="k",
        stage="prod",
    )
    base = pipeline_host_config(res, endpoint_url="http://127.0.0.1:1", schedule_every_ms=1000)
    cfg = pipeline_host_config(
        res,
        endpoint_url="http://127.0.0.1:1",
        schedule_every_ms=1000,
        timeouts={"processor": 15},
        retention_days=7,
        memory_mb=512,
        extra_env={"query": {"X": "1"}},
    )
    fns = cfg["functions"]
    assert fns["DataIngestion-dev"]["file"] == str(bundle_path("ingestion"))
    assert fns["DataIngestion-dev"]["async"]["onFailureQueueUrl"] == "ingfail"
    assert fns["DataProcessor-dev"]["timeout"] == 15
    assert {n: f["timeout"] for n, f in fns.items() if n != "DataProcessor-dev"} == {
        n: f["timeout"] for n, f in base["functions"].items() if n != "DataProcessor-dev"
    }
    assert {f["memory"] for f in fns.values()} == {512}
    assert fns["DataProcessor-dev"]["env"] == {
        **base["functions"]["DataProcessor-dev"]["env"],
        "DATA_RETENTION_DAYS": "7",
    }
    assert fns["DataQuery-dev"]["env"] == {**base["functions"]["DataQuery-dev"]["env"], "X": "1"}
    kinds = {(s["type"], s["function"]) for s in cfg["eventSources"]}
    assert kinds == {
        ("s3-notification", "DataIngestion-dev"),
        ("sqs", "DataProcessor-dev"),
        ("sqs", "DataAggregator-dev"),
        ("schedule", "DataAggregator-dev"),
    }
    assert {(r["method"], r["resource"]) for r in cfg["api"]["routes"]} == {
        ("POST", "/ingest"),
        ("GET", "/symbols/{symbol}/latest"),
        ("GET", "/symbols/{symbol}/ticks"),
        ("GET", "/symbols/{symbol}/aggregates"),
    }
    with pytest.raises(ValueError, match=r"invalid data_retention_days=0: allowed an integer from 1 to 3650"):
        pipeline_host_config(res, endpoint_url="http://127.0.0.1:1", retention_days=0)
    with pytest.raises(ValueError, match=r"unknown args \['nope'\]"):
        pipeline_host_config(res, endpoint_url="http://127.0.0.1:1", args={"nope": 1})
    with pytest.raises(ValueError, match=r"timeouts for unknown functions \['ingest'\]; allowed: ingestion"):
        pipeline_host_config(res, endpoint_url="http://127.0.0.1:1", timeouts={"ingest": 1})
    with pytest.raises(ValueError, match="unknown function 'nope'"):
        bundle_path("nope")


def test_local_stack_front_proxy_sits_behind_the_counting_proxies_and_everything_stops_by_pid(
    tmp_path: Path,
) -> None:
    """R-RUN-1: `LocalStack(front=..., record_calls=True, schedule=False)` starts moto, the front proxy and the host,
    points every moto URL of the host config at the front (behind one counting proxy per caller), drops the
    schedule, and `stop()` ends every process it started by PID. A file pushed through the pipeline: each GetObject
    a counting proxy recorded reached moto through the front, which forwarded exactly as many."""
    stack = LocalStack(
        tmp_path,
        suffix="lsf",
        record_calls=True,
        schedule=False,
        front=lambda upstream: FaultProxyProcess(upstream).start(),
    )
    try:
        stack.start()
        moto_url, front_url = stack.outputs["EndpointUrl"], stack.front.url
        assert stack.started_pids == [stack.moto.pid, stack.front.pid, stack.host.pid]
        cfg = stack.host_config
        assert moto_url not in json.dumps(cfg) and front_url in json.dumps(cfg)
        assert all(s["type"] != "schedule" for s in cfg["eventSources"])
        assert {pr.upstream for pr in stack.recorders.values()} == {front_url}
        for name, fn in cfg["functions"].items():
            assert fn["env"]["AWS_ENDPOINT_URL"] == stack.recorders[name].url
        client = StackClient.of(stack)
        f = datagen.generate(seed=3, minutes=1, ticks_per_minute=5).files[0]
        client.s3.put_object(Bucket=client.bucket, Key=f.key, Body=f.body)  # straight to moto: never proxied

        def get_objects() -> int:
            return sum(1 for pr in stack.recorders.values() for c in pr.since(0) if c.action == "GetObject")

        recorded = wait_until(get_objects, 60, "the ingestion function to read the uploaded file")
        forwarded: dict[str, Any] = stack.front.stats()["forwarded"]
        assert forwarded.get("s3.GetObject") == recorded, forwarded
    finally:
        stack.stop()
    assert stack.started_pids and all(_pid_gone(pid) for pid in stack.started_pids)


def test_local_stack_stops_what_it_started_when_start_fails(tmp_path: Path) -> None:
    """R-RUN-1: a start-up that fails after moto and the front proxy are up (here the `prepare` hook) raises, and
    both processes are already stopped by PID when the error reaches the caller."""

    def fail(_stack: LocalStack, _cfg: dict[str, Any]) -> None:
        raise RuntimeError("prepare failed on purpose")

    stack = LocalStack(
        tmp_path, suffix="lsx", front=lambda upstream: FaultProxyProcess(upstream).start(), prepare=fail
    )
    try:
        with pytest.raises(RuntimeError, match="prepare failed on purpose"):
            stack.start()
        assert len(stack.started_pids) == 2  # moto, the front proxy
        assert [pid for pid in stack.started_pids if not _pid_gone(pid)] == []
    finally:
        stack.stop()  # the test's own clean-up (a no-op when start() cleaned up)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"schedule_every_ms": 0}, r"schedule_every_ms must be a positive integer .* got 0"),
        ({"schedule_every_ms": 2.5}, r"schedule_every_ms must be a positive integer .* got 2\.5"),
        (
            {"schedule_every_ms": 1000, "schedule": False},
            r"schedule_every_ms=1000 with schedule=False: the schedule is either dropped or given a rate",
        ),
    ],
)
def test_local_stack_refuses_bad_schedule_options(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    """R-RUN-1: a schedule option the stack cannot honour is refused before anything starts, naming what is
    allowed."""
    with pytest.raises(ValueError, match=message):
        LocalStack(tmp_path, **kwargs)
    assert list(tmp_path.iterdir()) == []
