"""Property-based fuzzing of the whole HTTP API (Hypothesis), in-process through Chalice's test client and moto.

Over 2000 generated requests: every route and method, bodies of arbitrary bytes, arbitrary JSON, and objects that
are nearly valid (each field of every JSON type, real codes, real and damaged tokens); for the OpenID Connect
provider, nearly valid authorization requests, forms and client credentials with real and damaged login challenges,
codes, ID tokens and clients' tokens; headers with random and near-valid content types, bearer tokens and origins.
The service's state carries over from request to request, and its clock moves in steps that cross cooldowns, code
lifetimes and quota windows, so later requests meet spent quotas, used codes, rotated and revoked tokens.

The property: never a 5xx (no fault is injected here); every answer JSON with a human ``message`` and a
``code`` and message from the catalogue (``chalicelib/http/errors.py``, which docs/api.md lists) for that route
and method, with the headers the catalogue promises, but the provider's own endpoints' answers, which are those
the standards say and docs/api.md lists for the route (a redirect or a page to a browser, RFC 6749's JSON to a
client); an ``OPTIONS`` preflight is a 204 without a body. Runs derandomised (the same requests on every run).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.internal.conjecture import providers

from app import PUBLIC_DOCUMENTS, app
from chalicelib import wiring
from chalicelib.http import errors, oauth_routes
from chalicelib.oauth.requests import AAL2
from tests.conftest import FakeClock, code_in, override_settings, sent_mails, sent_texts
from tests.oauth_flow import DEMO, DEMO_REDIRECT, EXAMPLE, EXAMPLE_REDIRECT, EXAMPLE_SECRET, basic, pkce, query_of

EXAMPLES = 2800  # the routes of the provider are a third of all: as many requests per route as before them
SEED_EVERY = 100  # a fresh sign-in every so many examples
MIN_REQUESTS = 2000
ROUTES = {
    "/otp": ("POST",),
    "/token/refresh": ("POST",),
    "/token/revoke": ("POST",),
    "/signout": ("POST",),
    "/me": ("GET",),
    "/me/phone": ("POST", "DELETE"),
    "/me/phone/verify": ("POST",),
    "/reauthenticate": ("POST",),
    "/.well-known/jwks.json": ("GET",),
    "/.well-known/openid-configuration": ("GET",),
    "/mfa/totp": ("POST", "DELETE"),
    "/mfa/totp/confirm": ("POST",),
    "/mfa/verify": ("POST",),
    "/mfa/reauthenticate": ("POST",),
    "/mfa/recovery-codes": ("POST",),
}
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# The provider's endpoints no page fetches answer no preflight (tests/test_api.py), and Chalice's test client cannot
# read the bodiless answer Chalice gives in its place: they are sent every method but OPTIONS.
UNFETCHED = {path for path, entries in app.routes.items() if "OPTIONS" not in entries}


def methods_of(path: str) -> list[str]:
    return [method for method in METHODS if not (method == "OPTIONS" and path in UNFETCHED)]


def answers(*entries: errors.Answer) -> set[tuple[int, str]]:
    return {(entry.status, entry.code) for entry in entries}


BODY_ERRORS = answers(errors.INVALID_JSON, errors.INVALID_BODY, errors.BODY_TOO_LARGE)
THROTTLES = answers(*errors.CODE_THROTTLES)
PHONE_ERRORS = answers(errors.INVALID_PHONE, errors.PHONE_NOT_SUPPORTED)
# docs/api.md: what each route may answer to its own method, without a failing dependency.
CATALOGUE = {
    "/otp": answers(
        errors.CODE_SENT,
        errors.VERIFIED,
        errors.MISSING_ACTION,
        errors.UNKNOWN_ACTION,
        errors.INVALID_EMAIL,
        errors.INVALID_OTP,
        errors.INVALID_CODE,
    )
    | BODY_ERRORS
    | THROTTLES
    | PHONE_ERRORS,
    "/token/refresh": answers(errors.REFRESHED, errors.INVALID_TOKEN, errors.INVALID_REFRESH_TOKEN) | BODY_ERRORS,
    "/token/revoke": answers(errors.REVOKED, errors.INVALID_REFRESH_TOKEN) | BODY_ERRORS,
    "/signout": answers(errors.SIGNED_OUT, errors.INVALID_TOKEN) | BODY_ERRORS,
    "/me": answers(errors.SIGNED_IN, errors.INVALID_TOKEN),
    "/me/phone": answers(
        errors.LINK_CODE_SENT,
        errors.PHONE_REMOVED,
        errors.INVALID_TOKEN,
        errors.ACCOUNT_HAS_PHONE,
        errors.PHONE_NOT_LINKED,
        errors.PHONE_IS_PRIMARY,
        errors.REAUTHENTICATION_BY_CODE_REQUIRED,
    )
    | PHONE_ERRORS
    | BODY_ERRORS
    | THROTTLES,
    "/me/phone/verify": answers(
        errors.PHONE_LINKED,
        errors.INVALID_TOKEN,
        errors.INVALID_CODE,
        errors.INVALID_OTP,
        errors.PHONE_ALREADY_LINKED,
        errors.ACCOUNT_HAS_PHONE,
        errors.REAUTHENTICATION_BY_CODE_REQUIRED,
    )
    | PHONE_ERRORS
    | BODY_ERRORS
    | THROTTLES,
    "/reauthenticate": answers(
        errors.REAUTHENTICATION_CODE_SENT,
        errors.REAUTHENTICATED,
        errors.INVALID_TOKEN,
        errors.USE_SECOND_FACTOR,
        errors.INVALID_VIA,
        errors.INVALID_OTP,
        errors.INVALID_CODE,
    )
    | PHONE_ERRORS
    | BODY_ERRORS
    | THROTTLES,
    "/.well-known/jwks.json": answers(errors.JWKS),
    "/.well-known/openid-configuration": answers(errors.OPENID_CONFIGURATION),
}
# Answers of other stages' two-step policies, each only where app.py can give it: 403 mfa_disabled_here (OFF) on
# the /mfa routes, 403 mfa_enrollment_required (REQUIRED) on a bearer route that needs more than ENROLLMENT.
DISABLED_HERE = answers(errors.MFA_DISABLED_HERE)
ENROLLMENT_REQUIRED = answers(errors.MFA_ENROLLMENT_REQUIRED)
PROOFS = answers(errors.INVALID_CODE, errors.MFA_PROOF_BODY, errors.INVALID_OTP, errors.TOO_MANY_FAILURES)
CATALOGUE["/otp"] |= answers(errors.MFA_REQUIRED)
for path in ("/me", "/me/phone", "/me/phone/verify", "/reauthenticate"):
    CATALOGUE[path] |= ENROLLMENT_REQUIRED
CATALOGUE.update(
    {
        "/mfa/totp": answers(
            errors.TOTP_ENROLLMENT,
            errors.MFA_ALREADY_ENABLED,
            errors.MFA_DISABLED,
            errors.MFA_NOT_ENABLED,
            errors.REAUTHENTICATION_REQUIRED,
            errors.INVALID_TOKEN,
        )
        | DISABLED_HERE
        | ENROLLMENT_REQUIRED,  # DELETE needs step-up
        "/mfa/totp/confirm": answers(
            errors.MFA_ENABLED,
            errors.INVALID_CODE,
            errors.INVALID_OTP,
            errors.NO_PENDING_ENROLLMENT,
            errors.MFA_ALREADY_ENABLED,
            errors.INVALID_TOKEN,
        )
        | BODY_ERRORS
        | DISABLED_HERE,
        "/mfa/verify": answers(errors.VERIFIED, errors.INVALID_MFA_TOKEN) | PROOFS | BODY_ERRORS | DISABLED_HERE,
        "/mfa/reauthenticate": answers(errors.REAUTHENTICATED, errors.INVALID_TOKEN, errors.MFA_NOT_ENABLED)
        | PROOFS
        | BODY_ERRORS
        | DISABLED_HERE
        | ENROLLMENT_REQUIRED,
        "/mfa/recovery-codes": answers(
            errors.RECOVERY_CODES, errors.REAUTHENTICATION_REQUIRED, errors.MFA_NOT_ENABLED, errors.INVALID_TOKEN
        )
        | DISABLED_HERE
        | ENROLLMENT_REQUIRED,
    }
)
# The admin routes: the fuzz's tokens are no admin's, but every answer a route documents counts.
NOBODY = "0b6e3c5a-8f0e-4a51-9d43-6f1f2d7c9e10"
ADMIN_CALLER = answers(errors.INVALID_TOKEN, errors.ADMIN_REQUIRED, errors.ADMIN_MFA_REQUIRED) | ENROLLMENT_REQUIRED
ADMIN_CHANGE = (
    ADMIN_CALLER
    | BODY_ERRORS
    | answers(errors.REAUTHENTICATION_REQUIRED, errors.USER_NOT_FOUND, errors.INVALID_USER_ID, errors.REASON_REQUIRED)
)
ADMIN_ACTIONS = {
    "lock": ("POST", answers(errors.USER_LOCKED, errors.CANNOT_LOCK_SELF)),
    "unlock": ("POST", answers(errors.USER_UNLOCKED)),
    "signout": ("POST", answers(errors.USER_SIGNED_OUT)),
    "mfa": ("DELETE", answers(errors.USER_MFA_REMOVED)),
    f"passkeys/{'0' * 32}": ("DELETE", answers(errors.USER_PASSKEY_REMOVED, errors.PASSKEY_NOT_FOUND)),
    "clear-failures": ("POST", answers(errors.USER_FAILURES_CLEARED)),
}
ROUTES.update(
    {
        "/admin/users": ("GET",),
        "/admin/audit": ("GET",),
        "/admin/stats": ("GET",),
        **{f"/admin/users/{NOBODY}/{action}": (method,) for action, (method, _) in ADMIN_ACTIONS.items()},
    }
)
CATALOGUE["/otp"] |= answers(errors.ACCOUNT_LOCKED)
CATALOGUE["/mfa/verify"] |= answers(errors.ACCOUNT_LOCKED)
CATALOGUE.update(
    {
        "/admin/users": ADMIN_CALLER
        | answers(
            errors.USER_FOUND,
            errors.USER_NOT_FOUND,
            errors.INVALID_LOOKUP,
            errors.INVALID_USER_ID,
            errors.INVALID_EMAIL,
        )
        | PHONE_ERRORS,
        "/admin/audit": ADMIN_CALLER | answers(errors.AUDIT_ENTRIES, errors.INVALID_LIMIT),
        "/admin/stats": ADMIN_CALLER | answers(errors.ADMIN_STATS, errors.INVALID_HOURS),
        **{f"/admin/users/{NOBODY}/{action}": ADMIN_CHANGE | done for action, (_, done) in ADMIN_ACTIONS.items()},
    }
)
# The OpenID Connect provider. The sign-in UI's routes answer from the catalogue like every route above.
CONSENT = f"/me/consents/{EXAMPLE}"
ROUTES.update({"/oauth2/login": ("GET", "POST"), "/oauth2/login/reject": ("POST",), "/me/consents": ("GET",)})
ROUTES[CONSENT] = ("DELETE",)
CATALOGUE.update(
    {
        "/oauth2/login": answers(
            errors.LOGIN_REQUEST,
            errors.LOGIN_ACCEPTED,
            errors.CONSENT_REQUIRED,
            errors.LOGIN_CHALLENGE_INVALID,
            errors.INVALID_TOKEN,
            errors.REAUTHENTICATION_REQUIRED,
            errors.REAUTHENTICATION_BY_CODE_REQUIRED,
        )
        | BODY_ERRORS
        | ENROLLMENT_REQUIRED,
        "/oauth2/login/reject": answers(
            errors.LOGIN_REJECTED, errors.INVALID_LOGIN_ERROR, errors.LOGIN_CHALLENGE_INVALID
        )
        | BODY_ERRORS,
        "/me/consents": answers(errors.CONSENTS, errors.INVALID_TOKEN) | ENROLLMENT_REQUIRED,
        CONSENT: answers(errors.CONSENT_WITHDRAWN, errors.NO_CONSENT, errors.INVALID_TOKEN) | ENROLLMENT_REQUIRED,
    }
)
# Passkeys: a passkey of the fuzz's is no one's, so every answer is a refusal or a ceremony's options.
PASSKEY = "/me/passkeys/" + "0" * 32
PASSKEY_ROUTES = {
    "/passkeys/register/options": ("POST",),
    "/passkeys/register": ("POST",),
    "/passkeys/signin/options": ("POST",),
    "/passkeys/signin": ("POST",),
    "/passkeys/reauthenticate/options": ("POST",),
    "/passkeys/reauthenticate": ("POST",),
    "/passkeys/verify/options": ("POST",),
    "/passkeys/verify": ("POST",),
    "/me/passkeys": ("GET",),
    PASSKEY: ("PATCH", "DELETE"),
}
ROUTES.update(PASSKEY_ROUTES)
PASSKEY_ANSWER = BODY_ERRORS | answers(errors.PASSKEY_BODY, errors.INVALID_PASSKEY, errors.PASSKEYS_DISABLED_HERE)
CATALOGUE.update(
    {
        "/passkeys/register/options": answers(
            errors.PASSKEY_REGISTRATION_OPTIONS,
            errors.INVALID_PASSKEY,
            errors.PASSKEY_LIMIT,
            errors.PASSKEY_QUOTA_EXCEEDED,
            errors.PASSKEYS_DISABLED_HERE,
            errors.INVALID_TOKEN,
            errors.REAUTHENTICATION_REQUIRED,
            errors.REAUTHENTICATION_BY_CODE_REQUIRED,
        )
        | ENROLLMENT_REQUIRED,
        "/passkeys/register": PASSKEY_ANSWER
        | answers(errors.PASSKEY_REGISTERED, errors.PASSKEY_NAME, errors.PASSKEY_LIMIT, errors.INVALID_TOKEN)
        | ENROLLMENT_REQUIRED,
        "/passkeys/signin/options": answers(
            errors.PASSKEY_SIGN_IN_OPTIONS, errors.PASSKEY_QUOTA_EXCEEDED, errors.PASSKEYS_DISABLED_HERE
        ),
        "/passkeys/signin": PASSKEY_ANSWER
        | answers(errors.VERIFIED, errors.ACCOUNT_LOCKED, errors.IP_FAILURE_QUOTA_EXCEEDED),
        "/passkeys/reauthenticate/options": answers(
            errors.PASSKEY_REAUTHENTICATION_OPTIONS,
            errors.PASSKEY_NOT_FOUND,
            errors.INVALID_PASSKEY,
            errors.PASSKEY_QUOTA_EXCEEDED,
            errors.PASSKEYS_DISABLED_HERE,
            errors.INVALID_TOKEN,
        )
        | ENROLLMENT_REQUIRED,
        "/passkeys/reauthenticate": PASSKEY_ANSWER
        | answers(errors.REAUTHENTICATED, errors.INVALID_TOKEN)
        | ENROLLMENT_REQUIRED,
        # The second factor with a passkey: the mfa_token is the credential (no bearer token).
        "/passkeys/verify/options": BODY_ERRORS
        | DISABLED_HERE
        | answers(
            errors.PASSKEY_SECOND_FACTOR_OPTIONS,
            errors.INVALID_MFA_TOKEN,
            errors.PASSKEY_NOT_FOUND,
            errors.PASSKEY_QUOTA_EXCEEDED,
            errors.PASSKEYS_DISABLED_HERE,
        ),
        "/passkeys/verify": PASSKEY_ANSWER
        | DISABLED_HERE
        | answers(errors.VERIFIED, errors.INVALID_MFA_TOKEN, errors.ACCOUNT_LOCKED, errors.IP_FAILURE_QUOTA_EXCEEDED),
        "/me/passkeys": answers(errors.PASSKEY_LIST, errors.INVALID_TOKEN, errors.PASSKEYS_DISABLED_HERE)
        | ENROLLMENT_REQUIRED,
        PASSKEY: BODY_ERRORS
        | answers(
            errors.PASSKEY_RENAMED,
            errors.PASSKEY_REMOVED,
            errors.PASSKEY_NAME,
            errors.PASSKEY_NOT_FOUND,
            errors.PASSKEYS_DISABLED_HERE,
            errors.INVALID_TOKEN,
            errors.REAUTHENTICATION_REQUIRED,
            errors.REAUTHENTICATION_BY_CODE_REQUIRED,
        )
        | ENROLLMENT_REQUIRED,
    }
)
# A client's access token on a route of the person's own: every route that takes a bearer token but userinfo.
for path in (
    "/me",
    "/signout",
    "/me/phone",
    "/me/phone/verify",
    "/reauthenticate",
    "/mfa/totp",
    "/mfa/totp/confirm",
    "/mfa/reauthenticate",
    "/mfa/recovery-codes",
    "/admin/users",
    "/admin/audit",
    "/admin/stats",
    *(f"/admin/users/{NOBODY}/{action}" for action in ADMIN_ACTIONS),
    "/oauth2/login",
    "/me/consents",
    CONSENT,
    "/passkeys/register/options",
    "/passkeys/register",
    "/passkeys/reauthenticate/options",
    "/passkeys/reauthenticate",
    "/me/passkeys",
    PASSKEY,
):
    CATALOGUE[path] |= answers(errors.INSUFFICIENT_SCOPE)
# The provider's own endpoints answer as the standards say (check_page, check_client): a browser's with a redirect
# or a page (its code shown under its words), a client's with JSON, a success's own fields or RFC 6749's error. What
# each may answer, as (status, code): REDIRECT for a 302, SUCCESS for a client's 200, else the page's code or error.
REDIRECT, SUCCESS = "redirect", "success"
BROWSER_ROUTES = {"/oauth2/authorize": ("GET",), "/oauth2/logout": ("GET", "POST")}
CLIENT_ROUTES = {
    "/oauth2/token": ("POST",),
    "/oauth2/userinfo": ("GET", "POST"),
    "/oauth2/revoke": ("POST",),
    "/oauth2/introspect": ("POST",),
}
ROUTES.update({**BROWSER_ROUTES, **CLIENT_ROUTES})
CLIENT_AUTHENTICATION = {(400, "invalid_request"), (401, "invalid_client")}
OAUTH_CATALOGUE: dict[str, set[tuple[int, str]]] = {
    "/oauth2/authorize": {(302, REDIRECT), (400, "invalid_request")},
    "/oauth2/logout": {(302, REDIRECT), (200, errors.SIGNED_OUT.code), (400, "invalid_request")},
    "/oauth2/token": {
        (200, SUCCESS),
        (400, "invalid_grant"),
        (400, "unsupported_grant_type"),
        (400, "invalid_scope"),
        *CLIENT_AUTHENTICATION,
    },
    "/oauth2/userinfo": {(200, SUCCESS), (401, "invalid_token")},
    "/oauth2/revoke": {(200, SUCCESS), *CLIENT_AUTHENTICATION},
    "/oauth2/introspect": {(200, SUCCESS), *CLIENT_AUTHENTICATION},
}
ALLOWED_ORIGIN = "http://127.0.0.1:8501"  # in the local stage's OTP_CORS_ORIGINS
HOME = "fuzz@example.com"
ADDRESSES = [
    HOME,
    "Fuzz@Example.COM",
    f"  {HOME}\t",
    "other.person+tag@example.org",
    "x@xn--mnchen-3ya.de",
    "a@münchen.de",
    "\u0430dmin@example.com",
    "a@b",
    "@example.com",
    "fuzz@",
    "fuzz@@example.com",
    f"{HOME}\r\nBcc: victim@example.com",
    '"quoted"@example.com',
    "a" * 250 + "@example.com",
    "fuzz@example.com.",
    "fuzz@[127.0.0.1]",
    "fuzz@localhost",
    "a@b.c",
    "",
]


class Real:
    """Stands for a live value of the run, filled in when the request is made."""

    def __init__(self, what: str, damage: str = "") -> None:
        self.what, self.damage = what, damage

    def __repr__(self) -> str:
        return f"Real({self.what!r}, {self.damage!r})"


# -- strategies ---------------------------------------------------------------------------------------------


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, picked in proportion to its weight (``one_of`` would ignore repetitions)."""
    return st.sampled_from([strategy for weight, strategy in choices for _ in range(weight)]).flatmap(lambda s: s)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
