"""The OpenID Connect provider's rules: authorization code flow with PKCE, login challenges, consent, the token
endpoint's grants, userinfo, revocation, introspection and RP-initiated logout. Free of HTTP: the routes
(chalicelib/http/oauth_routes.py) parse requests and shape answers.

The flow: the authorization endpoint checks the request and stores it as a login challenge; the sign-in UI signs
the person in (every factor the account needs), then accepts the challenge with that session's bearer token; the
accepting write opens the client's session, whose code the client redeems once at the token endpoint.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from collections.abc import Mapping
from typing import Any, NamedTuple

from chalicelib.accounts.sessions import Principal, SessionRef, SessionService
from chalicelib.accounts.store import AccountStore, Asking, SessionView
from chalicelib.accounts.tokens import KmsKeys
from chalicelib.aws.dependencies import DependencyError
from chalicelib.config import Limits
from chalicelib.core.assurance import Factors, aal, recent, uses_second_factor
from chalicelib.core.expressions import read_map, read_number, read_string
from chalicelib.core.refusals import (
    EnrollmentRequired,
    LoginChallengeInvalid,
    ReauthenticationRequired,
    SessionRejected,
)
from chalicelib.core.schema import SESSION_CLIENT, SESSION_SCOPE, SESSIONS
from chalicelib.crypto import DIGEST_HEX_CHARS, KeyedHasher
from chalicelib.oauth import id_tokens
from chalicelib.oauth.clients import Client, Clients
from chalicelib.oauth.requests import challenge_of, parse, with_parameters
from chalicelib.oauth.store import (
    Accepted,
    LoginRequest,
    NewClientSession,
    OAuthStore,
    Redeemed,
    challenge_key,
)

CODE_VERSION = "oc1"
OFFLINE_ACCESS = "offline_access"  # OpenID Connect Core 11: the scope that asks for a refresh token
WITH_REFRESH, WITHOUT_REFRESH = "r", "n"
_SECRET = re.compile(r"[A-Za-z0-9_-]{22}")
_TAG = re.compile(rf"[0-9a-f]{{{DIGEST_HEX_CHARS}}}")
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
MAX_CODE_CHARS = 512  # with the longest nonce (255 characters of ASCII: 340 in BASE64URL)
_B64 = re.compile(r"[A-Za-z0-9_-]*")


INVALID_TOKEN = "invalid_token"  # RFC 6750 3.1: the bearer token of a userinfo request is not a live one


class OAuthError(Exception):
    """An RFC 6749 error answer: ``error``, ``error_description`` and its status (401 for a client that failed to
    authenticate, 400 otherwise)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


class ConsentNeeded(NamedTuple):
    """The person must agree to ``scopes`` for ``client`` before the challenge can be accepted."""

    client: Client
    scopes: tuple[str, ...]


class Redirect(NamedTuple):
    """Where the browser goes back to, and the name of the client that is there."""

    location: str
    client_name: str


class Settings(NamedTuple):
    issuer: str
    login_url: str
    limits: Limits
    passkeys: bool = False  # the stage offers passkeys (OTP_WEBAUTHN_RP_ID): one may meet a request for two factors


