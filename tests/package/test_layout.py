"""Repository layout and CI entry point (R-PKG-1, R-RUN-2)."""

import ast
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_r_pkg_1_repository_layout() -> None:
    """R-PKG-1: provider/, sdk/python/, both examples, schema.json, tests/, Makefile at the root; Lambda source in lib/lambda/."""
    for d in ("provider", "sdk/python", "examples/prod", "examples/dev", "tests", "lib/lambda/src"):
        assert (REPO / d).is_dir(), f"missing directory {d}/"
    for f in (
        "schema.json",
        "Makefile",
        "provider/PulumiPlugin.yaml",
        "sdk/python/pyproject.toml",
        "lib/lambda/package.json",
    ):
        assert (REPO / f).is_file(), f"missing file {f}"


def test_local_tools_stand_on_their_own() -> None:
    """R-RUN-1 (issue 12): tools/local imports nothing from the test tree or the bench (they import it, not back)."""
    for path in sorted((REPO / "tools" / "local").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            bad = [n for n in names if n.split(".")[0] in ("tests", "bench")]
            assert not bad, (
                f"{path.relative_to(REPO)}:{node.lineno} imports {bad}: tools/local must not depend on them"
            )


def test_r_run_2_ci_entry_point_runs_make_test() -> None:
    """R-RUN-2: .ci/run is an executable-by-bash script whose only command is `make test` (after cd to the root)."""
    commands = [
        shlex.split(line)
        for line in (REPO / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert ["make", "test"] in commands
    assert all(c[0] in ("set", "cd", "make") for c in commands), commands
    assert [c for c in commands if c[0] == "make"] == [["make", "test"]]
