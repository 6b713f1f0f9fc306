"""Two-step sign-in: a TOTP authenticator app and recovery codes as an account's second factor."""
