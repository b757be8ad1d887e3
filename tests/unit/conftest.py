"""Unit-test support: placeholder handler bundles, and one helper that runs the component under mocks."""

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import market_data_pipeline.functions as functions_module
import pulumi
import pytest
from market_data_pipeline import STACK_OUTPUT_KEYS, MarketDataPipeline
from market_data_pipeline.constants import HANDLER_DIRS

from tests.harness import AwsMocks, policy_doc, run_pulumi

PLACEHOLDER = "export const handler = async () => ({ statusCode: 200 });\n"


def make_bundles(root: Path) -> Path:
    """Write a placeholder index.mjs for every function under `root` (the layout of handlers/)."""
    for d in HANDLER_DIRS.values():
        (root / d).mkdir(parents=True, exist_ok=True)
        (root / d / "index.mjs").write_text(PLACEHOLDER)
    return root


@pytest.fixture(scope="session")
def bundle_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of placeholder bundles, shared by the session."""
    return make_bundles(tmp_path_factory.mktemp("handlers"))


@pytest.fixture(autouse=True)
def placeholder_bundles(bundle_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the component at placeholder bundles (unit tests do not depend on the real, committed ones)."""
    monkeypatch.setattr(functions_module, "HANDLERS_DIR", bundle_root)
    yield bundle_root


@pytest.fixture(scope="session")
def default_run(bundle_root: Path) -> "Run":
    """One run with the spec defaults (suffix prod, an alarm e-mail), shared by the read-only tests."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(functions_module, "HANDLERS_DIR", bundle_root)
        return deploy({"alarm_email": "oncall@example.com"})


@contextmanager
def stack_settings(config: Mapping[str, str] | None, secret_keys: list[str] | None = None) -> Iterator[None]:
    """Run with exactly this stack config (the JSON text Pulumi hands a program for structured values; the keys
    of `secret_keys` set with --secret) and no region in the environment, so the stack's region is `config`'s."""
    with pytest.MonkeyPatch.context() as mp:
        for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "PULUMI_CONFIG"):
            mp.delenv(var, raising=False)
        pulumi.runtime.set_all_config(dict(config or {}), list(secret_keys or []))
        try:
            yield
        finally:
            pulumi.runtime.set_all_config({}, [])


@dataclass
class Run:
    """What one component run registered, and its resolved outputs."""

    mocks: AwsMocks
    outputs: dict[str, Any]

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        """Recorded resources of a type."""
        return self.mocks.of_type(typ)

    def one(self, typ: str, name_contains: str = "") -> dict[str, Any]:
        """Inputs (secrets unwrapped) of the single resource of `typ` whose logical name contains a string."""
        return self.mocks.inputs(self.mocks.one(typ, name_contains))

    def all_inputs(self, typ: str) -> list[dict[str, Any]]:
        """Inputs of every resource of a type."""
        return [self.mocks.inputs(a) for a in self.of_type(typ)]

    def by_name(self, typ: str, key: str = "name") -> dict[str, dict[str, Any]]:
        """Inputs of every resource of a type, keyed by a physical-name input (or its namePrefix)."""
        return {str(i.get(key, i.get("namePrefix"))): i for i in self.all_inputs(typ)}

    def role_policy(self, role_name: str) -> dict[str, Any]:
        """The parsed inline policy document attached to the role with this physical name."""
        roles = {a.name: self.mocks.inputs(a) for a in self.of_type("aws:iam/role:Role")}
        logical = [n for n, i in roles.items() if i.get("name", i.get("namePrefix")) == role_name]
        assert len(logical) == 1, (
            f"role {role_name} not found among {[i.get('name') for i in roles.values()]}"
        )
        found = [
            i
            for i in self.all_inputs("aws:iam/rolePolicy:RolePolicy")
            if i["role"] == f"{logical[0]}-id"  # the mock id of the role
        ]
        assert len(found) == 1, f"expected one inline policy on {role_name}, got {len(found)}"
        return policy_doc(found[0]["policy"])


def deploy(
    args: Mapping[str, Any] | None = None,
    make_opts: Callable[[], pulumi.ResourceOptions] | None = None,
    stack_config: Mapping[str, str] | None = None,
    secret_keys: list[str] | None = None,
) -> Run:
    """Construct MarketDataPipeline("md", args) under fresh mocks (`make_opts` builds the resource options inside
    the run) in a stack whose config is `stack_config` (e.g. {"aws:region": "us-east-1"}; none by default, and
    AWS_REGION / AWS_DEFAULT_REGION unset); return the records and the resolved outputs under the stable
    stack-output keys."""
    full: dict[str, Any] = {"environment_suffix": "prod", **(args or {})}

    def build() -> Any:
        md = MarketDataPipeline("md", full, make_opts() if make_opts else None)  # type: ignore[arg-type]
        return {key: getattr(md, attr) for key, attr in STACK_OUTPUT_KEYS.items()}

    with stack_settings(stack_config, secret_keys):
        mocks, outputs = run_pulumi(build)
    return Run(mocks, outputs or {})
