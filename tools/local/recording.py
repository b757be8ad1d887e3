"""Record what a Pulumi program declares: run it under the mocks of `tools/local/mocks.py` and keep every registered
resource with its inputs and mock outputs (a component resource: the outputs it passed to `register_outputs`).

Nothing here restates the infrastructure: the local stack is built from this recording (`tools/local/translators.py`).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tools.local.mocks import AwsMocks, run_pulumi, unsecret


@dataclass
class Recorded:
    """One resource the program registered under the mocks."""

    typ: str
    name: str
    inputs: dict[str, Any]
    rid: str | None
    outputs: dict[str, Any]
    """the mock outputs of a custom resource; the registered outputs of a component resource"""
    custom: bool
    transforms: list[Any] = field(default_factory=list)
    """the resource transforms registered with it (they apply to children the mocks never see)"""


class _RecordingMocks(AwsMocks):
    def __init__(self) -> None:
        super().__init__()
        self.states: dict[int, tuple[str | None, dict[str, Any]]] = {}

    def new_resource(self, args: Any) -> tuple[str | None, dict[str, Any]]:
        rid, outs = super().new_resource(args)
        self.states[id(args)] = (rid, outs)
        return rid, outs


def record(suffix: str, extra_args: Mapping[str, Any] | None = None) -> list[Recorded]:
    """Run `MarketDataPipeline("md", {"environment_suffix": suffix, **extra_args})` under the mocks."""
    from market_data_pipeline import MarketDataPipeline

    args: dict[str, Any] = {"environment_suffix": suffix, **(extra_args or {})}
    return record_program(lambda: MarketDataPipeline("md", args))  # type: ignore[arg-type]


def record_program(build: Callable[[], Any]) -> list[Recorded]:
    """Run any Pulumi program under the mocks and return what it registered, in registration order."""
    mocks = _RecordingMocks()
    run_pulumi(build, mocks)
    out: list[Recorded] = []
    for a in mocks.created:
        rid, outs = mocks.states.get(id(a), (None, {}))
        if not a.custom and a.name in mocks.registered_outputs:
            outs = mocks.registered_outputs[a.name]
        out.append(
            Recorded(
                a.typ,
                a.name,
                unsecret(dict(a.inputs)),
                rid,
                unsecret(outs),
                bool(a.custom),
                list(getattr(a, "transforms", None) or []),
            )
        )
    return out