damages = st.sampled_from(["", "", "", "truncate", "flip", "append", "swap_parts", "lower", "strip_dots"])
access_tokens = st.builds(Real, st.just("access"), damages)
refresh_tokens = st.builds(Real, st.just("refresh"), damages)
any_token = access_tokens | refresh_tokens
client_access = st.builds(Real, st.just("client_access"), damages)  # an OpenID Connect client's
client_refresh = st.builds(Real, st.just("client_refresh"), damages)
real_codes = st.builds(Real, st.just("code"), st.sampled_from(["", "", "", "space", "flip"]))
codes = weighted(
    (8, real_codes),
    (2, st.from_regex(r"\A[0-9]{6}\Z")),
    (1, st.from_regex(r"\A[0-9]{0,12}\Z") | st.text(max_size=12)),
    (
        1,
        st.sampled_from(
            [
                "\u0661\u0662\u0663\u0664\u0665\u0666",
                "12 456",
                "+12345",
                "0x1234",
                "\uff11\uff12\uff13\uff14\uff15\uff16",
                " 123456 ",
            ]
        ),
    ),
    (1, st.integers() | st.floats(allow_nan=False) | st.none() | st.lists(st.integers(), max_size=3)),
)
addresses = weighted(
    (4, st.just(HOME)),
    (4, st.builds("person{}@example.com".format, st.integers(0, 40))),
    (3, st.sampled_from(ADDRESSES)),
    (1, st.emails()),
    (1, st.text(max_size=40) | json_scalars),
)
HOME_PHONE = "+14155550123"
PHONES = [
    HOME_PHONE,
    "+1 (415) 555-0123",
    " +14155550123 ",
    "+14155550124",
    "+447400123456",
    "+61412345678",
    "+19002345678",
    "+18002345678",
    "+441212345678",
    "+5511987654321",
    "14155550123",
    "+1 415 555 0123 x7",
    "+1-800-FLOWERS",
    "+",
    "+1",
    "+14155550123\n",
    "+\u0661\u0664\u0661\u0665",
    "+" + "9" * 40,
    "",
]
# Valid numbers a code must never go to: premium-rate, toll-free, shared-cost, a landline, a pager, VoIP, a country
# the stage does not serve.
REFUSED_PHONES = [
    "+19002345678",
    "+18002345678",
    "+4918012345",
    "+441212345678",
    "+447640123456",
    "+445612345678",
    "+5511987654321",
    "+8613812345678",
]
# Refused numbers weigh as much as the account's own: a stale session now meets /me/phone's recent-proof check
# before its number is read, so a refused number's answer comes mostly from /otp, and the depth check needs it.
phones = weighted(
    (4, st.just(HOME_PHONE)),
    (3, st.builds("+1212555{:04d}".format, st.integers(0, 40))),
    (3, st.sampled_from(PHONES)),
    (4, st.sampled_from(REFUSED_PHONES)),
    (1, st.from_regex(r"\A\+[0-9 ()-]{0,20}\Z")),
    (1, st.text(max_size=20) | json_scalars),
)
actions = st.sampled_from(["send_otp"] * 3 + ["verify_otp"] * 5 + ["SEND_OTP", " send_otp", "delete"])