class OAuthService:
    def __init__(
        self,
        store: OAuthStore,
        accounts: AccountStore,
        sessions: SessionService,
        signers: Mapping[str, KmsKeys],
        hasher: KeyedHasher,
        clients: Clients,
        settings: Settings,
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._sessions = sessions
        self._signers = signers
        self._hasher = hasher
        self.clients = clients
        self._settings = settings

    @property
    def issuer(self) -> str:
        return self._settings.issuer

    # -- the authorization endpoint and the login challenge ------------------------------------------------------

    def authorize(self, query: Mapping[str, list[str]], now: int) -> str:
        """Where to send the person for a valid request: the login page, with a new login challenge."""
        request = parse(query, self.clients)
        challenge = secrets.token_urlsafe(32)
        self._store.save_challenge(
            self._challenge_key(challenge), request, now, now + self._settings.limits.oauth_login_seconds
        )
        return with_parameters(self._settings.login_url, {"login_challenge": challenge})

    def login_request(self, challenge: object, now: int) -> tuple[LoginRequest, Client]:
        """The waiting request a challenge names, and its client; :class:`LoginChallengeInvalid` otherwise."""
        request = (
            self._store.challenge(self._challenge_key(challenge), now) if _CHALLENGE.fullmatch(str(challenge)) else None
        )
        client = None if request is None else self.clients.get(request.client_id)
        if request is None or client is None:  # a client no longer declared: its requests are void
            raise LoginChallengeInvalid()
        return request, client

    def accept(self, principal: Principal, challenge: object, consent: bool, now: int) -> Redirect | ConsentNeeded:
        """Accept a login challenge for the signed-in ``principal``: where to send the person next (the client's
        redirect URI with a code, or with an error under ``prompt=none``), or the consent still needed.

        :class:`ReauthenticationRequired` when ``prompt=login``, ``max_age`` or ``acr_values`` want a newer or
        stronger proof than the session holds (where two factors are asked of an account whose only second factor
        is a passkey, ``by_passkey``: a code would not do); :class:`EnrollmentRequired` when two factors are asked
        of an account that has one only."""
        request, client = self.login_request(challenge, now)
        silent = "none" in request.prompt
        policy = self._settings.limits.mfa_policy
        has_factor = uses_second_factor(policy, principal.account.mfa, principal.account.passkeys)
        fresh_enough = (request.max_age is None or recent(principal.auth_time, now, request.max_age)) and (
            "login" not in request.prompt or principal.auth_time >= request.created_at
        )
        strong_enough = not request.two_factors or principal.aal >= 2
        if not fresh_enough or not strong_enough:
            if silent:
                return self._refuse(challenge, "login_required" if not fresh_enough else "interaction_required", now)
            if not strong_enough and not has_factor:
                # A passkey proves both factors at once (user verification): an account with one meets AAL2 by it.
                if self._settings.passkeys and principal.account.passkeys:
                    raise ReauthenticationRequired(by_passkey=True)
                raise EnrollmentRequired("two factors asked")
            # An account whose second factor is a passkey alone (REQUIRED, no authenticator app) re-proves with it.
            by_passkey = has_factor and not Factors.of(principal.account.mfa).active
            raise ReauthenticationRequired(by_code=not has_factor, by_passkey=by_passkey)
        given = consented_scopes(principal.account.consents or {}, client.client_id)
        needs_consent = not client.first_party and (
            "consent" in request.prompt or not set(request.scopes) <= set(given.split())
        )
        if needs_consent and not consent:
            if silent:
                return self._refuse(challenge, "consent_required", now)
            return ConsentNeeded(client, request.scopes)
        recorded = " ".join(dict.fromkeys((*given.split(), *request.scopes))) if needs_consent else None
        relied_on = given if not needs_consent and not client.first_party else None
        ref = SessionRef(principal.ref.home, secrets.token_urlsafe(8))
        code_secret = secrets.token_urlsafe(16)
        mode = WITH_REFRESH if OFFLINE_ACCESS in request.scopes else WITHOUT_REFRESH
        nonce = _b64(request.nonce)
        code_tag = self._code_tag(ref.id, code_secret, mode, nonce)
        session = NewClientSession(
            ref.nonce,
            client.client_id,
            " ".join(request.scopes),
            principal.session.amr,
            principal.session.auth_time,
            principal.ref.nonce,
            code_tag,
            request.code_challenge,
            request.redirect_uri,
        )
        outcome = self._store.accept(
            self._challenge_key(challenge),
            principal.ref.home,
            principal.account,
            Asking(principal.ref.nonce, principal.session.generation),
            session,
            recorded,
            relied_on,
            now,
            # botocore's own retry of this very transaction lands once; another acceptance is another transaction.
            token=self._hasher.tag("oauth-accept", str(challenge), ref.nonce)[:35],
        )
        if outcome is Accepted.CHALLENGE_GONE:
            raise LoginChallengeInvalid()
        if outcome is Accepted.CONSENT_CHANGED:
            return ConsentNeeded(client, request.scopes)
        if outcome is not Accepted.ACCEPTED:
            raise SessionRejected(outcome.value)
        code = ".".join((CODE_VERSION, ref.id, code_secret, mode, nonce, code_tag))
        return self._answer(request, {"code": code})

    def reject(self, challenge: object, error: str, now: int) -> Redirect:
        """Spend a challenge without a sign-in: the client's redirect URI with ``error``."""
        return self._refuse(challenge, error, now)

    def _refuse(self, challenge: object, error: str, now: int) -> Redirect:
        request = (
            self._store.spend(self._challenge_key(challenge), now) if _CHALLENGE.fullmatch(str(challenge)) else None
        )
        if request is None:
            raise LoginChallengeInvalid()
        return self._answer(request, {"error": error})

    def _answer(self, request: LoginRequest, parameters: dict[str, str]) -> Redirect:
        """The authorization response at the request's redirect URI, with its state and this issuer (RFC 9207)."""
        location = with_parameters(request.redirect_uri, {**parameters, "state": request.state, "iss": self.issuer})
        client = self.clients.get(request.client_id)
        return Redirect(location, client.name if client else request.client_id)

    def error_redirect(self, redirect_uri: str, error: str, description: str, state: str | None) -> str:
        return with_parameters(
            redirect_uri, {"error": error, "error_description": description, "state": state, "iss": self.issuer}
        )

    def _challenge_key(self, challenge: object) -> str:
        return challenge_key(self._hasher.tag("oauth-login", str(challenge)))

    # -- the token endpoint ---------------------------------------------------------------------------------------

    def authenticate_client(self, client_id: str | None, secret: str | None) -> Client:
        """The client a token request comes from (RFC 6749 2.3): a confidential one must prove its secret by
        ``client_secret_basic`` or ``client_secret_post``; a public one names itself and proves nothing here."""
        client = self.clients.get(client_id)
        if client is None:
            raise OAuthError("invalid_client", "unknown client", 401)
        if client.public:
            if secret:
                raise OAuthError("invalid_client", "a public client has no secret", 401)
            return client
        if secret is None or not client.proves(secret):
            raise OAuthError("invalid_client", "client authentication failed", 401)
        return client

    def grant_code(self, client: Client, form: Mapping[str, str], now: int) -> dict[str, Any]:
        """RFC 6749 4.1.3 with RFC 7636 4.6: exchange a code, once, for tokens: one conditional write, then the
        signatures of the access token and the ID token."""
        ref, code_tag, offline, nonce = self._parse_code(form.get("code", ""))
        verifier, redirect_uri = form.get("code_verifier"), form.get("redirect_uri", "")
        if verifier is None:
            raise OAuthError("invalid_request", "code_verifier is required (PKCE)")
        challenge = challenge_of(verifier)
        if challenge is None:
            raise OAuthError("invalid_grant", "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
        if not redirect_uri:
            raise OAuthError("invalid_request", "redirect_uri is required")
        limits = self._settings.limits
        refresh_token, refresh_tag = self._sessions.new_refresh_token(ref)
        # Without offline_access the session lasts as long as its access token, and has no refresh token.
        expires_at = now + (limits.session_seconds if offline else limits.access_token_seconds)
        outcome, before = self._store.redeem(
            ref.home,
            ref.nonce,
            code_tag,
            client.client_id,
            challenge,
            redirect_uri,
            expires_at,
            refresh_tag if offline else None,
            now,
        )
        if outcome is Redeemed.REPLAYED:
            raise OAuthError("invalid_grant", "the code was used before; the session it opened has ended")
        if outcome is not Redeemed.REDEEMED:
            raise OAuthError("invalid_grant", "the code is invalid, expired, or was issued for another request")
        entry = read_map(before, SESSIONS).get(ref.nonce, {}).get("M", {})
        account = self._accounts.account(ref.home, before)
        view = session_view(entry, now, expires_at)
        try:
            issued = self._sessions.tokens_for(account, ref, view, refresh_token, now)
            id_token = id_tokens.issue(
                self._signers[client.id_token_algorithm],
                self.issuer,
                client.client_id,
                account,
                ref.id,
                view,
                nonce,
                issued.access_token,
                now,
                limits.access_token_seconds,
            )
        except DependencyError:
            # KMS failed after the code was spent: put it back, so that the client's retry is not a replay.
            self._store.unredeem(ref.home, ref.nonce, before, expires_at)
            raise
        answer: dict[str, Any] = {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.access_expires_at - now,
            "id_token": id_token,
            "scope": view.scope,
        }
        if offline:
            answer["refresh_token"] = refresh_token
        return answer

    def grant_refresh(self, client: Client, form: Mapping[str, str], now: int) -> dict[str, Any]:
        """RFC 6749 6: new tokens for a current refresh token of this client (rotated; reuse ends the session)."""
        try:
            issued = self._sessions.refresh(form.get("refresh_token", ""), now, client.client_id)
        except SessionRejected as refused:
            raise OAuthError("invalid_grant", "the refresh token is invalid, expired or revoked") from refused
        asked = form.get("scope")
        if asked is not None and not set(asked.split()) <= set(issued.scope.split()):
            # The token was rotated all the same: within OTP_REFRESH_GRACE_SECONDS the one presented still works.
            raise OAuthError("invalid_scope", "a refresh cannot ask for more than was granted")
        return {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.access_expires_at - now,
            "refresh_token": issued.refresh_token,
            "scope": issued.scope,
        }

    def _parse_code(self, raw: object) -> tuple[SessionRef, str, bool, str]:
        """The session, tag, refresh mode and ID token nonce of a code this service made:
        ``oc1.<sid>.<secret>.<r|n>.<BASE64URL(nonce)>.<tag>``, whose keyed tag covers all of them. The nonce travels
        in the code (the client chose it; the tag keeps it as it was) so that the session entry stays small."""
        parts = raw.split(".") if isinstance(raw, str) and len(raw) <= MAX_CODE_CHARS else []
        if len(parts) != 6 or parts[0] != CODE_VERSION or parts[3] not in (WITH_REFRESH, WITHOUT_REFRESH):
            raise OAuthError("invalid_grant", "the code is malformed")
        _, session_id, secret, mode, nonce, tag = parts
        try:
            ref = SessionRef.parse(session_id)
        except SessionRejected:
            raise OAuthError("invalid_grant", "the code is malformed") from None
        if not (_SECRET.fullmatch(secret) and _TAG.fullmatch(tag) and _B64.fullmatch(nonce)):
            raise OAuthError("invalid_grant", "the code is malformed")
        if not hmac.compare_digest(self._code_tag(session_id, secret, mode, nonce), tag):
            raise OAuthError("invalid_grant", "the code is not one this service issued")
        return ref, tag, mode == WITH_REFRESH, base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4)).decode()

    def _code_tag(self, session_id: str, secret: str, mode: str, nonce: str) -> str:
        return self._hasher.tag("oauth-code", session_id, secret, mode, nonce)

    # -- userinfo, revocation, introspection, logout -----------------------------------------------------------

    def userinfo(self, principal: Principal) -> dict[str, Any]:
        """OpenID Connect Core 5.3: the claims the token's scopes allow (all of them for the API's own sessions)."""
        scopes = tuple(principal.session.scope.split()) if principal.session.client else ("email", "phone")
        return id_tokens.claims_of(principal.account, scopes)

    def revoke(self, client: Client, token: str, now: int) -> None:
        """RFC 7009: end the session of a current refresh token or a valid access token issued to ``client``;
        anything else (another client's token, a refresh token already rotated out) is ignored, as RFC 7009 2.2 says
        of an invalid token."""
        try:
            ref, tag = self._sessions.refresh_token_session(token)
        except SessionRejected:
            try:
                principal = self._sessions.authenticate(token, now)
            except SessionRejected:
                return
            if principal.session.client == client.client_id:
                self._accounts.revoke(principal.ref.home, principal.ref.nonce)
            return
        # One write, whose condition is the rule: a current refresh token of this client's session.
        self._accounts.revoke(ref.home, ref.nonce, presented=tag, client=client.client_id)

    def introspect(self, token: str, now: int) -> dict[str, Any]:
        """RFC 7662: whether an access token is active (genuine, unexpired, its session live), and its claims."""
        try:
            principal = self._sessions.authenticate(token, now)
        except SessionRejected:
            return {"active": False}
        session = principal.session
        answer: dict[str, Any] = {
            "active": True,
            "token_type": "Bearer",
            "sub": principal.account.id,
            "iss": self.issuer,
            "iat": principal.issued_at,
            "exp": principal.expires_at,
            "auth_time": principal.auth_time,
            "acr": id_tokens.acr(session),
            "sid": principal.ref.id,
            "aal": aal(session.amr),
        }
        if session.client:
            answer.update(client_id=session.client, scope=session.scope)
        return answer

    def hint(self, hint: str, client_id: str | None) -> id_tokens.Hint | None:
        """What an ``id_token_hint`` names, if it is an ID token of this service (for ``client_id``, when given)."""
        found = id_tokens.verify_hint(hint, self._signers, self.issuer) if hint else None
        if found is None or (client_id and found.client_id != client_id):
            return None
        return found

    def logout(self, hint: id_tokens.Hint) -> bool:
        """RP-initiated logout: end the session a verified hint names, and the sign-in UI's session it came from."""
        try:
            ref = SessionRef.parse(hint.session_id)
        except SessionRejected:
            return False
        self._store.end_with_parent(ref.home, ref.nonce)
        return True

    # -- consents ---------------------------------------------------------------------------------------------

    def consents(self, principal: Principal) -> list[dict[str, Any]]:
        listed = []
        for client_id, record in sorted((principal.account.consents or {}).items()):
            client = self.clients.get(client_id)
            fields = record.get("M", {})
            listed.append(
                {
                    "client_id": client_id,
                    "client_name": client.name if client else client_id,
                    "scopes": read_string(fields, "s").split(),
                    "granted_at": int(fields.get("t", {}).get("N", "0")),
                }
            )
        return listed

    def withdraw_consent(self, principal: Principal, client_id: str) -> bool:
        return self._store.withdraw_consent(principal.ref.home, principal.account.id, client_id)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def consented_scopes(consents: Mapping[str, Any], client_id: str) -> str:
    """The scopes a stored consent names (empty if none)."""
    return read_string(consents.get(client_id, {}).get("M", {}), "s")


def session_view(entry: Mapping[str, Any], now: int, expires_at: int) -> SessionView:
    """A client session as its redeeming write leaves it (``entry``: as it stood before)."""
    return SessionView(
        now,
        expires_at,
        tuple(element.get("S", "") for element in entry.get("amr", {}).get("L", [])),
        read_number(entry, "a"),
        0,
        read_string(entry, SESSION_CLIENT),
        read_string(entry, SESSION_SCOPE),
    )
