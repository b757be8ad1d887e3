"""The committed handler bundles are exactly what a fresh build of lib/lambda gives (R-FN-7; issue 13).

The bundles (`sdk/python/market_data_pipeline/handlers/<fn>/index.mjs`) are committed so that every install path
(pip from git, wheel, sdist, `pulumi package add`) ships them without Node.js. This test keeps them from going
stale: it builds lib/lambda into a temporary directory (`node build.mjs --outdir`, the options `make build` uses;
the working tree's bundles are not touched, so it does not matter whether `make build` ran before) and compares
the result byte for byte with the bundles in git's index (what is committed, or staged to be). A handler edited
without rebuilding and committing the bundles fails here, naming `make build`.

It also proves the build deterministic: a second build from a copy of lib/lambda at another path gives the same
bytes; without that, the comparison would fail for reasons nobody could fix.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.package.installs import BUNDLE_REL, ROOT, SDK_REL, need, run
from tools.local.host import FUNCTIONS

LAMBDA = Path("lib") / "lambda"
FUNCTIONS_JSON = Path(SDK_REL) / "market_data_pipeline" / "data" / "functions.json"
STALE_HINT = (
    "run `make build` and commit the bundles (git add sdk/python/market_data_pipeline/handlers/*/index.mjs): "
    "they ship in the wheel, the sdist and pip/git installs, which have no Node.js to rebuild them"
)


def fresh_build(checkout: Path, out: Path) -> dict[str, bytes]:
    """Build the four bundles of `checkout`'s lib/lambda into `out` (node_modules: this checkout's, installed by
    `make node`, linked when `checkout` is a copy); return their bytes per function."""
    node_modules = ROOT / LAMBDA / "node_modules"
    need(node_modules.is_dir(), f"{node_modules} missing: run `make node` (make test does)")
    node = shutil.which("node")
    need(node is not None, "node is not on PATH")
    assert node is not None
    if checkout != ROOT and not (checkout / LAMBDA / "node_modules").exists():
        (checkout / LAMBDA / "node_modules").symlink_to(node_modules, target_is_directory=True)
    run([node, "build.mjs", "--outdir", str(out)], cwd=checkout / LAMBDA, timeout=300)
    return {fn: (out / fn / "index.mjs").read_bytes() for fn in FUNCTIONS}


def committed(rel: str) -> bytes | None:
    """The bytes of `rel` in git's index (None when it is not there)."""
    proc = subprocess.run(["git", "-C", str(ROOT), "show", f":{rel}"], capture_output=True, timeout=60)
    return proc.stdout if proc.returncode == 0 else None


def test_r_fn_7_committed_bundles_equal_a_fresh_deterministic_build(tmp_path: Path) -> None:
    """R-FN-7 (issue 13): fresh build == fresh build from another checkout path == the committed bundles."""
    inside = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--is-inside-work-tree"], capture_output=True, text=True
    )
    need(inside.stdout.strip() == "true", f"{ROOT} is not a git checkout: nothing committed to compare with")
    here = fresh_build(ROOT, tmp_path / "out-here")
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(ROOT / LAMBDA, elsewhere / LAMBDA, ignore=shutil.ignore_patterns("node_modules", "dist"))
    # The build reads the list of the functions from the package.
    (elsewhere / FUNCTIONS_JSON).parent.mkdir(parents=True)
    shutil.copy2(ROOT / FUNCTIONS_JSON, elsewhere / FUNCTIONS_JSON)
    there = fresh_build(elsewhere, tmp_path / "out-elsewhere")
    differ = [fn for fn in FUNCTIONS if here[fn] != there[fn]]
    assert not differ, (
        f"esbuild output of {differ} differs between two paths of lib/lambda: the build is not deterministic"
    )

    stale = []
    for fn, rel in zip(FUNCTIONS, BUNDLE_REL, strict=True):
        bundle = f"{SDK_REL}/{rel}"
        got = committed(bundle)
        if got is None:
            stale.append(f"{bundle} (not committed)")
        elif got != here[fn]:
            stale.append(
                f"{bundle} ({len(got)} bytes committed, {len(here[fn])} bytes built from lib/lambda)"
            )
    if stale:
        pytest.fail(
            "handler bundles are stale: " + "; ".join(stale) + ". To fix: " + STALE_HINT, pytrace=False
        )
