"""Accounts: identifiers, sessions and the access tokens that prove them."""
