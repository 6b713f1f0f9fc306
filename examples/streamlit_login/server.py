"""The example app (``streamlit_app.py``) as ``make run`` serves it, with its OpenID Connect client settings given as
secrets in code rather than in a ``.streamlit/secrets.toml`` (``st.App(..., secrets=...)``): they follow the ports
of the stack it signs in with, read from the environment.

``streamlit run examples/streamlit_login/server.py --server.port 8502`` from the repository root, with:

- ``OIDC_ISSUER``: the provider (the API's ``OTP_TOKEN_ISSUER``; http://127.0.0.1:8000 by default), whose
  ``/.well-known/openid-configuration`` says where everything else is.
- ``EXAMPLE_PORT``: the port this app is served on (8502), which its redirect URI names; the provider must list
  that URI for the client (``make run`` rewrites the local stage's clients to the port in use).
- ``EXAMPLE_CLIENT_ID`` and ``EXAMPLE_CLIENT_SECRET``: the local stage's confidential client ``local-example`` by
  default (its secret is known to everyone: it is for this machine only).
- ``EXAMPLE_COOKIE_SECRET``: signs the cookie that keeps the person signed in here; by default a random one per
  start, so a restart signs everyone out of the example.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

import streamlit as st
from streamlit.runtime.secrets import SecretsValue

DEFAULT_ISSUER = "http://127.0.0.1:8000"
DEFAULT_PORT = "8502"


AAL2 = "http://idmanagement.gov/ns/assurance/aal/2"  # the provider's acr value for two factors (its discovery lists it)


def auth_settings(environ: Mapping[str, str]) -> dict[str, SecretsValue]:
    """The ``[auth]`` section ``st.login()`` reads, from ``environ``.

    Beside the default sign-in, two named ones of the same client, as an app asks for before something sensitive:
    ``st.login("fresh")`` wants the person to prove who they are again now (``prompt=login``), and
    ``st.login("twofactors")`` wants two factors (``acr_values``: an authenticator app's code, or a passkey).
    """
    issuer = (environ.get("OIDC_ISSUER") or DEFAULT_ISSUER).rstrip("/")
    port = environ.get("EXAMPLE_PORT") or DEFAULT_PORT
    client: dict[str, SecretsValue] = {
        "client_id": environ.get("EXAMPLE_CLIENT_ID") or "local-example",
        "client_secret": environ.get("EXAMPLE_CLIENT_SECRET") or "local-example-secret",
        "server_metadata_url": f"{issuer}/.well-known/openid-configuration",
    }
    # Streamlit asks for "openid email profile" unless told otherwise; the client may ask for what it is registered
    # for, and the app needs no more than the address.
    scope = "openid email"
    return {
        # Streamlit serves the callback itself, at /oauth2callback; the logout comes back to it too.
        "redirect_uri": f"http://127.0.0.1:{port}/oauth2callback",
        "cookie_secret": environ.get("EXAMPLE_COOKIE_SECRET") or secrets.token_urlsafe(32),
        **client,
        "client_kwargs": {"scope": scope},
        "fresh": {**client, "client_kwargs": {"scope": scope, "prompt": "login"}},
        # Authlib sends authorize_params with every authorization request of this provider.
        "twofactors": {**client, "client_kwargs": {"scope": scope}, "authorize_params": {"acr_values": AAL2}},
    }


app = st.App(Path(__file__).with_name("streamlit_app.py"), secrets={"auth": auth_settings(os.environ)})