def mostly(value: st.SearchStrategy[Any], weight: int = 6) -> st.SearchStrategy[Any]:
    """``value`` most of the time, any JSON value (of any type) otherwise."""
    return weighted((weight, value), (1, json_values))


otp_bodies = weighted(
    (
        4,
        st.fixed_dictionaries(
            {"action": mostly(actions), "email": mostly(addresses)},
            optional={"otp": mostly(codes), "extra": json_values},
        ),
    ),
    (
        3,
        st.fixed_dictionaries(
            {"action": mostly(actions), "phone": mostly(phones)}, optional={"otp": mostly(codes), "email": addresses}
        ),
    ),
    (
        1,
        st.fixed_dictionaries(
            {},
            optional={
                "action": mostly(actions),
                "email": mostly(addresses),
                "otp": mostly(codes),
                "refresh_token": any_token,
            },
        ),
    ),
)
refresh_bodies = weighted(
    (
        4,
        st.fixed_dictionaries(
            {
                "refresh_token": mostly(
                    weighted(
                        (6, refresh_tokens), (1, any_token), (1, st.sampled_from(["rt1.x.y.z", "rt1...", "rt1", ""]))
                    )
                )
            }
        ),
    ),
    (1, st.fixed_dictionaries({}, optional={"refresh_token": any_token, "extra": json_values})),
)
signout_bodies = st.fixed_dictionaries({}, optional={"everywhere": mostly(st.booleans(), 3), "extra": json_values})
generic_bodies = st.one_of(
    json_values,
    st.binary(max_size=300),
    st.just(b""),
    st.builds(lambda n: b'{"action": "send_otp", "email": "' + b"a" * n + b'@example.com"}', st.integers(4000, 5000)),
    st.builds(lambda n: b"[" * n + b"]" * n, st.integers(500, 3000)),
)
mfa_bodies = st.fixed_dictionaries(
    {},
    optional={
        "otp": mostly(codes),
        "recovery_code": mostly(st.text(max_size=24) | st.just("abcd-efgh-ijkl-mnop")),
        "mfa_token": mostly(st.sampled_from(["mt1.x.y.z", "mt1...", ""]) | st.text(max_size=40) | any_token),
    },
)
phone_bodies = st.fixed_dictionaries({"phone": mostly(phones)}, optional={"otp": mostly(codes), "email": addresses})
reauthentication_bodies = st.fixed_dictionaries(
    {}, optional={"otp": mostly(codes), "via": mostly(st.sampled_from(["email", "phone"])) | json_values}
)


