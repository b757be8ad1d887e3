"""One version (issue 13): `PACKAGE_VERSION` in market_data_pipeline/constants.py owns it; the others follow.

Derived, and checked here: the SDK's packaging metadata (pyproject.toml reads the constant), schema.json, the plugin
(`component_provider_host(version=PACKAGE_VERSION)`; PulumiPlugin.yaml carries no copy: the CLI does not read one).
Checked copies: CHANGELOG.md's section for the version; the README's wheel/sdist lines (tests/package/test_wheel.py,
against the files really built).
"""

import json
import re
from pathlib import Path

import tomllib
import yaml
from market_data_pipeline import PACKAGE_VERSION

ROOT = Path(__file__).resolve().parents[2]


def test_version_has_one_owner_and_the_others_follow() -> None:
    """pyproject.toml reads PACKAGE_VERSION (no literal version), schema.json states it (and the plugin serves
    schema.json: tests/package/test_plugin.py), PulumiPlugin.yaml has no other."""
    assert re.fullmatch(r"\d+\.\d+\.\d+([-.+][0-9A-Za-z.]+)?", PACKAGE_VERSION), PACKAGE_VERSION
    pyproject = tomllib.loads((ROOT / "sdk" / "python" / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    attr = pyproject["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "market_data_pipeline.constants.PACKAGE_VERSION", attr
    schema = json.loads((ROOT / "schema.json").read_text(encoding="utf-8"))
    assert schema["version"] == PACKAGE_VERSION, "schema.json is stale: run `make schema`"
    manifest = yaml.safe_load((ROOT / "provider" / "PulumiPlugin.yaml").read_text(encoding="utf-8"))
    assert manifest.get("version", PACKAGE_VERSION) == PACKAGE_VERSION, manifest


def test_changelog_has_a_section_for_the_version() -> None:
    """CHANGELOG.md has a `## [<version>]` section for the current version."""
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[{re.escape(PACKAGE_VERSION)}\]", changelog, re.M), (
        f"CHANGELOG.md has no `## [{PACKAGE_VERSION}]` section: add one when you change PACKAGE_VERSION"
    )
