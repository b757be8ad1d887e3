"""Start and stop the local Lambda host (``lib/lambda/host/lambda-host.mjs``) as a child process.

The host runs the handler bundles in worker processes and emulates the triggers moto cannot run
(see ``lib/lambda/host/README.md`` for the config format). Usage::

    cfg = pipeline_host_config(PipelineResources(...), endpoint_url=moto.endpoint_url)
    with LambdaHostProcess(cfg) as host:
        status, headers, body = host.request("POST", "/ingest", b"[...]", {"x-api-key": key})
        host.stats()["DataProcessor-dev"]["invocations"]
"""

import http.client
import json
import os
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from market_data_pipeline import naming
from market_data_pipeline.api import BINARY_MEDIA_TYPES
from market_data_pipeline.config import validate
from market_data_pipeline.constants import AGGREGATION_BATCH_SIZE, ASYNC_MAX_RETRY_ATTEMPTS, HANDLER_DIRS
from market_data_pipeline.functions import EnvironmentResources, function_environment, function_timeout

from tools.local.child_server import terminate
from tools.local.mocks import ACCOUNT, REGION
from tools.local.moto_server import CREDENTIALS

REPO = Path(__file__).resolve().parents[2]
HOST_SCRIPT = REPO / "lib" / "lambda" / "host" / "lambda-host.mjs"
HANDLERS_DIR = REPO / "sdk" / "python" / "market_data_pipeline" / "handlers"
NODE18 = REPO / "tools" / "node18" / "node_modules" / ".bin" / "node"
NODE22 = REPO / "tools" / "node22" / "node_modules" / ".bin" / "node"
FUNCTIONS: tuple[str, ...] = tuple(HANDLER_DIRS.values())
FUNCTION_OF: dict[str, str] = {handler: function for function, handler in HANDLER_DIRS.items()}
"""Handler (ingestion, ...) -> its function (DataIngestion, ...): `HANDLER_DIRS` read backwards."""


class LambdaHostError(RuntimeError):
    """The host could not be started or answered unexpectedly."""


def bundle_path(fn: str) -> Path:
    """Path of the esbuild bundle of ``fn`` (one of ingestion, processor, aggregator, query)."""
    if fn not in FUNCTIONS:
        raise ValueError(f"unknown function {fn!r}; allowed: {', '.join(FUNCTIONS)}")
    return HANDLERS_DIR / fn / "index.mjs"


PLACEHOLDER_RESOURCES: EnvironmentResources[str] = EnvironmentResources(
    raw_bucket="market-data-local",
    processing_queue_url="http://127.0.0.1:9/123456789012/ProcessingQueue-local",
    state_table="MarketDataState-local",
    event_bus_name="MarketDataEvents-local",
    aggregation_queue_url="http://127.0.0.1:9/123456789012/AggregationQueue-local",
)
"""Resource identities for a bundle started outside a stack (nothing listens at port 9)."""


def bundle_environment(fn: str) -> dict[str, str]:
    """The environment the component gives the function of bundle ``fn`` (ingestion, ...) with its default args,
    naming `PLACEHOLDER_RESOURCES`: what a bundle needs to start outside a stack (it refuses to start without its
    variables), e.g. to import it in a fresh Node process."""
    if fn not in FUNCTION_OF:
        raise ValueError(f"unknown function {fn!r}; allowed: {', '.join(FUNCTIONS)}")
    env: dict[str, str] = function_environment(
        FUNCTION_OF[fn], validate({"environment_suffix": "local"}), PLACEHOLDER_RESOURCES
    )
    return env


@dataclass(frozen=True)
class PipelineResources:
    """Physical names and URLs of the pipeline resources the host wires the four functions to."""

    suffix: str
    bucket: str
    table: str
    queue_url: str
    event_bus: str
    s3_shim_queue_url: str
    aggregation_queue_url: str
    """The aggregation buffer the TicksStored rule targets (R-FN-5): DataAggregator consumes it as an SQS event
    source (batches, partial failures) and sends its deferrals to it (AGGREGATION_QUEUE_URL)."""
    ingestion_failure_queue_url: str | None = None
    aggregator_failure_queue_url: str | None = None
    api_key: str | None = None
    stage: str | None = None