@dataclass(frozen=True)
class Form:
    """A form-encoded body (or query): its fields, in order, some of them :class:`Real`."""

    fields: tuple[tuple[str, Any], ...]


def form(*required: tuple[str, st.SearchStrategy[Any]], **optional: st.SearchStrategy[Any]) -> st.SearchStrategy[Form]:
    """A form with ``required`` fields (now and then one left out or given twice) and any of ``optional``."""

    @st.composite
    def build(draw: st.DrawFn) -> Form:
        fields = [(name, draw(value)) for name, value in required]
        fields += [(name, draw(value)) for name, value in optional.items() if draw(st.booleans())]
        damage = draw(st.sampled_from(["", "", "", "", "", "drop", "twice"]))
        if damage == "drop" and fields:
            fields.pop(draw(st.integers(0, len(fields) - 1)))
        elif damage == "twice" and fields:
            fields.append(fields[draw(st.integers(0, len(fields) - 1))])
        return Form(tuple(fields))

    return build()


VERIFIER, CHALLENGE = pkce()  # one PKCE pair for the whole run: a code is redeemed with the verifier it was asked with
CLIENTS = st.sampled_from([(EXAMPLE, EXAMPLE_REDIRECT)] * 3 + [(DEMO, DEMO_REDIRECT)] * 2)
redirects = st.sampled_from([EXAMPLE_REDIRECT, DEMO_REDIRECT, "https://evil.example/cb", ""])
scopes = st.sampled_from(["openid email offline_access", "openid", "openid phone", "email", "openid bogus", ""])
some_text = st.text(max_size=20)
authorization_requests = CLIENTS.flatmap(
    lambda registered: form(
        ("response_type", mostly(st.just("code"), 12) | st.just("token")),
        ("client_id", mostly(st.just(registered[0]), 12) | st.just("nobody")),
        ("redirect_uri", mostly(st.just(registered[1]), 12) | redirects),
        ("scope", mostly(st.just("openid email offline_access"), 3) | scopes),
        ("state", mostly(st.text(min_size=1, max_size=12), 12) | st.just("x" * 600)),
        ("code_challenge", mostly(st.just(CHALLENGE), 12) | some_text),
        ("code_challenge_method", mostly(st.just("S256"), 12) | st.just("plain")),
        nonce=some_text,
        prompt=st.sampled_from(["none", "login", "consent", "none login", "select_account"]),
        max_age=st.sampled_from(["0", "3600", "x"]),
        login_hint=addresses,
        acr_values=st.just(AAL2),
        request=some_text,
    )
)
# Mostly the latest challenge as it is: each is spent once, and most are worth trying while they last.
challenges = weighted(
    (12, st.builds(Real, st.just("challenge"))), (2, st.builds(Real, st.just("challenge"), damages)), (1, json_values)
)
login_queries = form(("login_challenge", challenges))
accept_bodies = st.fixed_dictionaries(
    {"login_challenge": challenges}, optional={"consent": mostly(st.booleans(), 3), "extra": json_values}
)
passkey_bodies = st.fixed_dictionaries(
    {},
    optional={
        "ceremony": mostly(st.text(alphabet="ABCabc012_-", min_size=43, max_size=43) | st.text(max_size=50)),
        "credential": mostly(
            st.fixed_dictionaries(
                {},
                optional={
                    "id": mostly(st.text(max_size=200)),
                    "rawId": json_values,
                    "type": mostly(st.just("public-key")),
                    "response": mostly(
                        st.dictionaries(
                            st.sampled_from(
                                ["clientDataJSON", "userHandle", "signature", "authenticatorData", "attestationObject"]
                            ),
                            mostly(st.text(max_size=80)),
                        )
                    ),
                },
            )
        ),
        "name": mostly(st.text(max_size=70)),
    },
)
reject_bodies = st.fixed_dictionaries(
    {"login_challenge": challenges},
    optional={"error": mostly(st.sampled_from(["access_denied", "login_required"]), 3)},
)
id_tokens = weighted(
    (6, st.builds(Real, st.just("id_token"))), (2, st.builds(Real, st.just("id_token"), damages)), (1, some_text)
)
logout_requests = form(
    ("id_token_hint", id_tokens),
    client_id=st.sampled_from([EXAMPLE, DEMO, "nobody"]),
    post_logout_redirect_uri=st.sampled_from([EXAMPLE_REDIRECT, "https://evil.example/"]),
    state=some_text,
)
oauth_codes = weighted((6, st.builds(Real, st.just("oauth_code"), damages)), (1, some_text))
any_client_token = weighted((3, client_access), (3, client_refresh), (1, any_token), (1, some_text))
grants = st.sampled_from(["authorization_code"] * 3 + ["refresh_token"] * 2 + ["password", ""])
token_requests = st.one_of(
    form(
        ("grant_type", mostly(st.just("authorization_code"), 12) | grants),
        ("code", oauth_codes),
        ("redirect_uri", CLIENTS.map(lambda registered: registered[1]) | redirects),
        ("code_verifier", mostly(st.just(VERIFIER), 12) | some_text),
        client_id=st.sampled_from([EXAMPLE, DEMO]),
        client_secret=st.sampled_from([EXAMPLE_SECRET, "wrong"]),
    ),
    form(
        ("grant_type", mostly(st.just("refresh_token"), 12) | grants),
        ("refresh_token", weighted((6, client_refresh), (1, any_token))),
        scope=scopes,
        client_id=st.sampled_from([EXAMPLE, DEMO]),
    ),
)
token_forms = form(
    ("token", any_client_token),
    token_type_hint=st.sampled_from(["access_token", "refresh_token", "x"]),
    client_id=st.sampled_from([EXAMPLE, DEMO]),
    client_secret=st.sampled_from([EXAMPLE_SECRET, "wrong"]),
)
BODIES = {
    "/otp": otp_bodies,
    "/me/phone": phone_bodies,
    "/me/phone/verify": phone_bodies,
    "/reauthenticate": reauthentication_bodies,
    "/token/refresh": refresh_bodies,
    "/token/revoke": refresh_bodies,
    "/signout": signout_bodies,
    "/me": st.just(b""),
    "/.well-known/jwks.json": st.just(b""),
    "/.well-known/openid-configuration": st.just(b""),
    "/mfa/totp": st.just(b""),
    "/mfa/totp/confirm": mfa_bodies,
    "/mfa/verify": mfa_bodies,
    "/mfa/reauthenticate": mfa_bodies,
    "/mfa/recovery-codes": st.just(b""),
    "/admin/users": st.just(b""),
    "/admin/audit": st.just(b""),
    "/admin/stats": st.just(b""),
    **{
        f"/admin/users/{NOBODY}/{action}": st.fixed_dictionaries({}, optional={"reason": json_values})
        for action in ADMIN_ACTIONS
    },
    "/oauth2/login": accept_bodies,
    "/oauth2/login/reject": reject_bodies,
    "/me/consents": st.just(b""),
    CONSENT: st.just(b""),
    **{path: passkey_bodies for path in PASSKEY_ROUTES},
    "/me/passkeys": st.just(b""),
    "/oauth2/authorize": st.just(b""),
    "/oauth2/logout": logout_requests,
    "/oauth2/token": token_requests,
    "/oauth2/userinfo": st.just(b""),
    "/oauth2/revoke": token_forms,
    "/oauth2/introspect": token_forms,
}
QUERIES: dict[str, st.SearchStrategy[Any]] = {
    "/oauth2/authorize": authorization_requests,
    "/oauth2/logout": logout_requests,
    "/oauth2/login": login_queries,
}
encodings = st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "latin-1"])
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60)
content_types = st.one_of(
    st.none(),
    header_text,
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=xyz",
            "application/octet-stream",
            "image/png",
            "*/*",
            "",
        ]
    ),
)
bearer_tokens = st.builds(lambda token: ("Bearer", token), access_tokens)
authorizations = weighted(
    (6, bearer_tokens),
    (1, st.none() | header_text),
    (
        1,
        st.builds(
            lambda scheme, token: (scheme, token),
            st.sampled_from(["bearer", "BEARER", "Basic", "Bearer ", "Token", ""]),
            any_token,
        ),
    ),
    (1, st.sampled_from(["Bearer", "Bearer ", "Bearer null", "Bearer e30.e30.", "Bearer a.b.c"])),
    (1, st.builds(lambda token: ("Bearer", token), client_access)),  # a client's token where the person's goes
)
origins = st.one_of(
    st.none(),
    header_text,
    st.sampled_from([ALLOWED_ORIGIN, "http://localhost:8501", "null", "https://evil.example", ALLOWED_ORIGIN + "/"]),
)
accepts = st.one_of(
    st.none(),
    st.sampled_from(["*/*", "application/json", "application/octet-stream", "image/png", "text/html"]),
    header_text,
)
headers = st.fixed_dictionaries(
    {}, optional={"content-type": content_types, "origin": origins, "accept": accepts, "x-forwarded-for": header_text}
)
# The provider's client endpoints: a form, and the client's credentials (or userinfo's bearer token).
form_headers = st.fixed_dictionaries(
    {"content-type": weighted((4, st.just(oauth_routes.FORM)), (1, content_types))},
    optional={"origin": origins, "accept": accepts},
)
client_credentials = weighted(
    (6, st.just(basic(EXAMPLE, EXAMPLE_SECRET))),
    (1, st.sampled_from([basic(EXAMPLE, "wrong"), basic(DEMO, ""), basic(DEMO, "x"), "Basic !!", "Basic"])),
    (1, st.builds(lambda token: ("Bearer", token), any_client_token)),
)
client_authorizations = {
    **{path: client_credentials for path in ("/oauth2/token", "/oauth2/revoke", "/oauth2/introspect")},
    "/oauth2/userinfo": weighted((6, st.builds(lambda token: ("Bearer", token), client_access)), (2, authorizations)),
}


