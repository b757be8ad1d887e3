"""What a user does to install the SDK, as test machinery (R-PKG-2, R-PKG-3, R-FN-7; issue 13).

Every user path starts from a FRESH COPY of the repository: `git clone` of this checkout, so only committed files
count (a bundle that is built but not committed is not there) and nothing in the copy ran `make build`.
Each install goes into a FRESH venv (no pip, no site packages) that sees the project venv's third-party packages
through a `.pth` line only: a directory added by a `.pth` line is appended to sys.path without its own `.pth` files
being processed, so the project's editable install of market_data_pipeline (a `.pth` import hook) stays inactive,
and a control run proves `import market_data_pipeline` fails there before the install. pip runs from the project
venv (`pip --python <fresh venv>`) with `--no-deps` (the probe checks the visible dependencies satisfy the installed
package's requirements) and, where it builds from source, `--no-build-isolation` (the project venv's setuptools):
quick, and no network at all for the installs themselves.

The probe runs the README's Python example under the Pulumi mocks (tools/local/mocks.py) in the fresh venv and reports
each function's code asset; `check_install` then imports every asset in a fresh Node 18 process.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from market_data_pipeline import PACKAGE_VERSION

from tests.handlers_moto.test_bundles_import import import_bundle
from tools.local.host import FUNCTIONS, NODE18

ROOT = Path(__file__).resolve().parents[2]
SDK_REL = "sdk/python"
BUNDLE_REL = [f"market_data_pipeline/handlers/{fn}/index.mjs" for fn in FUNCTIONS]
FUNCTION_BASES = ("DataIngestion", "DataProcessor", "DataAggregator", "DataQuery")

PROBE = r"""
import hashlib, importlib.metadata, json, sys
from pathlib import Path
import pulumi
from packaging.requirements import Requirement
from mocks import run_pulumi
import market_data_pipeline
example = Path(sys.argv[1]).read_text(encoding="utf-8")
pkg = Path(market_data_pipeline.__file__).resolve().parent
dist = importlib.metadata.distribution("market-data-pipeline")

def paths(value, out):
    if isinstance(value, pulumi.AssetArchive):
        for v in value.assets.values():
            paths(v, out)
    elif isinstance(value, (pulumi.FileAsset, pulumi.FileArchive)):
        out.append(str(Path(value.path).resolve()))
    elif isinstance(value, dict):
        for v in value.values():
            paths(v, out)
    elif isinstance(value, list):
        for v in value:
            paths(v, out)
    return out

def unmet(requirement):
    req = Requirement(requirement)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        return None
    try:
        have = importlib.metadata.version(req.name)
    except importlib.metadata.PackageNotFoundError:
        return f"{requirement}: not installed"
    return None if req.specifier.contains(have, prereleases=True) else f"{requirement}: {have} installed"

mocks, _ = run_pulumi(lambda: exec(compile(example, "README.md (Python example)", "exec"), {"__name__": "__main__"}))
functions = {}
for r in mocks.of_type("aws:lambda/function:Function"):
    code = paths(r.inputs.get("code"), [])
    functions[r.inputs.get("name")] = {
        "handler": r.inputs.get("handler"),
        "code": code,
        "sha256": [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in code if Path(p).is_file()],
    }
print(json.dumps({
    "module_file": str(Path(market_data_pipeline.__file__).resolve()),
    "package_dir": str(pkg),
    "dist_location": str(Path(dist.locate_file("")).resolve()),
    "dist_version": dist.version,
    "unmet": [u for u in map(unmet, dist.requires or []) if u],
    "bundles": {p.parent.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(pkg.glob("handlers/*/index.mjs"))},
    "functions": functions,
    "resources": len(mocks.created),
}))
"""


def need(ok: bool, what: str) -> None:
    """Fail under make/CI when a precondition of a user-path test is missing; skip outside (a bare pytest run)."""
    if ok:
        return
    if os.environ.get("CI") or os.environ.get("MAKELEVEL"):
        pytest.fail(what)
    pytest.skip(f"{what} (outside make/CI this test is skipped)")


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600) -> str:
    """Run a command; fail with its output when it exits non-zero. Returns stdout."""
    proc = subprocess.run(cmd, cwd=str(cwd), env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    )
    return proc.stdout


def sha(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def clean_env() -> dict[str, str]:
    """The environment without Python or Pulumi settings of this process (the fresh venv must stand alone)."""
    drop = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PULUMI_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def fresh_clone(dest: Path) -> Path:
    """`git clone` this checkout into `dest`: the committed files only, nothing built."""
    need(shutil.which("git") is not None, "git is not on PATH: the user-path tests clone the repository")
    inside = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--is-inside-work-tree"], capture_output=True, text=True
    )
    need(inside.stdout.strip() == "true", f"{ROOT} is not a git checkout: the user-path tests clone it")
    run(["git", "clone", "-q", str(ROOT), str(dest)], cwd=dest.parent)
    assert not (dest / "lib" / "lambda" / "node_modules").exists()
    return dest


def committed_bundles(clone: Path) -> dict[str, str]:
    """SHA-256 per function of the bundles committed in a clone; fails naming the missing ones."""
    missing = [rel for rel in BUNDLE_REL if not (clone / SDK_REL / rel).is_file()]
    assert not missing, (
        f"handler bundles not committed: {missing}. Run `make build` and commit "
        "sdk/python/market_data_pipeline/handlers/*/index.mjs"
    )
    return {fn: sha(clone / SDK_REL / rel) for fn, rel in zip(FUNCTIONS, BUNDLE_REL, strict=True)}


def fresh_venv(venv: Path) -> Path:
    """A fresh venv at `venv` whose site-packages sees the project's third-party packages through a `.pth` line only;
    returns its python. A control run proves the SDK is not importable there yet."""
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv.parent)
    py = venv / "bin" / "python"
    site = Path(
        run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=venv.parent
        ).strip()
    )
    (site / "zz_project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    control = subprocess.run(
        [str(py), "-c", "import pulumi, pulumi_aws\nimport market_data_pipeline"],
        cwd=str(venv.parent),
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert control.returncode != 0 and "No module named 'market_data_pipeline'" in control.stderr, (
        "the fresh venv must not see the repository's editable SDK before the install:\n"
        + control.stderr[-2000:]
    )
    return py


def site_packages(py: Path) -> Path:
    """The purelib directory of the venv of `py`."""
    out = run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=py.parent)
    return Path(out.strip()).resolve()


def pip_install(py: Path, args: list[str], cwd: Path) -> None:
    """`pip install --no-deps <args>` into the venv of `py`, run by the project venv's pip, from `cwd`."""
    run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", *args], cwd=cwd)


