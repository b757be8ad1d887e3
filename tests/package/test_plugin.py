"""The plugin in `provider/` boots and answers GetSchema and Construct over gRPC, as the engine calls it (R-PKG-3,
R-PKG-4; issue 13).

The engine starts a Python plugin as `python <plugin dir> <engine address>`, reads the gRPC port the plugin
prints on stdout, then calls GetSchema (what `pulumi package add` / `get-schema` do) and, in a deployment,
Construct. The engine address is only contacted on Construct, so a dead address (127.0.0.1:1) is enough for
GetSchema; Construct runs against tests/package/fake_engine.py.

`pulumi package add <clone>/provider` prepares the plugin like this (pulumi-language-python, toolchain `pip`:
`python -m venv <plugin dir>/venv`, then `pip install -r requirements.txt` with the plugin dir as working directory,
so requirements.txt's `../sdk/python` is resolved from `provider/`) and starts `venv/bin/python <plugin dir>`.
The package-add test does the same from a fresh clone on which nobody ran `make build` (machinery and isolation:
tests/package/installs.py).
"""

import ast
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from market_data_pipeline import COMPONENT_TOKEN, PACKAGE_VERSION
from pulumi.runtime.proto import engine_pb2, provider_pb2, provider_pb2_grpc

from tests.package.fake_engine import FakeEngine, asset_paths
from tests.package.installs import (
    check_code_assets,
    clean_env,
    committed_bundles,
    fresh_clone,
    fresh_venv,
    pip_install,
    site_packages,
)

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_DIR = ROOT / "provider"
SCHEMA_FILE = ROOT / "schema.json"
BOOT_TIMEOUT_S = 120.0


def _read_port(proc: subprocess.Popen[str], timeout_s: float) -> int:
    """The first line the plugin prints is its port; bounded wait, with the plugin's stderr on failure."""
    assert proc.stdout is not None
    end = time.monotonic() + timeout_s
    line = ""
    while time.monotonic() < end:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            break
        if proc.poll() is not None:
            break
    if not line.strip().isdigit():
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"plugin printed no port (got {line!r}, exit {proc.returncode}): {err[-3000:]}")
    return int(line.strip())


