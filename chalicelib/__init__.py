"""The passwordless sign-in service: everything but HTTP routing lives here."""
