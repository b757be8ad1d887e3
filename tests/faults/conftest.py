"""The fault-test stack (issue 5): moto + the component's resources + the fault proxy + the local Lambda host.

    moto (child process) <- fault proxy (child process) <- host workers and pollers (every AWS call)
                         <- this test process (uploads, checks: straight to moto, never faulted)

The stack is started by `tools.local.stack.LocalStack` and deployed from the component itself (tools/local/deploy.py);
its `front` option starts the fault proxy and points the host config at it (every moto URL in it: endpoint, queue
URLs), and its `prepare` hook makes DataProcessor run the real bundle through
`fixtures/crashing_processor.mjs` (a pass-through until a scenario writes a crash plan). Every scenario uses symbols
of its own, so the checks of one never see the data of another.

Each scenario records one `ScenarioResult`; the lines `<scenario>: injected=<n> survived=<n> lost=<n> duplicated=<n>`
and a summary table are printed at the end of the session (pytest_terminal_summary).
"""

import json
import math
import os
import random
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.stack_helpers import assert_stopped
from tests.stack_helpers import wait_for as wait_for  # re-exported: the scenarios import it from here
from tools.local import datagen
from tools.local.client import AGGREGATE_FIELDS, StackClient
from tools.local.fault_proxy import FaultProxyProcess
from tools.local.host import LambdaHostProcess, bundle_path
from tools.local.moto_server import MotoServer
from tools.local.stack import LocalStack

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SUFFIX = "flt"
STACK_ARGS: dict[str, Any] = {"queue_visibility_timeout_seconds": 300, "max_receive_count": 4}
"""Component args of the fault stack: DataProcessor timeout = min(50, 300 // 6) = 50 s (R-FN-6), redrive after 4
receives."""
SESSION_VISIBILITY_S = 60
"""Local acceleration: the ProcessingQueue's visibility timeout during the session (a batch whose invocation failed
returns after 60 s instead of 300 s); scenarios that need fast redelivery lower it further for their duration."""
SCHEDULE_EVERY_MS = 10_000
"""The emulated aggregation schedule, accelerated (the catch-up path for lost events)."""


@dataclass
class ScenarioResult:
    """One scenario's figures (one printed line, one table row)."""

    name: str
    injected: int
    survived: int
    lost: int
    duplicated: int
    seconds: float
    detail: str = ""

    def line(self) -> str:
        """The line the issue asks for."""
        return (
            f"{self.name}: injected={self.injected} survived={self.survived} "
            f"lost={self.lost} duplicated={self.duplicated}"
        )


RESULTS: list[ScenarioResult] = []


def record(result: ScenarioResult) -> None:
    """Keep a scenario's result for the summary and print its line now (visible with -s or on failure)."""
    RESULTS.append(result)
    print(result.line(), f"({result.seconds:.1f}s; {result.detail})" if result.detail else "", flush=True)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print every scenario line and the summary table."""
    if not RESULTS:
        return
    tr = terminalreporter
    tr.section("fault scenarios (tests/faults)")
    for r in RESULTS:
        tr.write_line(r.line())
    rows = [("scenario", "injected", "survived", "lost", "duplicated", "seconds", "detail")]
    rows += [
        (
            r.name,
            str(r.injected),
            str(r.survived),
            str(r.lost),
            str(r.duplicated),
            f"{r.seconds:.1f}",
            r.detail,
        )
        for r in RESULTS
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    tr.write_line("")
    for n, row in enumerate(rows):
        tr.write_line(
            "  ".join(
                c.ljust(w) if i in (0, 6) else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            tr.write_line("  ".join("-" * w for w in widths))


_PATTERN = re.compile(r'^\{\s*\$\.([A-Za-z0-9_.]+)\s*(=|!=)\s*("?)([^"]*)\3\s*\}$')


def metric_filter_matches(pattern: str, line: str) -> bool:
    """CloudWatch Logs JSON filter semantics for the `{ $.field = "value" }` / `!=` form used by the component.

    A line that is not a JSON object never matches (as in CloudWatch). Other pattern forms raise, naming the pattern.
    """
    m = _PATTERN.match(pattern.strip())
    if not m:
        raise ValueError(
            f'metric filter pattern {pattern!r}: only {{ $.field = "value" }} / != is evaluated here'
        )
    path, op, _q, value = m.groups()
    try:
        obj: Any = json.loads(line)
    except ValueError:
        return False
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return False
        obj = obj[part]
    got = obj if isinstance(obj, str) else json.dumps(obj)
    return (got == value) if op == "=" else (got != value)


@dataclass
class Verdict:
    """Stored state of some symbols compared with what was sent."""

    expected: int
    stored_items: int
    lost: list[tuple[str, int]] = field(default_factory=list)
    duplicated: int = 0
    unexpected: list[str] = field(default_factory=list)
    aggregate_problems: list[str] = field(default_factory=list)

    @property
    def survived(self) -> int:
        """Expected ticks stored (exactly)."""
        return self.expected - len(self.lost)

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing doubled, every aggregate equal to the reference."""
        return not self.lost and not self.duplicated and not self.unexpected and not self.aggregate_problems

    def summary(self) -> str:
        """A short description of what is wrong (for failure messages)."""
        return (
            f"expected {self.expected} ticks, {self.stored_items} items stored; lost {len(self.lost)} "
            f"{self.lost[:5]}; duplicated {self.duplicated}; unexpected {self.unexpected[:5]}; "
            f"aggregate problems {len(self.aggregate_problems)}: {self.aggregate_problems[:8]}"
        )


