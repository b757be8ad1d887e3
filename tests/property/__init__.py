"""Property tests of the MarketDataPipeline component (hypothesis over generated args)."""