@dataclass(frozen=True)
class FuzzRequest:
    method: str
    path: str
    query: str | Form
    headers: dict[str, Any]
    body: Any
    encoding: str
    advance: int
    prelude: bool  # for a verify: first a send to the same address or number (61 s later, past the cooldown)


@st.composite
def requests(draw: st.DrawFn) -> FuzzRequest:
    """Mostly each route's own method with a body made for it; the rest anything at all."""
    # The admin actions only once in a while: with the fuzz's non-admin tokens they all answer alike.
    path = draw(
        st.sampled_from(
            ["/otp"] * 5
            + ["/token/refresh"] * 3
            + ["/me", "/signout", "/me/phone", "/me/phone/verify"] * 2
            + [path for path in ROUTES if not path.startswith("/admin/users/")]
            + [f"/admin/users/{NOBODY}/lock"]
            # A client's way through the OpenID Connect flow, and out of it.
            + ["/oauth2/authorize", "/oauth2/login", "/oauth2/token", "/oauth2/userinfo", "/oauth2/revoke"]
            + ["/oauth2/logout", CONSENT]
        )
    )
    method = draw(st.sampled_from(list(ROUTES[path]) * 6 + methods_of(path)))
    body = draw(weighted((4, BODIES[path]), (1, generic_bodies)))
    generic_query = st.sampled_from(["", "", "", "", "?", "?action=send_otp", "?a=1&a=2"])
    authorization = client_authorizations.get(path, authorizations)
    return FuzzRequest(
        method=method,
        path=path,
        query=draw(weighted((6, QUERIES[path]), (1, generic_query)) if path in QUERIES else generic_query),
        headers={
            **draw(form_headers if isinstance(body, Form) else headers),
            **draw(weighted((3, st.builds(dict, authorization=authorization)), (1, st.just({})))),
        },
        body=body,
        encoding=draw(encodings),
        advance=draw(st.sampled_from([0] * 12 + [1, 5, 11, 31, 601, 3600, 86_400])),
        prelude=draw(st.sampled_from([True, False, False])),
    )