def readme_python_example(readme: Path) -> str:
    """The README's Python stack example: the first ```python block."""
    m = re.search(r"```python\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)
    assert m, f"{readme} has no ```python example"
    return m.group(1)


def probe(py: Path, example: str, work: Path) -> dict[str, Any]:
    """Run `example` (a Pulumi Python program) under the mocks harness with the venv of `py`, from a directory
    outside the repository; return what it saw (see PROBE)."""
    probe_dir = work / "probe"
    probe_dir.mkdir()
    shutil.copy(ROOT / "tools" / "local" / "mocks.py", probe_dir / "mocks.py")
    (probe_dir / "probe.py").write_text(PROBE, encoding="utf-8")
    (probe_dir / "example.py").write_text(example, encoding="utf-8")
    out = run([str(py), "probe.py", "example.py"], cwd=probe_dir, env=clean_env(), timeout=600)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def node18_import(bundle: Path, cwd: Path) -> dict[str, str]:
    """Import a bundle in a fresh Node 18 process (tests/handlers_moto/test_bundles_import.py's importer)."""
    need(NODE18.exists(), f"Node 18 binary {NODE18} missing: run `make node`")
    return import_bundle(str(NODE18), bundle, cwd)


def check_code_assets(
    paths_by_function: dict[str, list[str]], package_dir: str, expected: dict[str, str], work: Path
) -> None:
    """Every function ships exactly one code asset: a bundle inside the installed package, byte-identical to a
    committed bundle, that imports in Node 18 and exports `handler`; the four functions ship four different ones."""
    assert sorted(n.rsplit("-", 1)[0] for n in paths_by_function) == sorted(FUNCTION_BASES), sorted(
        paths_by_function
    )
    shipped = set()
    for name, code in paths_by_function.items():
        assert len(code) == 1, f"{name}: expected one code asset, got {code}"
        bundle = Path(code[0])
        assert str(bundle).startswith(package_dir + os.sep + "handlers" + os.sep), (name, bundle)
        assert bundle.is_file(), f"{name}: {bundle} missing"
        assert sha(bundle) in expected.values(), f"{name}: {bundle} is not a committed bundle"
        imported = node18_import(bundle, work)
        assert imported["node"].startswith("v18.") and imported["handler"] == "function", (name, imported)
        shipped.add(sha(bundle))
    assert len(shipped) == 4, "the four functions must ship four different bundles"


def check_install(result: dict[str, Any], py: Path, expected: dict[str, str], work: Path) -> None:
    """What the probe saw in the fresh venv of `py`: the installed package (not the repository's) at this version,
    its requirements met, its committed bundles shipped, and the README example's four functions deployable."""
    site = str(site_packages(py))
    assert result["module_file"].startswith(site + os.sep), result["module_file"]
    assert result["dist_location"].startswith(site), result["dist_location"]
    assert result["dist_version"] == PACKAGE_VERSION, (result["dist_version"], PACKAGE_VERSION)
    assert result["unmet"] == [], result["unmet"]
    assert result["bundles"] == expected, "installed bundles differ from the committed ones"
    fns = result["functions"]
    for name, fn in fns.items():
        assert fn["handler"] == "index.handler", name
    check_code_assets({n: fn["code"] for n, fn in fns.items()}, result["package_dir"], expected, work)
