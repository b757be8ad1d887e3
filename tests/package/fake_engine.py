"""A stand-in for the Pulumi engine, so a plugin's Construct can be driven over gRPC without the CLI (R-PKG-3).

One gRPC server on 127.0.0.1 serves both services a component plugin talks to during Construct: the Engine (logs,
root resource) and the ResourceMonitor (registrations, invokes). Registrations are recorded in wire form (the JSON of
the protobuf Struct: assets, secrets and resource references stay as their signature envelopes) and answered with
the outputs that tools/local/mocks.py's AwsMocks fabricates, so the component's applies resolve as under the in-process
mocks. Nothing here sets up a Pulumi runtime in the test process.
"""

import threading
from concurrent import futures
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc, resource_pb2, resource_pb2_grpc

from tests.harness import AwsMocks

SIG = "4dabf18193072939515e22adb298388d"
ASSET_SIGS = {"c44067f5952c0a294b673a41bacd8c17", "0def7320c3a5731c473e5ecbe6d01bc7"}  # asset, archive


@dataclass
class Registration:
    """One RegisterResource the plugin made."""

    typ: str
    name: str
    custom: bool
    inputs: dict[str, Any]


@dataclass
class Recorded:
    """What the plugin did through the fake engine."""

    registrations: list[Registration] = field(default_factory=list)
    logs: list[tuple[int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of_type(self, typ: str) -> list[Registration]:
        """Registrations of one resource type."""
        with self.lock:
            return [r for r in self.registrations if r.typ == typ]


def asset_paths(value: Any) -> list[str]:
    """Paths of every file asset or archive inside a wire-form value."""
    if isinstance(value, dict):
        if value.get(SIG) in ASSET_SIGS and isinstance(value.get("path"), str):
            return [value["path"]]
        return [p for v in value.values() for p in asset_paths(v)]
    if isinstance(value, list):
        return [p for v in value for p in asset_paths(v)]
    return []


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(value)
    return s


class _Monitor(resource_pb2_grpc.ResourceMonitorServicer):
    def __init__(self, recorded: Recorded, project: str, stack: str) -> None:
        self.recorded = recorded
        self.mocks = AwsMocks()
        self.project, self.stack = project, stack
        self.lock = threading.Lock()

    def _urn(self, parent: str, typ: str, name: str) -> str:
        if parent:
            typ = parent.split("::")[2] + "$" + typ
        return f"urn:pulumi:{self.stack}::{self.project}::{typ}::{name}"

    def GetDeploymentInfo(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC method names)
        # The features the in-process mock monitor declares (no outputValues: inputs arrive as plain values).
        return MockMonitor(self.mocks).GetDeploymentInfo(request)  # type: ignore[no-untyped-call]

    def SupportsFeature(self, request: Any, context: Any) -> Any:  # noqa: N802
        return resource_pb2.SupportsFeatureResponse(hasSupport=request.id != "outputValues")

    def RegisterResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        inputs = json_format.MessageToDict(request.object)
        urn = self._urn(request.parent, request.type, request.name)
        with self.lock:
            self.recorded.registrations.append(
                Registration(request.type, request.name, request.custom, inputs)
            )
            rid, outs = self.mocks.new_resource(
                MockResourceArgs(
                    typ=request.type,
                    name=request.name,
                    inputs=inputs,
                    provider=request.provider,
                    resource_id=request.importId,
                    custom=request.custom,
                )
            )
            # what `pulumi:pulumi:getResource` answers when the plugin rehydrates a resource reference
            self.mocks.monitor.resources[urn] = MockMonitor.ResourceRegistration(urn, rid or "", outs)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=rid or "", object=_struct(outs))

    def RegisterResourceOutputs(self, request: Any, context: Any) -> Any:  # noqa: N802
        return empty_pb2.Empty()

    def Invoke(self, request: Any, context: Any) -> Any:  # noqa: N802
        args = json_format.MessageToDict(request.args)
        if request.tok == "pulumi:pulumi:getResource":
            reg = self.mocks.monitor.resources[args["urn"]]
            ret = {"urn": reg.urn, "id": reg.id, "state": reg.state}
        else:
            ret, _ = self.mocks.call(MockCallArgs(token=request.tok, args=args, provider=request.provider))
        return resource_pb2.ResourceInvokeResponse(**{"return": _struct(ret)})

    def RegisterPackage(self, request: Any, context: Any) -> Any:  # noqa: N802
        return resource_pb2.RegisterPackageResponse(ref=f"pkg-{request.name}")

    def SignalAndWaitForShutdown(self, request: Any, context: Any) -> Any:  # noqa: N802
        return empty_pb2.Empty()


class _Engine(engine_pb2_grpc.EngineServicer):
    def __init__(self, recorded: Recorded) -> None:
        self.recorded = recorded
        self.root = ""

    def Log(self, request: Any, context: Any) -> Any:  # noqa: N802
        with self.recorded.lock:
            self.recorded.logs.append((request.severity, request.message))
        return empty_pb2.Empty()

    def GetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        return engine_pb2.GetRootResourceResponse(urn=self.root)

    def SetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        self.root = request.urn
        return engine_pb2.SetRootResourceResponse()


class FakeEngine:
    """`with FakeEngine() as engine:` serves on `engine.address` (127.0.0.1, a free port) until the block ends."""

    def __init__(self, project: str = "proj", stack: str = "test") -> None:
        self.project, self.stack = project, stack
        self.recorded = Recorded()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        engine_pb2_grpc.add_EngineServicer_to_server(_Engine(self.recorded), self._server)  # type: ignore[no-untyped-call]
        resource_pb2_grpc.add_ResourceMonitorServicer_to_server(  # type: ignore[no-untyped-call]
            _Monitor(self.recorded, project, stack), self._server
        )
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"

    def __enter__(self) -> "FakeEngine":
        self._server.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.stop(grace=None).wait(10)
