"""A client for the admin routes (``/admin/...``) and the step-up they need (``POST /mfa/reauthenticate``).

Same contract as :mod:`frontend.api`: every call returns an :class:`~frontend.api.ApiResult` and never raises
for HTTP errors, unreachable servers or malformed answers; tokens are parameters, never state, never logged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

import requests

from frontend.api import DEFAULT_TIMEOUT_SECONDS, UNREACHABLE, ApiResult, _to_result, resolve_base_url

Method = Literal["GET", "POST", "DELETE"]
# The action names of the API's routes: POST /admin/users/{id}/<name>, except "mfa", which is a DELETE.
ACTIONS = ("lock", "unlock", "signout", "mfa", "clear-failures")


class AdminClient:
    def __init__(self, base_url: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def user(self, token: str, by: Literal["email", "phone", "id"], value: str) -> ApiResult:
        """The account card (``user``) of the exact identifier or id; 404 ``user_not_found``."""
        return self._send("GET", "/admin/users", token, params={by: value})

    def act(self, token: str, user_id: str, action: str, reason: str) -> ApiResult:
        """One of :data:`ACTIONS` on the account, with the admin's reason (401 ``reauthentication_required``
        when the admin's last proof is too old: :meth:`reauthenticate`, then try again)."""
        method: Method = "DELETE" if action == "mfa" else "POST"
        return self._send(method, f"/admin/users/{quote(user_id, safe='')}/{action}", token, {"reason": reason})

    def remove_passkey(self, token: str, user_id: str, passkey_id: str, reason: str) -> ApiResult:
        """Remove one of the account's passkeys (its ``id`` on the account card), as :meth:`act` acts."""
        path = f"/admin/users/{quote(user_id, safe='')}/passkeys/{quote(passkey_id, safe='')}"
        return self._send("DELETE", path, token, {"reason": reason})

    def audit(self, token: str, limit: int = 100, before: str | None = None) -> ApiResult:
        params: dict[str, Any] = {"limit": limit, **({"before": before} if before else {})}
        return self._send("GET", "/admin/audit", token, params=params)

    def stats(self, token: str, hours: int) -> ApiResult:
        return self._send("GET", "/admin/stats", token, params={"hours": hours})

    def reauthenticate(self, token: str, otp: str) -> ApiResult:
        """A code from the authenticator renews the session's proof: success carries new tokens."""
        return self._send("POST", "/mfa/reauthenticate", token, {"otp": otp})

    def _send(
        self,
        method: Method,
        path: str,
        token: str,
        payload: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> ApiResult:
        try:
            response = requests.request(
                method,
                f"{self.base_url}{path}",
                json=payload,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeout,
            )
        except requests.RequestException:
            return ApiResult(None, UNREACHABLE, "The sign-in service cannot be reached right now. Please try again.")
        return _to_result(response)


def admin_client_from_env(secrets: Mapping[str, Any] | None = None) -> AdminClient:
    return AdminClient(resolve_base_url(os.environ, secrets))
