"""Package tests: schema, provider plugin, construct path, wheel."""
