"""Handler integration tests: the real bundles in the local Lambda host against moto server."""
