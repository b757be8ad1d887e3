"""The SDK installs the ways the README says, from a fresh clone, with its handler bundles (R-PKG-2, R-FN-7; issue 13).

Each test does what a user does (machinery and its isolation: tests/package/installs.py): from a `git clone` of this
checkout (committed files only, nobody ran `make build`), install into a fresh venv
(a) with the README's pip line from a git URL (`git+file://<clone>`, `#subdirectory=sdk/python`),
(b) from the wheel and from the sdist that `make wheel` / `make sdist` build (`python -m build`),
then run the README's Python example under the mocks and check that every function's code asset is a committed
bundle inside the installed package that imports in Node 18 and exports `handler`. No install needs Node.js.
"""

import hashlib
import re
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from market_data_pipeline import PACKAGE_VERSION

from tests.package.installs import (
    BUNDLE_REL,
    SDK_REL,
    check_install,
    committed_bundles,
    fresh_clone,
    fresh_venv,
    pip_install,
    probe,
    readme_python_example,
    run,
)

GIT_LINE = re.compile(r'^pip install "(git\+\$\{REPO_URL\}[^"]*)"$', re.M)


@dataclass(frozen=True)
class Built:
    """A fresh clone and the wheel and sdist built from it."""

    clone: Path
    wheel: Path
    sdist: Path
    bundles: dict[str, str]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Clone the repository and build its wheel and sdist as `make wheel` / `make sdist` do (isolated build)."""
    work = tmp_path_factory.mktemp("built")
    clone = fresh_clone(work / "repo")
    bundles = committed_bundles(clone)
    dist = work / "dist"
    run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(dist), str(clone / SDK_REL)],
        cwd=work,
    )
    (wheel,) = sorted(dist.glob("market_data_pipeline-*.whl"))
    (sdist,) = sorted(dist.glob("market_data_pipeline-*.tar.gz"))
    return Built(clone, wheel, sdist, bundles)


def _install_and_check(built: Built, work: Path, pip_args: list[str]) -> None:
    py = fresh_venv(work / "venv")
    pip_install(py, pip_args, cwd=work)
    result = probe(py, readme_python_example(built.clone / "README.md"), work)
    check_install(result, py, built.bundles, work)


def test_r_pkg_2_readme_git_url_install_constructs_with_bundles(built: Built, tmp_path: Path) -> None:
    """R-PKG-2/R-FN-7 (issue 13, 3a): the README's `pip install "git+${REPO_URL}#subdirectory=sdk/python"` with
    REPO_URL a file URL of a fresh clone, then the README's example constructs four bundled functions."""
    m = GIT_LINE.search((built.clone / "README.md").read_text(encoding="utf-8"))
    assert m, 'README.md lost its git install line (pip install "git+${REPO_URL}#subdirectory=sdk/python")'
    requirement = m.group(1).replace("${REPO_URL}", built.clone.as_uri())
    assert requirement.endswith("#subdirectory=sdk/python"), requirement
    _install_and_check(built, tmp_path, ["--no-build-isolation", requirement])


def test_r_pkg_2_r_fn_7_wheel_installs_into_fresh_venv_and_constructs(built: Built, tmp_path: Path) -> None:
    """R-PKG-2/R-FN-7 (acceptance 6; issue 13, 3b): the wheel ships the committed bundles and nothing else of the
    repository; alone in a fresh venv it runs the README example with four bundled functions."""
    with zipfile.ZipFile(built.wheel) as zf:
        names = set(zf.namelist())
        for rel, fn in zip(BUNDLE_REL, built.bundles, strict=True):
            assert rel in names, f"{rel} not shipped in {built.wheel.name}"
            assert hashlib.sha256(zf.read(rel)).hexdigest() == built.bundles[fn]
        assert "market_data_pipeline/py.typed" in names
        assert not any(n.startswith(("tests/", "lib/", "provider/")) for n in names)
    _install_and_check(built, tmp_path, ["--no-index", str(built.wheel)])


def test_r_pkg_2_sdist_installs_into_fresh_venv_and_constructs(built: Built, tmp_path: Path) -> None:
    """R-PKG-2/R-FN-7 (issue 13, 3b): the sdist carries the bundles (building it needs no Node.js) and installs."""
    with tarfile.open(built.sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    missing = [rel for rel in BUNDLE_REL if rel not in names]
    assert not missing, f"{built.sdist.name} lacks {missing}"
    _install_and_check(built, tmp_path, ["--no-index", "--no-build-isolation", str(built.sdist)])


def test_readme_install_lines_name_the_built_files(built: Built) -> None:
    """The README's wheel and sdist lines name exactly what `make wheel` / `make sdist` write (so their version too)."""
    readme = (built.clone / "README.md").read_text(encoding="utf-8")
    for artefact in (built.wheel, built.sdist):
        assert PACKAGE_VERSION in artefact.name, artefact.name
        assert f"pip install dist/{artefact.name}" in readme, (
            f"README.md should say `pip install dist/{artefact.name}`"
        )
