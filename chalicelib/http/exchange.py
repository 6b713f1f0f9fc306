"""The HTTP face of the service: request parsing, errors as answers, CORS and the access log.

Every answer is JSON ``{"message": <human text>, "code": <stable machine code>, ...}``; no exception escapes
to Chalice, whose own error bodies (``{"Code", "Message"}``) and stack traces never reach a client. The codes,
statuses and messages are declared in :mod:`chalicelib.http.errors`; this module maps exceptions onto them.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalice.app import Request, Response

from chalicelib import wiring
from chalicelib.accounts.identifiers import EMAIL, PHONE, Identifier, mask
from chalicelib.accounts.sessions import Principal
from chalicelib.accounts.store import Account
from chalicelib.aws.dependencies import DependencyError
from chalicelib.config import ConfigError
from chalicelib.core import assurance, metric_names
from chalicelib.core.refusals import InsufficientScope, InvalidCode, InvalidPasskey, Refusal, SessionRejected
from chalicelib.http import direct, errors, metrics, network
from chalicelib.http.errors import ApiError, ErrorKind

logger = logging.getLogger(__name__)

Headers = dict[str, str | list[str]]  # an answer's headers, as chalice.Response takes them (its HeadersType)

SECURITY_HEADERS = {
    "Content-Type": "application/json",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
TRANSIENT_RETRY_AFTER = 2
# Headers of our answers a page's fetch() must read that are not CORS-safelisted: a browser hides them from
# another origin unless they are listed (a 429's or a 503's wait, a 401's bearer error).
EXPOSED_HEADERS = "Retry-After, WWW-Authenticate"
# What a preflight's answer allows the request to be. Expose-Headers is not among them: it goes on the answer to
# the request itself (a browser ignores it on a preflight's).
PRIVATE_PREFLIGHT = {
    "Access-Control-Allow-Methods": "GET, POST, PATCH, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization",
    "Access-Control-Max-Age": "600",
}
# A public document is only read (GET); "*" allows any header but Authorization, which it does not need.
PUBLIC_PREFLIGHT = {
    "Access-Control-Allow-Methods": "GET",
    "Access-Control-Allow-Headers": "*",
    "Access-Control-Max-Age": "600",
}


@dataclass
class Exchange:
    """One request as the handlers and the access log see it."""

    request: Request
    log: dict[str, Any] = field(default_factory=dict)

    def json_object(self, optional: bool = False) -> Mapping[str, Any]:
        """The body as a JSON object; with ``optional``, an empty body is an empty object."""
        try:
            raw = self.request.raw_body or b""
        except ValueError:  # a body marked base64 that is not: only a direct invocation can send one (direct.py)
            raise errors.INVALID_JSON.error() from None
        if optional and not raw.strip():
            return {}
        if len(raw) > wiring.get_settings().max_body_bytes:
            raise errors.BODY_TOO_LARGE.error()
        try:
            body = json.loads(raw or b"null")
        except (ValueError, RecursionError):
            raise errors.INVALID_JSON.error() from None
        if not isinstance(body, dict):
            raise errors.INVALID_BODY.error()
        return body

    def source_network(self) -> str | None:
        """The caller's source network (``chalicelib.http.network``): what the per-source send quota counts."""
        context = self.request.context or {}
        if context.get(direct.INVOKED_DIRECTLY) is True:
            return direct.NETWORK  # no gateway, so no source address: every such caller counts as one network
        identity = context.get("identity") or {}
        return network.source_network(identity.get("sourceIp"), wiring.get_settings().ipv6_prefix_length)

    def principal(self, needs: assurance.Needs = assurance.Needs.SESSION, clients: bool = False) -> Principal:
        """The signed-in caller named by the ``Authorization: Bearer`` header, or a 401; its session must meet
        ``needs`` (else 403 ``mfa_enrollment_required`` or 401 ``reauthentication_required``), and be one of the
        person's own unless ``clients`` (a session of an OpenID Connect client: 403 ``insufficient_scope``)."""
        scheme, _, token = self.request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise SessionRejected("no bearer token")
        now = wiring.now()
        principal = wiring.get_sessions().authenticate(token.strip(), now)
        self.identify(principal.account)
        if principal.session.client and not clients:
            raise InsufficientScope(principal.session.client)
        limits = wiring.get_settings().limits
        assurance.require(
            needs,
            limits.mfa_policy,
            principal.account.mfa,
            principal.aal,
            principal.auth_time,
            now,
            limits.step_up_seconds,
            principal.account.passkeys,
        )
        return principal

    def identify(self, who: Identifier | Account) -> None:
        """Name the identifier (or the account's) in the access log the only ways allowed there: pseudonymised
        and masked. An account is named by its address, else its number, as it was when it had only that."""
        if isinstance(who, Account):
            kind = EMAIL if EMAIL in who.identifiers else PHONE
            value = who.identifiers.get(kind)
            if value is None:
                self.log["user"] = wiring.get_hasher().pseudonym(who.id)
                return
        else:
            kind, value = who.kind, who.value
            self.channel(who)
        self.log["user"] = wiring.get_hasher().pseudonym(value)
        self.log["user_hint"] = mask(kind, value)

    def channel(self, to: Identifier) -> None:
        """Say in the access log which channel a code goes or came by, and a text's country (its metrics'
        dimensions, :mod:`chalicelib.http.metrics`)."""
        self.log[metric_names.CHANNEL] = metric_names.SMS_CHANNEL if to.kind == PHONE else metric_names.EMAIL_CHANNEL
        if to.kind == PHONE:
            self.log[metric_names.COUNTRY] = to.country

    def request_id(self) -> str:
        """API Gateway's id of this request (what its own logs name it by); one of our own where there is none
        (chalice local)."""
        given = (self.request.context or {}).get("requestId")
        return given if isinstance(given, str) and given else str(uuid.uuid4())


