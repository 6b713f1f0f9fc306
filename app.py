"""HTTP routes of the sign-in service. Routing only: behaviour lives in ``chalicelib``."""

from chalice import Response
from chalice.app import Request

from chalicelib.admin.actions import Action
from chalicelib.core.assurance import Needs
from chalicelib.http import direct, exchange, otp_routes, phone_routes, reauth_routes, session_routes
from chalicelib.http.exchange import LazyRoutes, bearer

app = direct.App(app_name="otp-signin")  # Chalice that also answers the prototype's direct test events as POST /otp
# Imported at the first request that needs them: a container that only signs people in never loads the code of
# two-step enrollment and of the admin routes (a new visitor waits for its cold start).
mfa_routes = LazyRoutes("chalicelib.http.mfa_routes")
admin_routes = LazyRoutes("chalicelib.http.admin_routes")
oauth_routes = LazyRoutes("chalicelib.http.oauth_routes")  # the OpenID Connect provider
passkey_routes = LazyRoutes("chalicelib.http.passkey_routes")  # and with it, at its first request, webauthn

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
ANY_BODY = ["*/*"]  # bodies are parsed as JSON whatever their declared type; Chalice would answer 415 itself
JWKS_CACHE_SECONDS = 300
# The public documents, and how long caches may keep them: any origin may read them (GET and preflight), with no
# credentials. Every other route answers only the stage's CORS origins (OTP_CORS_ORIGINS).
PUBLIC_DOCUMENTS = {
    "/.well-known/jwks.json": JWKS_CACHE_SECONDS,
    "/.well-known/openid-configuration": JWKS_CACHE_SECONDS,
}


def _serve(path: str, method: str, handler: exchange.Handler) -> Response:
    """Answer ``path`` with ``handler`` for ``method`` and a JSON 405 for every other method."""
    return _serve_methods(path, {method: handler})


def _request() -> Request:
    """The request being answered: Chalice sets it before it calls a route's function."""
    request = app.current_request
    if request is None:
        raise RuntimeError("no request is being answered")
    return request


def _serve_methods(path: str, handlers: dict[str, exchange.Handler]) -> Response:
    """Answer ``path`` with the handler of the request's method, and a JSON 405 for every other method."""
    request = _request()
    return exchange.respond(
        request,
        path,
        handlers.get(request.method, exchange.method_not_allowed),
        public_cache_seconds=PUBLIC_DOCUMENTS.get(path),
    )


@app.route("/otp", methods=ALL_METHODS, content_types=ANY_BODY)
def otp() -> Response:
    return _serve("/otp", "POST", otp_routes.handle)


@app.route("/token/refresh", methods=ALL_METHODS, content_types=ANY_BODY)
def token_refresh() -> Response:
    return _serve("/token/refresh", "POST", session_routes.refresh)


@app.route("/token/revoke", methods=ALL_METHODS, content_types=ANY_BODY)
def token_revoke() -> Response:
    return _serve("/token/revoke", "POST", session_routes.revoke)


@app.route("/signout", methods=ALL_METHODS, content_types=ANY_BODY)
def signout() -> Response:
    return _serve("/signout", "POST", session_routes.sign_out)


@app.route("/me", methods=ALL_METHODS, content_types=ANY_BODY)
def me() -> Response:
    return _serve("/me", "GET", session_routes.me)


# Account changes: each needs a proof within OTP_STEP_UP_SECONDS (Needs.RECENT), renewed by POST /reauthenticate
# (a fresh code) or, on an account with a second factor, POST /mfa/reauthenticate.
@app.route("/me/phone", methods=ALL_METHODS, content_types=ANY_BODY)
def me_phone() -> Response:
    return _serve_methods(
        "/me/phone",
        {"POST": bearer(Needs.RECENT, phone_routes.add), "DELETE": bearer(Needs.RECENT, phone_routes.remove)},
    )


@app.route("/me/phone/verify", methods=ALL_METHODS, content_types=ANY_BODY)
def me_phone_verify() -> Response:
    return _serve("/me/phone/verify", "POST", bearer(Needs.RECENT, phone_routes.verify))


@app.route("/reauthenticate", methods=ALL_METHODS, content_types=ANY_BODY)
def reauthenticate() -> Response:
    return _serve("/reauthenticate", "POST", bearer(Needs.SESSION, reauth_routes.reauthenticate))


