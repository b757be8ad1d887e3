"""Deploy the resources the component declares into moto server: record -> translate -> host config.

Nothing here restates the infrastructure: `tools/local/recording.py` runs `MarketDataPipeline` under the Pulumi mocks
(`tools/local/mocks.py`) and keeps the recorded resources with their inputs; `tools/local/translators.py` creates each
one in moto through one translator per Pulumi type token; `tools/local/host_config.py` makes the local host's config
and the flat outputs (the component's `STACK_OUTPUT_KEYS`, plus `EndpointUrl`). `tools/local/stack.py` runs it all as
processes.

CLI: `python -m tools.local.deploy --endpoint-url http://127.0.0.1:PORT --suffix demo --out-dir DIR`.
"""

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `python tools/local/deploy.py` as well as `python -m tools.local.deploy`
    sys.path.insert(0, str(REPO))

from tools.local.host_config import flat_outputs, host_config, write_flat_outputs  # noqa: E402
from tools.local.recording import Recorded, record  # noqa: E402
from tools.local.translators import translate  # noqa: E402


@dataclass
class Deployment:
    """What `deploy()` made: flat outputs, the host config, and a report."""

    outputs: dict[str, str]
    host_config: dict[str, Any]
    api_key_value: str | None
    emulated: list[tuple[str, str, str]] = field(default_factory=list)
    """(type, physical name, how)"""
    not_emulated: list[tuple[str, str, str]] = field(default_factory=list)
    """(type, logical name, why)"""


def deploy(
    endpoint_url: str,
    suffix: str = "local",
    extra_args: Mapping[str, Any] | None = None,
    recorded: list[Recorded] | None = None,
    local_concurrency: int = 2,
) -> Deployment:
    """Create in moto (at `endpoint_url`) every resource the component declares; return outputs and host config.

    `recorded`: a recording to deploy instead of `MarketDataPipeline` with `suffix` and `extra_args`."""
    recorded = recorded if recorded is not None else record(suffix, extra_args)
    c = translate(endpoint_url, recorded)
    key = c.api_key()
    return Deployment(
        outputs=flat_outputs(c, recorded),
        host_config=host_config(c, local_concurrency),
        api_key_value=key["value"] if key else None,
        emulated=c.emulated,
        not_emulated=c.not_emulated,
    )


def main(argv: list[str] | None = None) -> int:
    """CLI: deploy into a running moto server and write host config + flat outputs."""
    p = argparse.ArgumentParser(description="Deploy the component's resources into moto server.")
    p.add_argument("--endpoint-url", required=True, help="moto server URL, e.g. http://127.0.0.1:5055")
    p.add_argument("--suffix", default="local", help="environment_suffix of the component")
    p.add_argument(
        "--out-dir", type=Path, required=True, help="where host-config.json and flat-outputs.json go"
    )
    a = p.parse_args(argv)
    d = deploy(a.endpoint_url, a.suffix)
    a.out_dir.mkdir(parents=True, exist_ok=True)
    (a.out_dir / "host-config.json").write_text(json.dumps(d.host_config, indent=2))
    write_flat_outputs(a.out_dir / "flat-outputs.json", d.outputs)
    for typ, name, how in d.emulated:
        print(f"  created  {typ.split(':')[-1]:<28} {name}: {how}")
    for typ, name, why in d.not_emulated:
        print(f"  skipped  {typ.split(':')[-1]:<28} {name}: {why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
