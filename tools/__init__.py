"""Developer tooling: AWS resource bootstrap and the one-command local stack (`make run`)."""
