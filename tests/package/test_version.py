"""One version (issue 13): `PACKAGE_VERSION` in market_data_pipeline/constants.py owns it; the others follow.

Derived: the SDK's packaging metadata (pyproject.toml reads the constant; checked here, and the built wheel and
sdist in test_wheel.py), schema.json (test_schema.py), the plugin (`component_provider_host(version=PACKAGE_VERSION)`,
test_plugin.py; PulumiPlugin.yaml carries no copy: the CLI does not read one). Checked copies: CHANGELOG.md's section
for the version (here); the Lambda code's npm package (lib/lambda/package.json and its lock file, here); the README's
wheel/sdist lines (test_wheel.py, against the files really built).
"""

import json
import re
from pathlib import Path

import tomllib
import yaml
from market_data_pipeline import PACKAGE_VERSION

ROOT = Path(__file__).resolve().parents[2]


def test_version_has_one_owner_and_the_others_follow() -> None:
    """pyproject.toml reads PACKAGE_VERSION (no literal version) and PulumiPlugin.yaml states no other. (schema.json
    states it: test_schema.py; the plugin serves it: test_plugin.py; the built wheel and sdist carry it: test_wheel.py.)"""
    assert re.fullmatch(r"\d+\.\d+\.\d+([-.+][0-9A-Za-z.]+)?", PACKAGE_VERSION), PACKAGE_VERSION
    pyproject = tomllib.loads((ROOT / "sdk" / "python" / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    attr = pyproject["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "market_data_pipeline.constants.PACKAGE_VERSION", attr
    manifest = yaml.safe_load((ROOT / "provider" / "PulumiPlugin.yaml").read_text(encoding="utf-8"))
    assert manifest.get("version", PACKAGE_VERSION) == PACKAGE_VERSION, manifest


def test_changelog_has_a_section_for_the_version() -> None:
    """CHANGELOG.md has a `## [<version>]` section for the current version."""
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[{re.escape(PACKAGE_VERSION)}\]", changelog, re.M), (
        f"CHANGELOG.md has no `## [{PACKAGE_VERSION}]` section: add one when you change PACKAGE_VERSION"
    )


def test_lambda_package_states_the_same_version() -> None:
    """lib/lambda/package.json (the handlers' npm package, whose bundles the component deploys) and its lock file
    state PACKAGE_VERSION: one release, one version."""
    pkg = json.loads((ROOT / "lib" / "lambda" / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((ROOT / "lib" / "lambda" / "package-lock.json").read_text(encoding="utf-8"))
    want = {
        "package.json": PACKAGE_VERSION,
        "package-lock.json": PACKAGE_VERSION,
        "lock root": PACKAGE_VERSION,
    }
    got = {
        "package.json": pkg["version"],
        "package-lock.json": lock["version"],
        "lock root": lock["packages"][""]["version"],
    }
    assert got == want, (
        f"set every version of lib/lambda to PACKAGE_VERSION {PACKAGE_VERSION} (npm version --no-git-tag-version)"
    )