@app.route("/.well-known/jwks.json", methods=ALL_METHODS, content_types=ANY_BODY)
def jwks() -> Response:
    return _serve("/.well-known/jwks.json", "GET", session_routes.jwks)


@app.route("/.well-known/openid-configuration", methods=ALL_METHODS, content_types=ANY_BODY)
def openid_configuration() -> Response:
    return _serve("/.well-known/openid-configuration", "GET", oauth_routes.openid_configuration)


# The OpenID Connect provider (chalicelib/http/oauth_routes.py). The browser's endpoints answer with redirects and
# pages, the client's with RFC 6749's JSON; each route parses its own request.
@app.route("/oauth2/authorize", methods=ALL_METHODS, content_types=ANY_BODY)
def oauth2_authorize() -> Response:
    return oauth_routes.authorize(_request())


@app.route("/oauth2/token", methods=ALL_METHODS, content_types=ANY_BODY)
def oauth2_token() -> Response:
    return oauth_routes.token(_request())


@app.route("/oauth2/userinfo", methods=ALL_METHODS, content_types=ANY_BODY)
def oauth2_userinfo() -> Response:
    return oauth_routes.userinfo(_request())


@app.route("/oauth2/revoke", methods=ALL_METHODS, content_types=ANY_BODY)
def oauth2_revoke() -> Response:
    return oauth_routes.revoke(_request())


@app.route("/oauth2/introspect", methods=ALL_METHODS, content_types=ANY_BODY)
def oauth2_introspect() -> Response:
    return oauth_routes.introspect(_request())


@app.route("/oauth2/logout", methods=ALL_METHODS, content_types=ANY_BODY)
def oauth2_logout() -> Response:
    return oauth_routes.logout(_request())


# The sign-in UI's side of a login challenge: what it asks (no token: the challenge is the secret), accepting it
# with the person's session (every factor proven), declining it.
@app.route("/oauth2/login", methods=ALL_METHODS, content_types=ANY_BODY)
def oauth2_login() -> Response:
    return _serve_methods(
        "/oauth2/login",
        {"GET": oauth_routes.login_request, "POST": bearer(Needs.SESSION, oauth_routes.accept)},
    )


@app.route("/oauth2/login/reject", methods=ALL_METHODS, content_types=ANY_BODY)
def oauth2_login_reject() -> Response:
    return _serve("/oauth2/login/reject", "POST", oauth_routes.reject)


@app.route("/me/consents", methods=ALL_METHODS, content_types=ANY_BODY)
def me_consents() -> Response:
    return _serve("/me/consents", "GET", bearer(Needs.SESSION, oauth_routes.consents))


@app.route("/me/consents/{client_id}", methods=ALL_METHODS, content_types=ANY_BODY)
def me_consent(client_id: str) -> Response:
    return _serve("/me/consents/{client_id}", "DELETE", bearer(Needs.SESSION, oauth_routes.withdraw(client_id)))


# Passkeys (chalicelib/http/passkey_routes.py). Registering one is an account change: its options need a recent
# proof, and the ceremony they open is bound to that session, which completes it. A sign-in takes no bearer token.
@app.route("/passkeys/register/options", methods=ALL_METHODS, content_types=ANY_BODY)
def passkeys_register_options() -> Response:
    return _serve(
        "/passkeys/register/options",
        "POST",
        passkey_routes.enabled(bearer(Needs.RECENT, passkey_routes.registration_options)),
    )


@app.route("/passkeys/register", methods=ALL_METHODS, content_types=ANY_BODY)
def passkeys_register() -> Response:
    return _serve("/passkeys/register", "POST", passkey_routes.enabled(bearer(Needs.SESSION, passkey_routes.register)))


@app.route("/passkeys/signin/options", methods=ALL_METHODS, content_types=ANY_BODY)
def passkeys_signin_options() -> Response:
    return _serve("/passkeys/signin/options", "POST", passkey_routes.enabled(passkey_routes.sign_in_options))


@app.route("/passkeys/signin", methods=ALL_METHODS, content_types=ANY_BODY)
def passkeys_signin() -> Response:
    return _serve("/passkeys/signin", "POST", passkey_routes.enabled(passkey_routes.sign_in))


