"""Passkeys (WebAuthn Level 3): registering them on an account, and signing in with one, usernameless.

:mod:`.store` keeps the items (one per credential, the account's list on its home, the ceremonies) with every
rule a write condition; :mod:`.service` runs the ceremonies with the ``webauthn`` package (py_webauthn), which is
imported only here, so only a passkey route ever loads it (``wiring.get_passkeys``).
"""