# -- running ------------------------------------------------------------------------------------------------


@dataclass
class Live:
    """What the run has handed out so far: the latest tokens, the provider's latest challenge, code and client
    tokens, and, per address, the latest mailed code."""

    access: list[str] = field(default_factory=list)
    refresh: list[str] = field(default_factory=list)
    provider: dict[str, list[str]] = field(
        default_factory=lambda: {
            name: [] for name in ("challenge", "oauth_code", "client_access", "client_refresh", "id_token")
        }
    )
    seen: Counter[tuple[str, str, int, str]] = field(default_factory=Counter)

    def resolve(self, value: Any, to: Any) -> Any:
        if isinstance(value, Form):
            return Form(tuple((name, str(self.resolve(item, to))) for name, item in value.fields))
        if isinstance(value, dict):
            return {key: self.resolve(item, to) for key, item in value.items()}
        if isinstance(value, tuple):  # (scheme, token) of an Authorization header
            scheme, token = value
            return f"{scheme} {self.resolve(token, to)}"
        if not isinstance(value, Real):
            return value
        if value.what == "code":
            raw = latest_code(to)
        else:
            pool = {"access": self.access, "refresh": self.refresh, **self.provider}[value.what]
            raw = pool[-1] if pool else "none"
        return damage(raw, value.damage)

    def learn(self, body: dict[str, Any]) -> None:
        for name, pool in (("access_token", self.access), ("refresh_token", self.refresh)):
            if isinstance(body.get(name), str):
                pool.append(body[name])

    def learn_provider(self, path: str, status: int, headers: dict[str, str], raw: bytes) -> None:
        """A login challenge from the authorization endpoint's redirect, a code from an accepted login's, a
        client's tokens from the token endpoint."""
        if path == "/oauth2/authorize" and status == 302:
            self._keep("challenge", query_of(headers["Location"]).get("login_challenge"))
        elif path == "/oauth2/login" and status == 200 and raw.startswith(b"{"):
            self._keep("oauth_code", query_of(str(json.loads(raw).get("redirect_to", ""))).get("code"))
        elif path == "/oauth2/token" and status == 200:
            tokens = json.loads(raw)
            for name, pool in (("access_token", "client_access"), ("refresh_token", "client_refresh")):
                self._keep(pool, tokens.get(name))
            self._keep("id_token", tokens.get("id_token"))

    def _keep(self, pool: str, value: str | None) -> None:
        if value:
            self.provider[pool].append(value)


def latest_code(to: Any) -> str:
    """The code last mailed or texted to ``to`` (an address or a number, as the request spells it)."""
    if isinstance(to, str) and to.strip().startswith("+"):
        digits = "+" + "".join(char for char in to if char.isdigit())
        texted = [text for number, text in sent_texts() if number == digits]
        found = re.search(r"\b\d{6}\b", texted[-1]) if texted else None
        return found.group(0) if found else "123456"
    mailed = [mail for mail in sent_mails() if isinstance(to, str) and mail["to"] == [to.strip().lower()]]
    return code_in(mailed[-1]) if mailed else "123456"


