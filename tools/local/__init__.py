"""Local stack: moto server control and the local Lambda host wrapper (see lib/lambda/host/README.md)."""
