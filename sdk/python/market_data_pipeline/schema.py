"""Print the package schema the component's annotations produce (`python -m market_data_pipeline.schema`).

`make schema` writes it to schema.json; the same `ComponentProvider(...).schema` is what the plugin in
`provider/` answers to GetSchema.
"""

import json
from typing import Any

from pulumi.provider.experimental.component import ComponentProvider

from .component import MarketDataPipeline
from .constants import PACKAGE_NAME, PACKAGE_VERSION


def schema() -> dict[str, Any]:
    """The package schema as a dict."""
    provider = ComponentProvider([MarketDataPipeline], PACKAGE_NAME, version=PACKAGE_VERSION)
    if provider.schema is None:  # pragma: no cover - ComponentProvider always builds one
        raise RuntimeError("ComponentProvider produced no schema")
    result: dict[str, Any] = json.loads(provider.schema)
    return result


def schema_json() -> str:
    """The package schema as stable, indented JSON text (with a final newline)."""
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(schema_json(), end="")