def pipeline_host_config(
    res: PipelineResources,
    *,
    endpoint_url: str,
    args: Mapping[str, Any] | None = None,
    node_binary: str | Path | None = None,
    schedule_every_ms: int | None = 300_000,
    processor_batch_size: int | None = None,
    processor_batching_window_seconds: int | None = None,
    processor_concurrency: int = 2,
    timeouts: dict[str, float] | None = None,
    memory_mb: int | None = None,
    retention_days: int | None = None,
    async_retry_delay_ms: int = 1000,
    echo_logs: bool = False,
    extra_env: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Host config for the four real bundles as the component declares them for `args` (its args without
    `environment_suffix`, which is ``res.suffix``; validated by the component, so a bad one raises its ConfigError).

    The component is the one owner of what this config mirrors: each function's environment
    (`market_data_pipeline.functions.function_environment`), timeout (`function_timeout`) and memory, the event
    sources' batch sizes and windows, and the async retries. The keyword overrides are local changes on top:
    ``processor_batch_size``, ``processor_batching_window_seconds``, ``memory_mb`` and ``retention_days`` stand for
    the args of those names (``memory_mb``: ``lambda_memory_mb``, ``retention_days``: ``data_retention_days``);
    ``timeouts`` maps a function key (ingestion, ...) to a timeout in seconds; ``extra_env`` maps a function key to
    additional environment variables. ``processor_concurrency`` is the host's worker pool of DataProcessor (2 for
    the others). ``schedule_every_ms=None`` turns the emulated schedule off (tests then invoke it explicitly).
    """
    if not res.suffix:
        raise ValueError("suffix must not be empty")
    overrides = {
        "processor_batch_size": processor_batch_size,
        "processor_batching_window_seconds": processor_batching_window_seconds,
        "lambda_memory_mb": memory_mb,
        "data_retention_days": retention_days,
    }
    pipeline = validate(
        {
            **(args or {}),
            "environment_suffix": res.suffix,
            **{k: v for k, v in overrides.items() if v is not None},
        }
    )
    env_resources = EnvironmentResources(
        raw_bucket=res.bucket,
        processing_queue_url=res.queue_url,
        state_table=res.table,
        event_bus_name=res.event_bus,
        aggregation_queue_url=res.aggregation_queue_url,
    )
    names = {handler: naming.function_name(fn, res.suffix) for fn, handler in HANDLER_DIRS.items()}
    unknown = sorted(set(timeouts or {}) - set(names))
    if unknown:
        raise ValueError(f"timeouts for unknown functions {unknown}; allowed: {', '.join(names)}")
    functions: dict[str, Any] = {}
    for fn, key in HANDLER_DIRS.items():
        functions[names[key]] = {
            "file": str(bundle_path(key)),
            "timeout": (timeouts or {}).get(key, function_timeout(fn, pipeline)),
            "memory": pipeline.lambda_memory_mb,
            "concurrency": processor_concurrency if key == "processor" else 2,
            "env": {**function_environment(fn, pipeline, env_resources), **(extra_env or {}).get(key, {})},
            "async": {"maximumRetryAttempts": ASYNC_MAX_RETRY_ATTEMPTS, "retryDelayMs": async_retry_delay_ms},
        }
    functions[names["ingestion"]]["async"]["onFailureQueueUrl"] = res.ingestion_failure_queue_url
    functions[names["aggregator"]]["async"]["onFailureQueueUrl"] = res.aggregator_failure_queue_url
    sources: list[dict[str, Any]] = [
        {"type": "s3-notification", "queueUrl": res.s3_shim_queue_url, "function": names["ingestion"]},
        {
            "type": "sqs",
            "queueUrl": res.queue_url,
            "function": names["processor"],
            "batchSize": pipeline.processor_batch_size,
            "maximumBatchingWindowSeconds": pipeline.processor_batching_window_seconds,
            "reportBatchItemFailures": True,
        },
        {
            "type": "sqs",
            "queueUrl": res.aggregation_queue_url,
            "function": names["aggregator"],
            "batchSize": AGGREGATION_BATCH_SIZE,
            "maximumBatchingWindowSeconds": pipeline.aggregation_batching_window_seconds,
            "reportBatchItemFailures": True,
        },
    ]
    if schedule_every_ms is not None:
        sources.append(
            {
                "type": "schedule",
                "everyMs": schedule_every_ms,
                "function": names["aggregator"],
                "ruleName": f"AggregationSchedule-{res.suffix}",
            }
        )
    q = names["query"]
    cfg: dict[str, Any] = {
        "endpointUrl": endpoint_url,
        "echoLogs": echo_logs,
        "functions": functions,
        "eventSources": sources,
        "api": {
            "apiKey": res.api_key,
            "stage": res.stage,
            "binaryMediaTypes": list(BINARY_MEDIA_TYPES),  # the component's: gzip bodies arrive base64
            "routes": [
                {"method": "POST", "resource": "/ingest", "function": names["ingestion"]},
                {"method": "GET", "resource": "/symbols/{symbol}/latest", "function": q},
                {"method": "GET", "resource": "/symbols/{symbol}/ticks", "function": q},
                {"method": "GET", "resource": "/symbols/{symbol}/aggregates", "function": q},
            ],
        },
    }
    if node_binary is not None:
        cfg["nodeBinary"] = str(node_binary)
    return cfg


def scheduled_event(event_id: str = "local") -> dict[str, Any]:
    """The event an EventBridge schedule rule delivers ("Scheduled Event" from aws.events), to invoke a function
    as its schedule would."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-01-01T00:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {},
    }


