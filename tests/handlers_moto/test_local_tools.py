"""The Python wrappers of the local stack: moto server control and the Lambda host process (issue 4 item 1, 3)."""

import os
from pathlib import Path

import pytest

from tests.handlers_moto.conftest import FIXTURES, wait_until
from tools.local.host import (
    LambdaHostError,
    LambdaHostProcess,
    PipelineResources,
    bundle_path,
    pipeline_host_config,
)
from tools.local.moto_server import MotoServer


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


def test_pipeline_host_config_follows_the_env_contract() -> None:
    """pipeline_host_config wires the four bundles with the env vars and triggers of docs/design.md."""
    res = PipelineResources(
        suffix="dev",
        bucket="b",
        table="MarketDataState-dev",
        queue_url="q",
        event_bus="MarketDataEvents-dev",
        s3_shim_queue_url="s3shim",
        rule_shim_queue_url="ruleshim",
        ingestion_failure_queue_url="ingfail",
        api_key="k",
        stage="prod",
    )
    cfg = pipeline_host_config(res, endpoint_url="http://127.0.0.1:1", schedule_every_ms=1000)
    fns = cfg["functions"]
    assert set(fns) == {"DataIngestion-dev", "DataProcessor-dev", "DataAggregator-dev", "DataQuery-dev"}
    assert fns["DataIngestion-dev"]["file"] == str(bundle_path("ingestion"))
    assert fns["DataIngestion-dev"]["env"]["PROCESSING_QUEUE_URL"] == "q"
    assert fns["DataIngestion-dev"]["async"]["onFailureQueueUrl"] == "ingfail"
    assert fns["DataProcessor-dev"]["env"]["EVENT_BUS_NAME"] == "MarketDataEvents-dev"
    assert {f["env"]["POWERTOOLS_SERVICE_NAME"] for f in fns.values()} == {
        "ingestion",
        "processor",
        "aggregator",
        "query",
    }
    kinds = {(s["type"], s["function"]) for s in cfg["eventSources"]}
    assert kinds == {
        ("s3-notification", "DataIngestion-dev"),
        ("sqs", "DataProcessor-dev"),
        ("eventbridge-rule", "DataAggregator-dev"),
        ("schedule", "DataAggregator-dev"),
    }
    assert {(r["method"], r["resource"]) for r in cfg["api"]["routes"]} == {
        ("POST", "/ingest"),
        ("GET", "/symbols/{symbol}/latest"),
        ("GET", "/symbols/{symbol}/ticks"),
        ("GET", "/symbols/{symbol}/aggregates"),
    }
    with pytest.raises(ValueError, match="unknown function 'nope'"):
        bundle_path("nope")
