"""AWS plumbing: expression building, error classification, mail, secrets and keys."""
