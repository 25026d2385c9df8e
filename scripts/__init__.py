"""Commands behind the Makefile's targets: OpenAPI generation, ops, the soak, build checks."""
