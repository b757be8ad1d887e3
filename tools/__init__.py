"""Developer and local-stack tools of the Market Data Pipeline repository."""
