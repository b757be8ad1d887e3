"""Issue 3 acceptance 4: each bundle imports in a fresh Node 18 process (and Node 20) without error.

The importer is an ESM *file* run as `node <file>`: unlike `node -e "import(...)"`, which has a global `require`,
this exposes a bundle missing the `createRequire` banner (`Dynamic require of "os" is not supported`).
"""

import json
import subprocess
from pathlib import Path

import pytest

from tests.handlers_moto.conftest import NODE_MAJOR, NODE_VERSIONS, node_binary
from tools.local.host import FUNCTIONS, bundle_environment, bundle_path

IMPORTER = """
import { pathToFileURL } from "node:url";
const mod = await import(pathToFileURL(process.argv[2]).href);
console.log(JSON.stringify({ node: process.version, handler: typeof mod.handler }));
"""

# what Lambda sets; each function's own variables come from the component (`bundle_environment`): the bundles check
# them at import time and refuse to start without them, as on Lambda
LAMBDA_ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "POWERTOOLS_TRACE_ENABLED": "false",
    "TZ": "UTC",
    "PATH": "/usr/bin:/bin",
}


def import_bundle(node: str, bundle: Path, workdir: Path) -> dict[str, str]:
    """Import `bundle` with `node importer.mjs <bundle>` (from `workdir`, Lambda's env contract); fail with node's
    stderr when it does not import; return what the importer saw ({"node": version, "handler": typeof handler})."""
    importer = workdir / "importer.mjs"
    importer.write_text(IMPORTER)
    env = {**LAMBDA_ENV, **bundle_environment(bundle.parent.name)}
    proc = subprocess.run(
        [node, str(importer), str(bundle)], capture_output=True, text=True, timeout=60, env=env, cwd=workdir
    )
    assert proc.returncode == 0, f"{bundle} failed to import on {node}:\n{proc.stderr[-3000:]}"
    out: dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


@pytest.mark.parametrize("node", NODE_VERSIONS)
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_bundle_imports_in_fresh_node_process(fn: str, node: str, tmp_path: Path) -> None:
    """`node importer.mjs <bundle>` exits 0 and finds `handler` to be a function."""
    bundle = bundle_path(fn)
    if not bundle.exists():
        pytest.fail(f"{bundle} not built: run `make build` (make test does)")
    out = import_bundle(node_binary(node), bundle, tmp_path)
    assert out == {"node": out["node"], "handler": "function"} and out["node"].startswith(NODE_MAJOR[node])


def test_importer_detects_a_missing_banner(tmp_path: Path) -> None:
    """The importer really fails on an ESM bundle that calls require() without the createRequire banner."""
    broken = Path(__file__).resolve().parent / "fixtures" / "broken.mjs"
    importer = tmp_path / "importer.mjs"
    importer.write_text(IMPORTER)
    proc = subprocess.run(
        [node_binary("node18"), str(importer), str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
        env=LAMBDA_ENV,
    )
    assert proc.returncode != 0 and "require is not defined" in proc.stderr