# A step-up with a passkey: its options are bound to the asking session and offer only its account's passkeys;
# the answer renews the session's proof as POST /mfa/reauthenticate does.
@app.route("/passkeys/reauthenticate/options", methods=ALL_METHODS, content_types=ANY_BODY)
def passkeys_reauthenticate_options() -> Response:
    return _serve(
        "/passkeys/reauthenticate/options",
        "POST",
        passkey_routes.enabled(bearer(Needs.SESSION, passkey_routes.reauthentication_options)),
    )


@app.route("/passkeys/reauthenticate", methods=ALL_METHODS, content_types=ANY_BODY)
def passkeys_reauthenticate() -> Response:
    return _serve(
        "/passkeys/reauthenticate",
        "POST",
        passkey_routes.enabled(bearer(Needs.SESSION, passkey_routes.reauthenticate)),
    )


# The second factor of a two-step sign-in with a passkey: its options take the mfa_token POST /otp answered (no
# bearer token), are bound to that pending session and offer only its account's passkeys; the answer completes the
# sign-in as POST /mfa/verify does.
@app.route("/passkeys/verify/options", methods=ALL_METHODS, content_types=ANY_BODY)
def passkeys_verify_options() -> Response:
    return _serve(
        "/passkeys/verify/options",
        "POST",
        mfa_routes.enabled(passkey_routes.enabled(passkey_routes.second_factor_options)),
    )


@app.route("/passkeys/verify", methods=ALL_METHODS, content_types=ANY_BODY)
def passkeys_verify() -> Response:
    return _serve("/passkeys/verify", "POST", mfa_routes.enabled(passkey_routes.enabled(passkey_routes.second_factor)))


@app.route("/me/passkeys", methods=ALL_METHODS, content_types=ANY_BODY)
def me_passkeys() -> Response:
    return _serve("/me/passkeys", "GET", passkey_routes.enabled(bearer(Needs.SESSION, passkey_routes.passkeys)))


# Removing a passkey is an account change (a recent proof); renaming one is not.
@app.route("/me/passkeys/{passkey_id}", methods=ALL_METHODS, content_types=ANY_BODY)
def me_passkey(passkey_id: str) -> Response:
    return _serve_methods(
        "/me/passkeys/{passkey_id}",
        {
            "PATCH": passkey_routes.enabled(bearer(Needs.SESSION, passkey_routes.rename(passkey_id))),
            "DELETE": passkey_routes.enabled(bearer(Needs.RECENT, passkey_routes.remove(passkey_id))),
        },
    )


# Two-step sign-in. bearer(Needs.X, ...) is the session a route needs: ENROLLMENT (any live session, also one
# that may only enroll), SESSION (a full one), STEP_UP (AAL2 proven within OTP_STEP_UP_SECONDS), RECENT (above).
# /mfa/verify takes no bearer token: the mfa_token in its body is the credential.
@app.route("/mfa/totp", methods=ALL_METHODS, content_types=ANY_BODY)
def mfa_totp() -> Response:
    return _serve_methods(
        "/mfa/totp",
        {
            "POST": mfa_routes.enabled(bearer(Needs.ENROLLMENT, mfa_routes.enroll)),
            "DELETE": mfa_routes.enabled(bearer(Needs.STEP_UP, mfa_routes.disable)),
        },
    )


@app.route("/mfa/totp/confirm", methods=ALL_METHODS, content_types=ANY_BODY)
def mfa_totp_confirm() -> Response:
    return _serve("/mfa/totp/confirm", "POST", mfa_routes.enabled(bearer(Needs.ENROLLMENT, mfa_routes.confirm)))


@app.route("/mfa/verify", methods=ALL_METHODS, content_types=ANY_BODY)
def mfa_verify() -> Response:
    return _serve("/mfa/verify", "POST", mfa_routes.enabled(mfa_routes.verify))


@app.route("/mfa/reauthenticate", methods=ALL_METHODS, content_types=ANY_BODY)
def mfa_reauthenticate() -> Response:
    return _serve("/mfa/reauthenticate", "POST", mfa_routes.enabled(bearer(Needs.SESSION, mfa_routes.reauthenticate)))


@app.route("/mfa/recovery-codes", methods=ALL_METHODS, content_types=ANY_BODY)
def mfa_recovery_codes() -> Response:
    return _serve("/mfa/recovery-codes", "POST", mfa_routes.enabled(bearer(Needs.STEP_UP, mfa_routes.regenerate)))