Handler = Callable[[Exchange], tuple[int, dict[str, Any]]]
BearerHandler = Callable[[Exchange, Principal], tuple[int, dict[str, Any]]]


class LazyRoutes:
    """A module of route handlers, imported when a request first asks it for one: what a container's first
    requests do not run is then no part of its cold start. ``LazyRoutes("chalicelib.http.x").handler`` is
    ``chalicelib.http.x.handler``."""

    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module(self._module), name)


def bearer(needs: assurance.Needs, handler: BearerHandler) -> Handler:
    """A route that needs a bearer token whose session meets ``needs``: what app.py declares per route."""

    def serve(exchange: Exchange) -> tuple[int, dict[str, Any]]:
        return handler(exchange, exchange.principal(needs))

    return serve


def respond(request: Request, route: str, handler: Handler, public_cache_seconds: int | None = None) -> Response:
    """Run ``handler`` and turn its result, or whatever it raised, into a JSON answer with CORS headers.

    Answers are private and uncacheable, readable only from the stage's CORS origins. A route given
    ``public_cache_seconds`` serves a public document: any origin may read its answers (:func:`cors_headers`),
    and caches may keep its successes that long.
    """
    started = time.perf_counter()
    exchange = Exchange(request, {"route": route, "method": request.method})
    try:
        status, body = handler(exchange)
        headers: Headers = {}
    except Exception as error:
        if isinstance(error, SessionRejected | InvalidCode | InvalidPasskey) and error.detail:
            # Fixed words, never request data: "reused" (a stolen refresh token; worth an alarm), "replayed" (a
            # used code presented again: not counted as a wrong code), "sign count regression" (a passkey that
            # may have been cloned; worth an alarm too).
            exchange.log["reason"] = error.detail
        failure = _as_api_error(error)
        status, body = failure.status, {"message": failure.message, "code": failure.code}
        headers = dict(failure.headers)
        if failure.retry_after is not None:
            body["retry_after"] = failure.retry_after
            headers["Retry-After"] = str(failure.retry_after)
    headers.update(SECURITY_HEADERS)
    public = public_cache_seconds is not None
    if public and status == 200:
        headers["Cache-Control"] = f"public, max-age={public_cache_seconds}"
    headers.update(cors_headers(request, public))
    log_answer(exchange, status, body["code"], started)
    return Response(body=body, status_code=status, headers=headers)


def log_answer(exchange: Exchange, status: int, code: str, started: float) -> None:
    """Write the request's access line (with its metrics, chalicelib/http/metrics.py): one JSON line per request."""
    exchange.log.update(status=status, code=code, latency_ms=round((time.perf_counter() - started) * 1000, 1))
    exchange.log.update(_metrics(exchange.log))
    print(json.dumps(exchange.log, sort_keys=True), flush=True)


def _metrics(log: dict[str, Any]) -> dict[str, Any]:
    """The EMF fields of the access line, if it records any metric (none when the stage's settings are bad:
    that answer is logged as an error already)."""
    try:
        settings = wiring.get_settings()
    except ConfigError:
        return {}
    values = metrics.observed(log, errors.THROTTLE_CODES, settings.sms_price)
    return metrics.embedded(log, values, settings.metrics_namespace, int(wiring.CLOCK() * 1000)) if values else {}