def damage(token: str, how: str) -> str:
    if how == "truncate":
        return token[: len(token) * 2 // 3]
    if how == "flip":
        i = len(token) // 2
        return token[:i] + ("A" if token[i : i + 1] != "A" else "B") + token[i + 1 :]
    if how == "append":
        return token + "x"
    if how == "swap_parts":
        return ".".join(reversed(token.split(".")))
    if how == "lower":
        return token.lower()
    if how == "strip_dots":
        return token.replace(".", "")
    if how == "space":
        return f" {token} "
    return token


def encode(body: Any, encoding: str) -> bytes:
    """A body as sent: bytes as they are, a (resolved) form or JSON in ``encoding``."""
    if isinstance(body, bytes):
        return body
    text = urlencode(body.fields) if isinstance(body, Form) else json.dumps(body, ensure_ascii=False)
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:  # not representable in latin-1: send it as UTF-8 after all
        return text.encode("utf-8", errors="surrogatepass")


@dataclass(frozen=True)
class Sent:
    """A request as it went: its query, body and content type, all resolved."""

    query: str
    body: bytes
    content_type: str


ORIGINS = {ALLOWED_ORIGIN, "http://localhost:8501"}  # the local stage's; its clients declare no web origins


def check(request: FuzzRequest, status: int, headers: dict[str, str], raw: bytes, sent: Sent) -> str:
    """The property, for one answer; returns the answer's code."""
    shown = f"{request.method} {request.path}: {status} {raw[:300]!r}"
    if request.method == "OPTIONS":
        assert (status, raw) == (204, b""), shown
        return "preflight"
    if request.path in BROWSER_ROUTES:
        return check_page(request, status, headers, raw, sent, shown)
    assert status < 500, shown
    if request.path in CLIENT_ROUTES:
        return check_client(request, status, headers, raw, shown)
    body = json.loads(raw)
    assert isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"], shown
    assert isinstance(body.get("code"), str), shown
    answer = (status, body["code"])
    if request.method not in ROUTES[request.path]:
        assert answer == (405, "method_not_allowed"), shown
    else:
        assert answer in CATALOGUE[request.path], shown
    entries = [entry for entry in errors.CATALOGUE.values() if entry.code == body["code"]]
    assert any(entry.matches(body["message"]) for entry in entries), shown
    assert headers["Content-Type"] == "application/json", shown
    assert headers["X-Content-Type-Options"] == "nosniff", shown
    if status == 429:
        assert int(headers["Retry-After"]) == body["retry_after"] > 0, shown
    if answer == (401, "invalid_token"):
        assert headers["WWW-Authenticate"] == 'Bearer error="invalid_token"', shown
    if answer == (200, "jwks"):
        assert sorted(key["kty"] for key in body["keys"]) == ["EC", "RSA"], shown
    origin = request.headers.get("origin")
    if request.path in PUBLIC_DOCUMENTS:  # any origin reads them, whatever the request says
        assert headers["Access-Control-Allow-Origin"] == "*" and "Vary" not in headers, shown
    else:
        assert ("Access-Control-Allow-Origin" in headers) == (origin in ORIGINS), shown
    return body["code"]


def check_page(request: FuzzRequest, status: int, headers: dict[str, str], raw: bytes, sent: Sent, shown: str) -> str:
    """A browser endpoint's answer: a 302 with a Location and no body, or a page whose code is among those the
    route may show; never framed or cached, never readable by another origin's page."""
    assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store", shown
    assert headers["X-Content-Type-Options"] == "nosniff" and "Access-Control-Allow-Origin" not in headers, shown
    if status == 302:
        assert raw == b"" and headers["Location"], shown
        answer = (status, REDIRECT)
    else:
        assert headers["Content-Type"] == "text/html; charset=utf-8", shown
        (code,) = re.findall(r"<small>([a-z_]+)</small>", raw.decode())
        answer = (status, code)
    if request.method not in ROUTES[request.path]:
        assert answer == (405, errors.METHOD_NOT_ALLOWED.code), shown
    else:
        assert status < 500 and answer in OAUTH_CATALOGUE[request.path], shown
    return answer[1]


# What a client endpoint's success always holds.
SUCCESS_FIELDS = {
    "/oauth2/token": {"access_token", "token_type", "expires_in", "scope"},
    "/oauth2/userinfo": {"sub"},
    "/oauth2/revoke": set(),
    "/oauth2/introspect": {"active"},
}


def check_client(request: FuzzRequest, status: int, headers: dict[str, str], raw: bytes, shown: str) -> str:
    """A client endpoint's answer: JSON, a success's fields or RFC 6749's error among the route's, never cached,
    with the challenge its 401 owes."""
    assert headers["Content-Type"] == "application/json" and headers["X-Content-Type-Options"] == "nosniff", shown
    assert (headers["Cache-Control"], headers["Pragma"]) == ("no-store", "no-cache"), shown
    body = json.loads(raw)
    assert isinstance(body, dict), shown
    if status == 200:
        assert SUCCESS_FIELDS[request.path] <= set(body), shown
        answer = (status, SUCCESS)
    else:
        assert set(body) == {"error", "error_description"} and all(isinstance(v, str) for v in body.values()), shown
        answer = (status, body["error"])
    if request.method not in ROUTES[request.path]:
        assert answer == (405, "invalid_request"), shown
    else:
        assert answer in OAUTH_CATALOGUE[request.path], shown
    if answer == (401, "invalid_client"):
        assert headers["WWW-Authenticate"] == oauth_routes.REALM, shown
    if answer == (401, "invalid_token"):
        assert headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"'), shown
    assert ("Access-Control-Allow-Origin" in headers) == (request.headers.get("origin") in ORIGINS), shown
    return answer[1]


SEND = FuzzRequest("POST", "/otp", "", {}, None, "utf-8", 0, False)


# What the fuzz reaches of the OpenID Connect flow, by route: each seed's sign-in to the example client, its tokens
# used where they work and where only the person's own do, and what the fuzzed requests reach many times over:
# authorization requests, revocations, userinfo refusals, logouts.
PROVIDER_DEPTH = {
    ("/oauth2/authorize", REDIRECT),
    ("/oauth2/login", "login_request"),
    ("/oauth2/login", "login_accepted"),
    ("/oauth2/token", SUCCESS),
    ("/oauth2/userinfo", SUCCESS),
    ("/oauth2/userinfo", "invalid_token"),
    ("/oauth2/revoke", SUCCESS),
    ("/oauth2/logout", errors.SIGNED_OUT.code),
    ("/me/consents", "consent_list"),
    ("/me", "insufficient_scope"),
}


# What each two-step policy answers that the others do not, beside what every stage answers (see below).
POLICY_ANSWERS = {
    "OPTIONAL": {"signed_in"},
    "REQUIRED": {"mfa_enrollment_required"},  # a session of an account without a factor may only enroll one
    "OFF": {"signed_in", "mfa_disabled_here"},
}


@pytest.fixture
def same_requests_everywhere(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Hypothesis draws now and then a constant it found in the project's modules imported so far (its "local
    constants", hypothesis.internal.conjecture.providers), so one seed made other requests in a process that had
    imported other modules: in a pytest-xdist worker, after other tests, after any change to the code's constants.
    The fuzz goes without them, and makes the same requests wherever it runs. (Internals of the pinned Hypothesis: if
    they move, setattr fails loudly.)"""
    monkeypatch.setattr(providers, "_get_local_constants", providers.Constants)
    providers.CONSTANTS_CACHE.cache.clear()  # what other tests' runs cached of the constants
    yield
    providers.CONSTANTS_CACHE.cache.clear()


# The default policy is in the fast tier; the others' runs (as long) only in make test.
@pytest.mark.parametrize(
    "policy",
    ["OPTIONAL", pytest.param("REQUIRED", marks=pytest.mark.slow), pytest.param("OFF", marks=pytest.mark.slow)],
)
def test_no_request_gets_a_5xx_or_an_answer_outside_the_catalogue(
    client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, policy: str, same_requests_everywhere: None
) -> None:
    override_settings(monkeypatch, OTP_MFA=policy)
    live = Live()
    seen: Counter[tuple[str, str, str]] = Counter()

    def exchange(request: FuzzRequest, body: Any, headers: dict[str, Any]) -> str:
        query = request.query
        if isinstance(query, Form):
            query = "?" + urlencode(live.resolve(query, None).fields)
        sent = Sent(query, encode(body, request.encoding), str(headers.get("content-type", "")))
        answer = client.http.request(request.method, request.path + query, headers=headers, body=sent.body)
        code = check(request, answer.status_code, answer.headers, answer.body, sent)
        if answer.status_code == 200 and code in {"verified", "refreshed"}:
            live.learn(json.loads(answer.body))
        live.learn_provider(request.path, answer.status_code, answer.headers, answer.body)
        seen[(request.path, request.method, code)] += 1
        return code

    # One sign-in before the fuzzing, so that real tokens exist from the first example on.
    def seed(n: int) -> None:
        """A sign-in of an address of its own, then its sign-in to the example client: real tokens for what
        follows (fuzzed sign-outs, refresh replays, revocations and logouts end sessions, and a fuzz with only dead
        tokens would stop at invalid_token)."""
        exchange(SEND, {"action": "send_otp", "email": f"seed{n}@example.com"}, {})
        code = code_in([mail for mail in sent_mails() if mail["to"] == [f"seed{n}@example.com"]][-1])
        exchange(SEND, {"action": "verify_otp", "email": f"seed{n}@example.com", "otp": code}, {})
        authorization = Form(
            (
                ("response_type", "code"),
                ("client_id", EXAMPLE),
                ("redirect_uri", EXAMPLE_REDIRECT),
                ("scope", "openid email offline_access"),
                ("state", f"seed{n}"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            )
        )
        exchange(FuzzRequest("GET", "/oauth2/authorize", authorization, {}, b"", "utf-8", 0, False), b"", {})
        challenge = Form((("login_challenge", live.provider["challenge"][-1]),))
        exchange(FuzzRequest("GET", "/oauth2/login", challenge, {}, b"", "utf-8", 0, False), b"", {})
        accepting = FuzzRequest("POST", "/oauth2/login", "", {}, None, "utf-8", 0, False)
        consent = {"login_challenge": live.provider["challenge"][-1], "consent": True}
        if exchange(accepting, consent, {"authorization": f"Bearer {live.access[-1]}"}) != "login_accepted":
            return  # under OTP_MFA=required the seed's session may only enroll a factor
        redemption = Form(
            (
                ("grant_type", "authorization_code"),
                ("code", live.provider["oauth_code"][-1]),
                ("redirect_uri", EXAMPLE_REDIRECT),
                ("code_verifier", VERIFIER),
            )
        )
        exchange(
            FuzzRequest("POST", "/oauth2/token", "", {}, redemption, "utf-8", 0, False),
            redemption,
            {"content-type": oauth_routes.FORM, "authorization": basic(EXAMPLE, EXAMPLE_SECRET)},
        )
        # The client's token at userinfo and where only the person's own goes; the person's consents.
        for path, token in (
            ("/oauth2/userinfo", live.provider["client_access"][-1]),
            ("/me", live.provider["client_access"][-1]),
            ("/me/consents", live.access[-1]),
        ):
            exchange(
                FuzzRequest("GET", path, "", {}, b"", "utf-8", 0, False), b"", {"authorization": f"Bearer {token}"}
            )

    seed(0)
    assert live.access and live.refresh
    assert bool(live.provider["client_access"] and live.provider["id_token"]) == (policy != "REQUIRED")
    examples = Counter[str]()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(request=requests())
    def fuzz(request: FuzzRequest) -> None:
        examples["run"] += 1
        if examples["run"] % SEED_EVERY == 0:
            seed(examples["run"])
        clock.advance(request.advance)
        named = request.body if isinstance(request.body, dict) else {}
        to = named.get("phone") if isinstance(named.get("phone"), str) else named.get("email")
        body = live.resolve(request.body, to)
        headers = {name: live.resolve(value, to) for name, value in request.headers.items() if value is not None}
        verifying = isinstance(body, dict) and (
            body.get("action") == "verify_otp" or request.path == "/me/phone/verify"
        )
        if request.prelude and verifying:
            clock.advance(61)
            prelude = {"action": "send_otp", **{name: body[name] for name in ("email", "phone") if name in body}}
            if request.path == "/me/phone/verify":
                exchange(
                    FuzzRequest("POST", "/me/phone", "", request.headers, None, "utf-8", 0, False),
                    {"phone": body.get("phone")},
                    headers,
                )
            else:
                exchange(SEND, prelude, {})
            body = live.resolve(request.body, to)  # the code just sent
        exchange(request, body, headers)

    # Every route meets every method at least once, whatever the random draws below happen to cover; and one body
    # over the limit, as much an answer of every route as a malformed one (the draws are derandomized: a change of
    # the routes or their bodies changes which answers they reach).
    for path in ROUTES:
        for method in methods_of(path):
            exchange(
                FuzzRequest(method, path, "", {"content-type": "text/plain"}, {}, "utf-8", 0, False),
                {},
                {"content-type": "text/plain"},
            )
    too_large = b"{" + b" " * wiring.get_settings().max_body_bytes + b"}"
    exchange(SEND, too_large, {"content-type": "application/json"})
    fuzz()

    assert sum(seen.values()) >= MIN_REQUESTS
    # The fuzzing got deep: sign-ins, refreshes and sign-outs happened.
    assert {(path, method) for path, method, _ in seen} == {
        (path, method) for path in ROUTES for method in methods_of(path)
    }
    codes = {code for path, _, code in seen if path not in OAUTH_CATALOGUE}  # the catalogue's
    assert {
        "code_sent",
        "verified",
        "refreshed",
        "signed_out",
        "revoked",
        "invalid_code",
        "invalid_token",
        "resend_cooldown",
        "body_too_large",
        "invalid_phone",
        "phone_not_supported",
        *POLICY_ANSWERS[policy],
    } <= codes, sorted(codes)
    # ... and through the OpenID Connect flow, where a session may sign in to a client (OTP_MFA=required: only
    # enroll a factor).
    reached = {(path, code) for path, _, code in seen}
    assert policy == "REQUIRED" or reached >= PROVIDER_DEPTH, sorted(PROVIDER_DEPTH - reached)
    print(f"\n{sum(seen.values())} requests; answers by code: {dict(Counter(c for _, _, c in seen.elements()))}")


def test_the_catalogue_is_the_code_s() -> None:
    """The answers this test accepts are those of the code's catalogue (which tests/test_errors.py holds against
    docs/api.md) that need no failing dependency or broken stage: all of them, and only them."""
    accepted = {answer for route in CATALOGUE.values() for answer in route} | answers(errors.METHOD_NOT_ALLOWED)
    assert accepted == {(entry.status, entry.code) for entry in errors.CATALOGUE.values() if entry.status < 500}


@pytest.mark.parametrize("content_type", ["", "text/plain", "application/octet-stream"])
def test_an_options_request_with_a_content_type_gets_the_preflight_answer(client: Client, content_type: str) -> None:
    answer = client.http.request("OPTIONS", "/otp", headers={"content-type": content_type, "origin": ALLOWED_ORIGIN})
    assert (answer.status_code, answer.body) == (204, b"")
    assert answer.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
