"""The Pulumi mocks the local tools record the component with (and the tests run it under).

A fresh event loop and fresh mocks per run (safe under hypothesis). `AwsMocks` fabricates the computed attributes real AWS would return (arn, name, url, ...), so that
inputs derived from them are recorded with values, and returns resource references for the
outputs of the remote `aws-apigateway:index:RestAPI` component.

Self-contained on purpose (imports pulumi only): tests/package/installs.py copies this file into a fresh venv.
"""

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

ACCOUNT = "123456789012"
REGION = "us-east-1"
_SIG, _RES = "4dabf18193072939515e22adb298388d", "5cf8f73096256a8f31e491e813e4eb8e"


def unsecret(value: Any) -> Any:
    """Recursively unwrap Pulumi secret envelopes from recorded inputs."""
    if isinstance(value, dict):
        if value.get(_SIG) == "1b47061264138c4ac30d75fd1eb44270":
            return unsecret(value.get("value"))
        return {k: unsecret(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unsecret(v) for v in value]
    return value


class _RecordingMonitor(MockMonitor):
    """A mock monitor that also records each registration's explicit dependencies (depends_on)."""

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        if isinstance(self.mocks, AwsMocks):
            deps = [str(u).rsplit("::", 1)[-1] for u in request.dependencies]
            self.mocks.dependencies[request.name] = deps
            self.mocks.options[request.name] = {
                "protect": bool(request.protect),
                "retain_on_delete": bool(request.retainOnDelete),
            }
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        if isinstance(self.mocks, AwsMocks):
            name = str(request.urn).rsplit("::", 1)[-1]
            self.mocks.registered_outputs[name] = unsecret(rpc.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


class AwsMocks(pulumi.runtime.Mocks):
    """Records every registered resource and fabricates AWS-like outputs."""

    def __init__(self) -> None:
        self.created: list[pulumi.runtime.MockResourceArgs] = []
        self.dependencies: dict[str, list[str]] = {}
        """Logical name -> logical names of the resources it depends on (explicit and through inputs)."""
        self.options: dict[str, dict[str, bool]] = {}
        """Logical name -> resource options the engine would see (protect, retain_on_delete)."""
        self.registered_outputs: dict[str, dict[str, Any]] = {}
        """Logical name -> the outputs a component passed to `register_outputs` (resolved values)."""
        self.monitor = _RecordingMonitor(self)

    def _ref(self, typ: str, name: str, id_: str, state: dict[str, Any]) -> dict[str, Any]:
        urn = f"urn:pulumi:test::proj::{typ}::{name}"
        self.monitor.resources[urn] = MockMonitor.ResourceRegistration(urn, id_, state)
        return {_SIG: _RES, "urn": urn, "id": id_, "packageVersion": ""}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.created.append(args)
        outs: dict[str, Any] = dict(args.inputs)
        typ = args.typ
        if typ == "aws-apigateway:index:RestAPI":
            stage = args.inputs.get("stageName", "stage")
            outs["url"] = f"https://abc123.execute-api.{REGION}.amazonaws.com/{stage}/"
            outs["api"] = self._ref(
                "aws:apigateway/restApi:RestApi",
                args.name,
                "abc123",
                {"rootResourceId": "root", "executionArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:abc123"},
            )
            outs["stage"] = self._ref(
                "aws:apigateway/stage:Stage",
                args.name,
                f"ags-abc123-{stage}",
                {
                    "stageName": stage,
                    "restApi": "abc123",
                    "arn": f"arn:aws:apigateway:{REGION}::/restapis/abc123/stages/{stage}",
                },
            )
            return f"{args.name}-id", outs
        if not args.custom or typ.startswith("pulumi:providers:"):
            return f"{args.name}-id", outs
        svc = typ.split(":")[1].split("/")[0]
        name = args.inputs.get("name") or args.name
        outs.setdefault("name", name)
        arn = f"arn:aws:{svc}:{REGION}:{ACCOUNT}:{name}"
        rid = f"{args.name}-id"
        if typ == "aws:lambda/function:Function":
            arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
            outs["invokeArn"] = (
                f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations"
            )
        elif typ == "aws:sqs/queue:Queue":
            arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
            outs["url"] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
            rid = outs["url"]
        elif typ == "aws:s3/bucket:Bucket":
            bucket = args.inputs.get("bucket") or f"{args.inputs.get('bucketPrefix', args.name)}abc123"
            outs["bucket"] = bucket
            arn = f"arn:aws:s3:::{bucket}"
            rid = bucket
        elif typ == "aws:dynamodb/table:Table":
            arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        elif typ == "aws:iam/role:Role":
            arn = f"arn:aws:iam::{ACCOUNT}:role/{name}"
        elif typ == "aws:iam/policy:Policy":
            arn = f"arn:aws:iam::{ACCOUNT}:policy/{name}"
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}"
        elif typ == "aws:cloudwatch/eventBus:EventBus":
            arn = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}"
        elif typ == "aws:cloudwatch/eventRule:EventRule":
            bus = args.inputs.get("eventBusName")
            arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/" + (
                f"{bus}/{name}" if bus and bus != "default" else name
            )
        elif typ == "aws:sns/topic:Topic":
            arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}"
        elif typ == "aws:apigateway/apiKey:ApiKey":
            outs.setdefault("value", "test-api-key-value")
            rid = "key123"
        outs.setdefault("arn", arn)
        return rid, outs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/t", "userId": "x"}, []
        if args.token in ("aws:index/getRegion:getRegion", "aws:index/region:getRegion"):
            return {"name": REGION, "region": REGION, "id": REGION}, []
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        return {}, []

    # Convenience queries over what was recorded.
    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        """All recorded resources of a Pulumi type token."""
        return [a for a in self.created if a.typ == typ]

    def one(self, typ: str, name_contains: str = "") -> pulumi.runtime.MockResourceArgs:
        """The single recorded resource of a type (whose logical name contains a string)."""
        found = [a for a in self.of_type(typ) if name_contains in a.name]
        assert len(found) == 1, f"expected one {typ} with {name_contains!r}, got {[a.name for a in found]}"
        return found[0]

    def inputs(self, a: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
        """A recorded resource's inputs with secrets unwrapped."""
        return unsecret(dict(a.inputs))  # type: ignore[no-any-return]


class _ThreadLoops:
    """The event loops of the threads a mocked Pulumi run makes its monitor calls on, all closed after the run.

    Pulumi makes each monitor call in a thread of the running loop's default executor, and `MockMonitor` gives that
    thread an event loop of its own (`_ensure_event_loop`, pulumi/pulumi#6479) that nobody closes; a call that
    awaits on that loop (`_sync_await`) makes further calls in ITS default executor, whose threads get loops too.
    Each loop holds an epoll fd and a socket pair until the cyclic GC finds it: ~20 fds a run, past the 1,024 that
    select() takes after a few hundred runs in one process. Here every executor's threads get their loop (with a
    default executor made here) up front, so that `close` can shut them all down and close the loops.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executors: list[ThreadPoolExecutor] = []
        self._loops: list[asyncio.AbstractEventLoop] = []

    def executor(self) -> ThreadPoolExecutor:
        """A thread pool whose threads each get an event loop of their own, closed by `close`."""
        pool = ThreadPoolExecutor(thread_name_prefix="run_pulumi", initializer=self._give_thread_a_loop)
        with self._lock:
            self._executors.append(pool)
        return pool

    def _give_thread_a_loop(self) -> None:
        loop = asyncio.new_event_loop()
        loop.set_default_executor(self.executor())
        asyncio.set_event_loop(loop)
        with self._lock:
            self._loops.append(loop)

    def close(self) -> None:
        """Shut the pools down (outermost first: an outer call may still wait on an inner pool) and close the loops.

        Bounded: Pulumi awaits every monitor call it made before the run returns, even when the program raised
        (`run_pulumi_func` -> `wait_for_rpcs`), and the mock calls themselves block on nothing.
        """
        done = 0
        while True:
            with self._lock:
                if done == len(self._executors):
                    break
                pool = self._executors[done]
            pool.shutdown(wait=True, cancel_futures=True)
            done += 1
        for loop in self._loops:
            loop.close()


def run_pulumi(
    build: Callable[[], Any], mocks: AwsMocks | None = None, preview: bool = False
) -> tuple[AwsMocks, Any]:
    """Run `build` as a Pulumi program under fresh mocks and a fresh event loop.

    Every event loop and worker thread of the run is closed before it returns (no fd left open: `_ThreadLoops`).

    Returns the mocks (with every registered resource) and the resolved value of what `build` returned.
    """
    mocks = mocks or AwsMocks()
    loop = asyncio.new_event_loop()
    thread_loops = _ThreadLoops()
    loop.set_default_executor(thread_loops.executor())
    asyncio.set_event_loop(loop)
    out: dict[str, Any] = {}
    try:
        pulumi.runtime.set_mocks(mocks, project="proj", stack="test", preview=preview, monitor=mocks.monitor)

        @pulumi.runtime.test  # type: ignore[misc]
        def _go() -> Any:
            res = build()
            if res is not None:
                return pulumi.Output.from_input(res).apply(lambda v: out.update(value=v))
            return None

        _go()
    finally:
        thread_loops.close()
        loop.close()
        asyncio.set_event_loop(None)
    return mocks, out.get("value")