HOST_CALLER = "host"
"""Key of the proxy that records the host's own AWS calls (event-source polling, on-failure destinations, shims)."""


def record_calls(config: dict[str, Any], upstream: str) -> dict[str, Any]:
    """Put a counting proxy (``tools/local/proxy.py``) in front of ``upstream`` for each function of a host config and
    one for the host itself, and point the config at them (each function's ``AWS_ENDPOINT_URL``, the host's
    ``endpointUrl``), in place. Returns the started proxies keyed by function name and ``HOST_CALLER``; the
    caller stops them (``proxy.stop()``).

    Environment values that are URLs on ``upstream`` (queue URLs) are moved to the function's proxy too: the SQS
    client of AWS SDK v3 sends each request to its QueueUrl's host unless a client ``endpoint`` is set
    (``useQueueUrlAsEndpoint``, @aws-sdk/middleware-sdk-sqs), so ``AWS_ENDPOINT_URL`` alone would not catch them.
    """
    from tools.local.proxy import CountingProxy

    origin = upstream.rstrip("/")
    proxies: dict[str, Any] = {}
    try:
        for name, fn in config["functions"].items():
            proxies[name] = CountingProxy(name, upstream).start()
            env = {
                k: proxies[name].url + v[len(origin) :]
                if isinstance(v, str) and v.startswith(origin + "/")
                else v
                for k, v in fn.get("env", {}).items()
            }
            fn["env"] = {**env, "AWS_ENDPOINT_URL": proxies[name].url}
        proxies[HOST_CALLER] = CountingProxy(HOST_CALLER, upstream).start()
    except BaseException:
        for pr in proxies.values():
            pr.stop()
        raise
    config["endpointUrl"] = proxies[HOST_CALLER].url
    return proxies