# Admins only (chalicelib/http/admin_routes.py): reading() needs an admin's token at AAL2; acting() also needs the
# admin's last proof within OTP_ADMIN_STEP_UP_SECONDS. The access log names the route by its template.
@app.route("/admin/users", methods=ALL_METHODS, content_types=ANY_BODY)
def admin_users() -> Response:
    return _serve("/admin/users", "GET", admin_routes.reading(admin_routes.users))


@app.route("/admin/users/{user_id}/lock", methods=ALL_METHODS, content_types=ANY_BODY)
def admin_lock(user_id: str) -> Response:
    return _serve("/admin/users/{id}/lock", "POST", admin_routes.acting(Action.LOCK, user_id))


@app.route("/admin/users/{user_id}/unlock", methods=ALL_METHODS, content_types=ANY_BODY)
def admin_unlock(user_id: str) -> Response:
    return _serve("/admin/users/{id}/unlock", "POST", admin_routes.acting(Action.UNLOCK, user_id))


@app.route("/admin/users/{user_id}/signout", methods=ALL_METHODS, content_types=ANY_BODY)
def admin_signout(user_id: str) -> Response:
    return _serve("/admin/users/{id}/signout", "POST", admin_routes.acting(Action.SIGN_OUT, user_id))


@app.route("/admin/users/{user_id}/mfa", methods=ALL_METHODS, content_types=ANY_BODY)
def admin_mfa(user_id: str) -> Response:
    return _serve("/admin/users/{id}/mfa", "DELETE", admin_routes.acting(Action.DELETE_MFA, user_id))


@app.route("/admin/users/{user_id}/passkeys/{passkey_id}", methods=ALL_METHODS, content_types=ANY_BODY)
def admin_passkey(user_id: str, passkey_id: str) -> Response:
    return _serve(
        "/admin/users/{id}/passkeys/{passkey_id}",
        "DELETE",
        admin_routes.acting(Action.DELETE_PASSKEY, user_id, passkey_id),
    )


@app.route("/admin/users/{user_id}/clear-failures", methods=ALL_METHODS, content_types=ANY_BODY)
def admin_clear_failures(user_id: str) -> Response:
    return _serve("/admin/users/{id}/clear-failures", "POST", admin_routes.acting(Action.CLEAR_FAILURES, user_id))


@app.route("/admin/audit", methods=ALL_METHODS, content_types=ANY_BODY)
def admin_audit() -> Response:
    return _serve("/admin/audit", "GET", admin_routes.reading(admin_routes.audit))


@app.route("/admin/stats", methods=ALL_METHODS, content_types=ANY_BODY)
def admin_stats() -> Response:
    return _serve("/admin/stats", "GET", admin_routes.reading(admin_routes.stats))


@app.route("/otp", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/token/refresh", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/token/revoke", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/signout", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/me", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/me/phone", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/me/phone/verify", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/reauthenticate", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/.well-known/jwks.json", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/.well-known/openid-configuration", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/oauth2/login", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/oauth2/login/reject", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/me/consents", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/me/consents/{client_id}", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/passkeys/register/options", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/passkeys/register", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/passkeys/signin/options", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/passkeys/signin", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/passkeys/reauthenticate/options", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/passkeys/reauthenticate", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/passkeys/verify/options", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/passkeys/verify", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/me/passkeys", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/me/passkeys/{passkey_id}", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/mfa/totp", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/mfa/totp/confirm", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/mfa/verify", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/mfa/reauthenticate", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/mfa/recovery-codes", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/admin/users", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/admin/users/{user_id}/lock", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/admin/users/{user_id}/unlock", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/admin/users/{user_id}/signout", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/admin/users/{user_id}/mfa", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/admin/users/{user_id}/passkeys/{passkey_id}", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/admin/users/{user_id}/clear-failures", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/admin/audit", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/admin/stats", methods=["OPTIONS"], content_types=ANY_BODY)
def preflight(**_path: str) -> Response:  # {user_id}, {passkey_id} arrive as keywords
    request = _request()
    return exchange.preflight(request, public=request.path in PUBLIC_DOCUMENTS)  # path: the route's template


# What the pages of the OpenID Connect clients call from a browser: readable from the clients' web origins too.
@app.route("/oauth2/token", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/oauth2/userinfo", methods=["OPTIONS"], content_types=ANY_BODY)
@app.route("/oauth2/revoke", methods=["OPTIONS"], content_types=ANY_BODY)
def client_preflight() -> Response:
    return oauth_routes.preflight(_request())