def record_verdict(name: str, injected: int, verdict: Verdict, seconds: float, detail: str = "") -> None:
    """`record` a scenario whose survived/lost/duplicated figures are those of its final verdict."""
    record(
        ScenarioResult(
            name, injected, verdict.survived, len(verdict.lost), verdict.duplicated, seconds, detail
        )
    )


class FaultStack(StackClient):
    """Handles to the running fault stack; it reads moto directly (never through the proxy), as every
    `StackClient` does."""

    def __init__(
        self,
        moto: MotoServer,
        proxy: FaultProxyProcess,
        host: LambdaHostProcess,
        outputs: dict[str, str],
        api_key: str,
        crash_dir: Path,
    ) -> None:
        """Wrap the started processes."""
        super().__init__(outputs, host, api_key)
        self.moto, self.proxy, self.crash_dir = moto, proxy, crash_dir
        self.logs = moto.client("logs")

    # -- sending ------------------------------------------------------------------------------------------------
    def post_ingest(self, body: bytes, content_type: str, attempts: int = 8) -> tuple[int, dict[str, Any]]:
        """POST /ingest like a well-behaved client: retried (bounded, backoff) while the answer is 5xx."""
        status, answer = 0, b""
        for attempt in range(attempts):
            status, _h, answer = self.api("POST", "/ingest", body, {"content-type": content_type})
            if status < 500:
                break
            time.sleep(min(2.0, 0.1 * 2**attempt))
        return status, (
            json.loads(answer) if answer[:1] in (b"{", b"[") else {"raw": answer.decode(errors="replace")}
        )

    def upload(self, key: str, body: bytes) -> None:
        """PutObject straight into moto (the bucket notifies the host's shim queue)."""
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)

    def log_seq(self, function: str) -> int:
        """The current end of a function's log (to count lines logged after it)."""
        return int(self.host.logs_since(function)[1])

    def error_filter_pattern(self, function: str) -> str:
        """The error metric filter pattern deployed on the function's log group (R-MON-2)."""
        filters = self.logs.describe_metric_filters(logGroupName=f"/aws/lambda/{function}")["metricFilters"]
        patterns = [
            f["filterPattern"] for f in filters if "rror" in f["filterName"] or "rror" in json.dumps(f)
        ]
        assert patterns, f"no error metric filter on /aws/lambda/{function}: {filters}"
        return str(patterns[0])

    def errors_logged(self, function: str, since: int) -> int:
        """Lines logged since `since` that the deployed error metric filter counts (same pattern semantics)."""
        pattern = self.error_filter_pattern(function)
        lines, _next = self.host.logs_since(function, since)
        return sum(1 for line in lines if metric_filter_matches(pattern, line))

    @contextmanager
    def visibility(self, seconds: int) -> Iterator[None]:
        """Lower the ProcessingQueue visibility timeout for a scenario (a failed message then returns in seconds,
        not minutes: the local acceleration the integration suite also uses), restored afterwards."""
        q = self.outputs["QueueUrl"]
        old = self.sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["VisibilityTimeout"])["Attributes"]
        self.sqs.set_queue_attributes(QueueUrl=q, Attributes={"VisibilityTimeout": str(seconds)})
        try:
            yield
        finally:
            self.sqs.set_queue_attributes(
                QueueUrl=q, Attributes={"VisibilityTimeout": old["VisibilityTimeout"]}
            )

    def max_receive_count(self) -> int:
        """maxReceiveCount of the ProcessingQueue's redrive policy."""
        a = self.sqs.get_queue_attributes(QueueUrl=self.outputs["QueueUrl"], AttributeNames=["RedrivePolicy"])
        return int(json.loads(a["Attributes"]["RedrivePolicy"])["maxReceiveCount"])

    # -- verdicts -----------------------------------------------------------------------------------------------
    def verdict(self, ticks: Sequence[datagen.Tick]) -> Verdict:
        """Stored tick items and aggregates of the ticks' symbols vs the ticks (independent reference)."""
        want: dict[tuple[str, int, float, float], datagen.Tick] = {
            (t.symbol, t.ts, round(t.price, 6), float(t.volume)): t for t in ticks
        }
        symbols = sorted({t.symbol for t in ticks})
        seen: dict[tuple[str, int, float, float], int] = {}
        v = Verdict(expected=len(want), stored_items=0)
        for sym in symbols:
            for item in self.query(sym):
                v.stored_items += 1
                k = (
                    sym,
                    int(item["ts"]["N"]),
                    round(float(Decimal(item["price"]["N"])), 6),
                    float(Decimal(item["volume"]["N"])),
                )
                seen[k] = seen.get(k, 0) + 1
                if k not in want:
                    v.unexpected.append(f"{k}")
        v.lost = sorted((k[0], k[1]) for k in want if k not in seen)
        v.duplicated = sum(n - 1 for n in seen.values() if n > 1) + len(v.unexpected)
        ref = datagen.reference_aggregates(ticks)
        got: dict[tuple[str, str, int], dict[str, float | None]] = {}
        for sym in symbols:
            for interval in datagen.INTERVALS_MS:
                for start, stored in self.aggregates(sym, interval).items():
                    got[(sym, interval, start)] = stored
        for key, a in sorted(ref.items()):
            row = got.get(key)
            if row is None:
                v.aggregate_problems.append(f"{key}: missing")
                continue
            for f in AGGREGATE_FIELDS:
                exp = getattr(a, f)
                g = row[f]
                same = (exp is None and g is None) or (
                    exp is not None
                    and g is not None
                    and math.isclose(g, float(exp), rel_tol=1e-9, abs_tol=1e-9)
                )
                if not same:
                    v.aggregate_problems.append(f"{key}: {f} {g} != {exp}")
        v.aggregate_problems += [f"{k}: unexpected window" for k in sorted(set(got) - set(ref))]
        return v

    def settle(self, ticks: Sequence[datagen.Tick], timeout: float) -> Verdict:
        """Wait (bounded) until the stored ticks and aggregates equal the reference and the queue is empty.

        Returns the last verdict either way; the caller asserts on it (so a failure shows what differed)."""
        deadline = time.monotonic() + timeout
        symbols = sorted({t.symbol for t in ticks})
        v = Verdict(expected=len(ticks), stored_items=0)
        for _ in range(int(timeout) * 2 + 2):
            stored = sum(self.count(s) for s in symbols)
            if stored >= len(ticks) and self.depth(self.outputs["QueueUrl"]) == 0:
                v = self.verdict(ticks)
                if v.ok:
                    return v
                time.sleep(1.5)  # a full verdict is costly: look less often while aggregates settle
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        return self.verdict(ticks)

    def crash_plan(self, plan_id: str, crashes: Sequence[Mapping[str, Any]]) -> None:
        """Arm crashes of the processor wrapper (fixtures/crashing_processor.mjs)."""
        tmp = self.crash_dir / "plan.json.tmp"
        tmp.write_text(json.dumps({"id": plan_id, "crashes": list(crashes)}))
        os.replace(tmp, self.crash_dir / "plan.json")

    def crashes_done(self, plan_id: str) -> list[dict[str, Any]]:
        """The crash records the wrapper wrote for a plan."""
        return [json.loads(p.read_text()) for p in sorted(self.crash_dir.glob(f"crash-{plan_id}-*.json"))]

    def disarm(self) -> None:
        """Remove the crash plan."""
        (self.crash_dir / "plan.json").unlink(missing_ok=True)


