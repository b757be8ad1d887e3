"""R-PKG-8: the plugin serves Construct over gRPC with the engine's protocol, as `pulumi up` of a TypeScript/Go/YAML
program drives it. No mocks inside the plugin process: it is started the engine's way (`python provider <engine>`),
and this test plays the engine and the resource monitor over gRPC. The monitor's answers (fabricated AWS outputs)
come from the same `AwsMocks` the in-process tests use, served over the wire; the plugin cannot tell them from the
CLI's.
"""

import asyncio
import contextvars
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pulumi
import pytest
from google.protobuf import empty_pb2, struct_pb2
from market_data_pipeline.constants import COMPONENT_TOKEN
from pulumi.runtime.proto import (
    engine_pb2,
    engine_pb2_grpc,
    provider_pb2,
    provider_pb2_grpc,
    resource_pb2_grpc,
)
from pulumi.runtime.proto import resource_pb2 as rpb

from tests.harness import AwsMocks, _RecordingMonitor
from tests.package.test_plugin import PROVIDER_DIR, _read_port

STACK, PROJECT = "grpc", "consumer"


class _Monitor(_RecordingMonitor):
    """AwsMocks' recording monitor with URNs of this stack (no Pulumi settings needed in the test process)."""

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        if parent:
            type_ = parent.split("::")[2].split("$").pop() + "$" + type_
        return f"urn:pulumi:{STACK}::{PROJECT}::{type_}::{name}"


class MonitorServicer(resource_pb2_grpc.ResourceMonitorServicer):
    """The resource monitor over gRPC: each call goes to the recording monitor, run in the context where this
    process's Pulumi settings point at it (gRPC threads do not inherit it; other tests set their own)."""

    def __init__(self, monitor: _Monitor, context: contextvars.Context) -> None:
        self._monitor: Any = monitor  # MockMonitor's methods are untyped
        self._context = context

    def _call(self, method: str, request: Any) -> Any:
        return self._context.copy().run(getattr(self._monitor, method), request)

    def SupportsFeature(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC names)
        return rpb.SupportsFeatureResponse(hasSupport=self._call("SupportsFeature", request).hasSupport)

    def GetDeploymentInfo(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._call("GetDeploymentInfo", request)

    def RegisterResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._call("RegisterResource", request)

    def RegisterResourceOutputs(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._call("RegisterResourceOutputs", request)

    def Invoke(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._call("Invoke", request)

    def RegisterPackage(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._call("RegisterPackage", request)

    def RegisterStackTransform(self, request: Any, context: Any) -> Any:  # noqa: N802
        return empty_pb2.Empty()

    def SignalAndWaitForShutdown(self, request: Any, context: Any) -> Any:  # noqa: N802
        return empty_pb2.Empty()


class EngineServicer(engine_pb2_grpc.EngineServicer):
    """The engine's log service: keeps what the plugin logs (warnings reach the user through it)."""

    def __init__(self) -> None:
        self.logs: list[tuple[int, str]] = []

    def Log(self, request: Any, context: Any) -> Any:  # noqa: N802
        self.logs.append((request.severity, request.message))
        return empty_pb2.Empty()

    def GetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        return engine_pb2.GetRootResourceResponse(urn="")

    def SetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        return engine_pb2.SetRootResourceResponse()


@pytest.fixture
def engine() -> Iterator[tuple[str, AwsMocks, EngineServicer]]:
    """A gRPC server on 127.0.0.1 playing engine and monitor; stopped afterwards."""
    mocks = AwsMocks()
    monitor = _Monitor(mocks)
    mocks.monitor = monitor
    # This process decodes what the plugin sends (resource references are rehydrated through a monitor): point
    # its own Pulumi runtime at the same monitor. The plugin process knows nothing of it.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=STACK, preview=False, monitor=monitor)
    log = EngineServicer()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(
        MonitorServicer(monitor, contextvars.copy_context()), server
    )
    engine_pb2_grpc.add_EngineServicer_to_server(log, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", mocks, log
    finally:
        server.stop(grace=None)
        loop.close()
        asyncio.set_event_loop(None)


def test_r_pkg_8_plugin_constructs_the_pipeline_over_grpc(
    engine: tuple[str, AwsMocks, EngineServicer],
) -> None:
    """A Construct call as the engine makes it: camelCase inputs, a stack config with aws:region (the stack's
    provider is used: no aws provider of the component's own), the real bundles of the installed package."""
    import os
    import signal
    import subprocess
    import sys

    address, mocks, log = engine
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "AWS_"))}
    proc = subprocess.Popen(
        [sys.executable, str(PROVIDER_DIR), address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(PROVIDER_DIR),
        env=env,
        start_new_session=True,
    )
    try:
        port = _read_port(proc, 120.0)
        inputs = struct_pb2.Struct()
        inputs.update({"environmentSuffix": "grpc", "apiAuth": "IAM", "lambdaMemoryMb": 1024.0})
        request = provider_pb2.ConstructRequest(
            project=PROJECT,
            stack=STACK,
            config={"aws:region": "eu-west-1"},
            dryRun=False,
            parallel=4,
            monitorEndpoint=address,
            type=COMPONENT_TOKEN,
            name="md",
            inputs=inputs,
        )
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            reply = provider_pb2_grpc.ResourceProviderStub(channel).Construct(request, timeout=300)
        state = dict(reply.state)
        assert reply.urn == f"urn:pulumi:{STACK}::{PROJECT}::{COMPONENT_TOKEN}::md"
        assert state["region"] == "eu-west-1"
        assert state["ingestionFunctionName"] == "DataIngestion-grpc"
        assert state["apiUrl"].startswith("https://") and state["apiUrl"].endswith("/grpc/")
        created = mocks.created
        fns = [a for a in created if a.typ == "aws:lambda/function:Function"]
        assert {(f.inputs["runtime"], f.inputs["memorySize"]) for f in fns} == {("nodejs22.x", 1024.0)}
        assert [a for a in created if a.typ == "pulumi:providers:aws"] == []  # the stack's provider
        assert all(len(f.inputs["code"].assets["index.mjs"].path) > 0 for f in fns)  # the shipped bundles
        assert not [m for sev, m in log.logs if sev >= 3], log.logs  # no error logged
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