def preflight(request: Request, public: bool = False, also: frozenset[str] = frozenset()) -> Response:
    """Answer a CORS preflight: for a public document from any origin, else only from the stage's origins and
    ``also`` (the web origins of the OpenID Connect clients, on the endpoints their pages call)."""
    headers: Headers = {**_origin_headers(request, public, also)}
    if "Access-Control-Allow-Origin" in headers:
        headers.update(PUBLIC_PREFLIGHT if public else PRIVATE_PREFLIGHT)
    return Response(body="", status_code=204, headers=headers)


def cors_headers(request: Request, public: bool = False, also: frozenset[str] = frozenset()) -> dict[str, str]:
    """The CORS headers of an answer to ``request``: who may read it, and which of its headers a page sees.

    A public document (``public``) is readable from every origin: ``Access-Control-Allow-Origin: *`` whatever the
    request's ``Origin`` and the stage's settings, so nothing depends on that header and no ``Vary`` is needed.
    Any other answer is readable only from the stage's CORS origins, its ``Access-Control-Allow-Origin`` echoes
    the request's, and it carries ``Vary: Origin`` whenever the stage has origins: also an answer that allows no
    origin or answers a request without one, or a shared cache could serve it to another origin.

    Neither allows credentials (``Access-Control-Allow-Credentials``): the bearer token is a header, not a cookie,
    so a page never needs ``credentials: "include"``, and a wildcard could not be combined with it anyway.
    """
    headers = _origin_headers(request, public, also)
    if "Access-Control-Allow-Origin" in headers:
        headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    return headers


def _origin_headers(request: Request, public: bool, also: frozenset[str] = frozenset()) -> dict[str, str]:
    """``Access-Control-Allow-Origin`` if the request's origin may read the answer, and ``Vary`` (see
    :func:`cors_headers`)."""
    if public:
        return {"Access-Control-Allow-Origin": "*"}
    origin = request.headers.get("origin")
    try:
        allowed = (*wiring.get_settings().cors_origins, *also)
    except ConfigError:
        return {}
    if not allowed:
        return {}
    if origin and (origin in allowed or "*" in allowed):
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {"Vary": "Origin"}


def method_not_allowed(exchange: Exchange) -> tuple[int, dict[str, Any]]:
    raise errors.METHOD_NOT_ALLOWED.error(method=exchange.request.method)


# (when an immediate retry may work, when it will not), by failing service; any other service holds keys.
DEPENDENCY_FAILURES: dict[str, tuple[ErrorKind, ErrorKind]] = {
    "ses": (errors.MAIL_UNAVAILABLE, errors.MAIL_REJECTED),
    "sns": (errors.SMS_UNAVAILABLE, errors.SMS_REJECTED),
    "dynamodb": (errors.STORAGE_UNAVAILABLE, errors.STORAGE_ERROR),
    "cloudwatch": (errors.METRICS_UNAVAILABLE, errors.METRICS_ERROR),
}
KEY_SERVICE_FAILURE = (errors.KEYS_UNAVAILABLE, errors.KEYS_ERROR)  # KMS, Secrets Manager, SSM


def _as_api_error(error: Exception) -> ApiError:
    if isinstance(error, ApiError):
        return error
    if isinstance(error, Refusal) and error.reason in errors.REFUSALS:
        kind = errors.REFUSALS[error.reason]
        # The answer shows the refusal's detail only where its words have a place for it (an input's fault).
        shown = {"reason": error.detail} if "reason" in kind.fields() else {}
        return kind.error(retry_after=error.retry_after, **shown)
    if isinstance(error, DependencyError):
        return _dependency_failure(error)
    if isinstance(error, ConfigError):
        logger.error("configuration: %s", error)
        return errors.MISCONFIGURED.error()
    # Only the frames, never the message: it could quote request data. A refusal whose reason has no answer is
    # a bug too; its reason is safe to log.
    reason = f" ({error.reason})" if isinstance(error, Refusal) else ""
    logger.error("unexpected %s%s\n%s", type(error).__name__, reason, "".join(traceback.format_tb(error.__traceback__)))
    return errors.INTERNAL_ERROR.error()


def _dependency_failure(error: DependencyError) -> ApiError:
    """503 with ``Retry-After`` when a retry may succeed at once, else 502; KMS and secrets count as keys."""
    logger.warning("%s failed: %s", error.service, error.detail)
    transient, permanent = DEPENDENCY_FAILURES.get(error.service, KEY_SERVICE_FAILURE)
    if error.transient:
        return transient.error(retry_after=TRANSIENT_RETRY_AFTER)
    return permanent.error()