def send_dataset(
    stack: FaultStack, ds: datagen.Dataset, copies: int = 1, shuffle_seed: int | None = None
) -> dict[str, int]:
    """Upload every file and POST every batch `copies` times (file copies 2.. under the same key AND under a copy
    key), optionally in a seeded shuffled order. Returns counts; every API answer must be 202."""
    sends: list[tuple[str, Any]] = []
    for c in range(copies):
        for f in ds.files:
            key = f.key if c % 2 == 0 else f.key.replace("incoming/", f"incoming/copy{c}/")
            sends.append(("file", (key, f.body)))
        for b in ds.batches:
            sends.append(("api", b))
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(sends)
    counts = {"files": 0, "batches": 0, "accepted": 0, "rejected": 0}
    for kind, what in sends:
        if kind == "file":
            stack.upload(*what)
            counts["files"] += 1
        else:
            status, answer = stack.post_ingest(what.body, what.content_type)
            assert status == 202, f"POST /ingest answered {status}: {answer}"
            counts["batches"] += 1
            counts["accepted"] += int(answer["accepted"])
            counts["rejected"] += len(answer.get("rejected", []))
    return counts


@pytest.fixture(scope="session")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    """moto + deployed component + fault proxy + host (workers on Node 18), started by `LocalStack` and stopped by
    PID at the end."""
    work = tmp_path_factory.mktemp("fault-stack")
    crash_dir = work / "crash"
    crash_dir.mkdir()

    def prepare(stack: LocalStack, cfg: dict[str, Any]) -> None:
        """The session's visibility timeout, and DataProcessor behind the crashing wrapper."""
        assert stack.deployment is not None
        d = stack.deployment
        stack.moto.client("sqs").set_queue_attributes(
            QueueUrl=d.outputs["QueueUrl"], Attributes={"VisibilityTimeout": str(SESSION_VISIBILITY_S)}
        )
        fn = cfg["functions"][d.outputs["ProcessorFunctionName"]]
        fn["file"] = str(FIXTURES / "crashing_processor.mjs")
        # FAULTS_PROCESSOR_BUNDLE runs the scenarios against another processor bundle (e.g. one built with a
        # protection removed, to see a scenario fail); default: the shipped bundle
        real = os.environ.get("FAULTS_PROCESSOR_BUNDLE") or str(bundle_path("processor"))
        fn["env"] = {**fn["env"], "FAULT_REAL_HANDLER": real, "FAULT_CRASH_DIR": str(crash_dir)}

    stack = LocalStack(
        work,
        suffix=SUFFIX,
        extra_args=STACK_ARGS,
        schedule_every_ms=SCHEDULE_EVERY_MS,
        echo_logs=True,  # worker lines in host.log (diagnostics of a failed run)
        # every AWS call of the workers and the pollers goes through the fault proxy
        front=lambda upstream: FaultProxyProcess(upstream, [], seed=0).start(),
        prepare=prepare,
    )
    try:
        stack.start()
        assert stack.deployment is not None
        api_key = stack.deployment.api_key_value
        assert api_key, "the component made no API key (the abuse scenario needs one)"
        yield FaultStack(stack.moto, stack.front, stack.host, stack.outputs, api_key, crash_dir)
    finally:
        stack.stop()
        assert_stopped(stack.started_pids, "the fault stack")