class LambdaHostProcess:
    """The Node host as a child process: ``start()`` waits until it listens, ``stop()`` ends it by PID."""

    def __init__(
        self,
        config: dict[str, Any],
        *,
        node: str | Path = "node",
        log_path: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """``node`` runs the host itself (workers use ``config['nodeBinary']``); output goes to ``log_path``."""
        self.config = config
        self.node = str(node)
        self.env = env
        self._tmp = tempfile.TemporaryDirectory(prefix="lambda-host-")
        self.log_path = log_path or Path(self._tmp.name) / "host.log"
        self.port = 0
        self.pid: int | None = None
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None

    def start(self, timeout: float = 30.0) -> "LambdaHostProcess":
        """Write the config, spawn the host and wait (bounded) for its ready file."""
        tmp = Path(self._tmp.name)
        cfg_path, ready = tmp / "host.config.json", tmp / "ready.json"
        cfg_path.write_text(json.dumps(self.config, indent=1))
        env = {k: v for k, v in os.environ.items() if k != "AWS_EXECUTION_ENV"}
        env.setdefault("NODE_NO_WARNINGS", "1")
        env.update(self.env or {})
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [self.node, str(HOST_SCRIPT), str(cfg_path), "--ready-file", str(ready)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(REPO),
                start_new_session=True,
            )
        self.pid = self._proc.pid
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if self._proc.poll() is not None:
                self.returncode = self._proc.returncode
                raise LambdaHostError(
                    f"lambda host exited with {self._proc.returncode}: {self.host_log()[-3000:]}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise LambdaHostError(
                    f"lambda host not ready within {timeout:.0f}s: {self.host_log()[-3000:]}"
                )
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        self.port = int(info["port"])
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def alive(self) -> bool:
        """True while the host process runs."""
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the host by PID (it kills its workers and exits 0); SIGKILL if it does not. Returns the exit code."""
        proc, self._proc = self._proc, None
        if proc is not None:
            self.returncode = terminate(proc, timeout)
        return self.returncode

    def close(self) -> None:
        """Stop and remove the temporary directory (the log too, unless ``log_path`` was given)."""
        self.stop()
        self._tmp.cleanup()

    def host_log(self) -> str:
        """Everything the host printed so far (host messages and, with echoLogs, worker lines)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 120.0,
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request to the host; returns (status, lower-cased headers, body)."""
        if not self.url:
            raise LambdaHostError("host not started")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = body.encode() if isinstance(body, str) else body
            conn.request(method, path, body=data, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def get_json(self, path: str) -> Any:
        """GET ``path`` and decode the JSON answer (raises on a non-200 status)."""
        status, _h, body = self.request("GET", path)
        if status != 200:
            raise LambdaHostError(f"GET {path} -> {status}: {body[:500]!r}")
        return json.loads(body)

    def stats(self) -> dict[str, Any]:
        """``GET /_host/stats``: invocations, errors, timeouts, cold starts and durations per function."""
        result: dict[str, Any] = self.get_json("/_host/stats")
        return result

    def logs_since(self, name: str, since: int = 0) -> tuple[list[str], int]:
        """The worker output lines (stdout and stderr) of function ``name`` the host kept after sequence number
        ``since``, and the next sequence number (``GET /_host/logs``)."""
        data = self.get_json(f"/_host/logs?function={urllib.parse.quote(name)}&since={since}")
        return [str(entry["line"]) for entry in data["lines"]], int(data["next"])

    def function_logs(self, name: str, since: int = 0) -> list[str]:
        """The worker output lines of function ``name`` after ``since`` (`logs_since` without the next number)."""
        return self.logs_since(name, since)[0]

    def lambda_client(self) -> Any:
        """A boto3 Lambda client speaking the Invoke API to this host."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "lambda",
            endpoint_url=self.url,
            region_name=REGION,
            config=Config(retries={"max_attempts": 1}, read_timeout=900),
            **CREDENTIALS,
        )

    def __enter__(self) -> "LambdaHostProcess":
        """Start on entering the context."""
        return self.start() if not self.url else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop and clean up on leaving the context."""
        self.close()
