"""Plugin entry point: serve MarketDataPipeline to the Pulumi engine (schema + construct) over gRPC (R-PKG-3)."""

from market_data_pipeline import PACKAGE_NAME, PACKAGE_VERSION, MarketDataPipeline
from pulumi.provider.experimental import component_provider_host


def main() -> None:
    """Start the component provider host (the engine passes its address as the first argument)."""
    component_provider_host(components=[MarketDataPipeline], name=PACKAGE_NAME, version=PACKAGE_VERSION)


if __name__ == "__main__":
    main()
