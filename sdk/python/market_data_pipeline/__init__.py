"""Market Data Pipeline: a Pulumi component package (placeholder, the component lands next)."""