@contextmanager
def running_plugin(
    python: str, provider_dir: Path, engine: str, env: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Start `<python> <provider_dir> <engine>` from the plugin directory, as the engine does; stop it by PID."""
    if not (provider_dir / "__main__.py").exists():
        pytest.fail(f"{provider_dir}/__main__.py is missing (R-PKG-3)")
    proc = subprocess.Popen(
        [python, str(provider_dir), engine],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(provider_dir),
        env=env,
        start_new_session=True,
    )
    try:
        port = _read_port(proc, BOOT_TIMEOUT_S)
        yield proc, port
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


@pytest.fixture
def plugin() -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Start `python provider 127.0.0.1:1` with the project's interpreter; stop it by PID afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    with running_plugin(sys.executable, PROVIDER_DIR, "127.0.0.1:1", env) as started:
        yield started


def _get_schema(port: int) -> dict[str, Any]:
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=30)
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        reply = stub.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=60)
        return json.loads(reply.schema)  # type: ignore[no-any-return]
    finally:
        channel.close()


def test_r_pkg_3_r_pkg_8_plugin_boots_and_get_schema_equals_committed_schema(
    plugin: tuple[subprocess.Popen[str], int],
) -> None:
    """R-PKG-3/R-PKG-4/R-PKG-8: the plugin the engine would start (the real command line and gRPC protocol, no
    mocks) serves the committed schema.json."""
    proc, port = plugin
    served = _get_schema(port)
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert served == committed, "the plugin's GetSchema differs from schema.json: run `make schema`"
    assert "market-data-pipeline:index:MarketDataPipeline" in served["resources"]
    assert proc.poll() is None, "the plugin exited after GetSchema"


def _imported_modules(path: Path) -> set[str]:
    """Every module a Python file imports (absolute names; relative imports as `.name`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def test_r_pkg_8_package_and_plugin_import_nothing_of_the_mocks_or_the_tests() -> None:
    """R-PKG-8: what ships (the SDK package and the plugin) imports neither Pulumi's test mocks nor our tests, so
    it runs under the real CLI exactly as tested; the Construct path itself is the one ComponentProvider serves
    over gRPC (test_construct.py drives it in-process, the test above boots it the engine's way)."""
    files = sorted((ROOT / "sdk" / "python" / "market_data_pipeline").rglob("*.py"))
    files += sorted(PROVIDER_DIR.glob("*.py"))
    assert len(files) >= 10, files
    bad = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in files
        for name in _imported_modules(path)
        if name.startswith(("pulumi.runtime.mocks", "tests", "pytest", "hypothesis"))
        or name in ("pulumi.runtime.set_mocks", "pulumi.runtime.Mocks", "pulumi.runtime.test")
    }
    assert bad == set()
    sources = "\n".join(p.read_text(encoding="utf-8") for p in files)
    assert "set_mocks" not in sources and "MockResourceArgs" not in sources


def test_r_pkg_3_plugin_files() -> None:
    """R-PKG-3: PulumiPlugin.yaml says runtime python; requirements install the SDK from ../sdk/python."""
    import yaml

    manifest = yaml.safe_load((PROVIDER_DIR / "PulumiPlugin.yaml").read_text(encoding="utf-8"))
    runtime = manifest["runtime"]
    assert (runtime.get("name") if isinstance(runtime, dict) else runtime) == "python", manifest
    reqs = [
        line.strip()
        for line in (PROVIDER_DIR / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert any(r.rstrip("/").endswith("../sdk/python") for r in reqs), reqs


def _construct(port: int, engine: FakeEngine, inputs: dict[str, Any]) -> Any:
    """Construct the component through the plugin as the engine does for a TypeScript/Go/YAML program."""
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=30)
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        args = struct_pb2.Struct()
        args.update(inputs)
        request = provider_pb2.ConstructRequest(
            project=engine.project,
            stack=engine.stack,
            dryRun=False,
            parallel=4,
            monitorEndpoint=engine.address,
            type=COMPONENT_TOKEN,
            name="md",
            inputs=args,
        )
        return stub.Construct(request, timeout=300)
    finally:
        channel.close()


def test_r_pkg_3_plugin_as_package_add_starts_it_serves_schema_and_constructs_with_bundles(
    tmp_path: Path,
) -> None:
    """R-PKG-3/R-FN-7 (issue 13, 3c): from a fresh clone, provider/venv from requirements.txt (../sdk/python, from
    provider/), `python provider <engine>`: GetSchema is the committed schema at the package version, and Construct
    registers the pipeline with four functions whose code is the installed package's committed bundles (Node 18)."""
    clone = fresh_clone(tmp_path / "repo")
    expected = committed_bundles(clone)
    provider = clone / "provider"
    py = fresh_venv(provider / "venv")
    pip_install(py, ["--no-build-isolation", "-r", "requirements.txt"], cwd=provider)
    with (
        FakeEngine() as engine,
        running_plugin(str(py), provider, engine.address, clean_env()) as (proc, port),
    ):
        schema = _get_schema(port)
        reply = _construct(port, engine, {"environmentSuffix": "plg", "lambdaRuntime": "nodejs22.x"})
        assert proc.poll() is None, "the plugin exited after Construct"
    assert schema == json.loads((clone / "schema.json").read_text(encoding="utf-8"))
    assert schema["version"] == PACKAGE_VERSION
    errors = [m for severity, m in engine.recorded.logs if severity == engine_pb2.ERROR]
    assert not errors, errors
    assert reply.urn.endswith(f"::{COMPONENT_TOKEN}::md"), reply.urn
    assert len(engine.recorded.registrations) > 30, "the plugin registered too little"
    state = json_format.MessageToDict(reply.state)
    assert state["apiUrl"].startswith("https://") and state["bucketName"], state
    functions = engine.recorded.of_type("aws:lambda/function:Function")
    package_dir = site_packages(py) / "market_data_pipeline"
    check_code_assets(
        {str(r.inputs["name"]): asset_paths(r.inputs.get("code")) for r in functions},
        str(package_dir),
        expected,
        tmp_path,
    )
