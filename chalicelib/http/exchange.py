"""The HTTP face of the service: request parsing, the error catalogue, CORS and the access log.

Every answer is JSON ``{"message": <human text>, "code": <stable machine code>, ...}``; no exception escapes
to Chalice, whose own error bodies (``{"Code", "Message"}``) and stack traces never reach a client.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalice.app import Request, Response

from chalicelib import wiring
from chalicelib.accounts.addresses import InvalidAddress, mask_address
from chalicelib.accounts.sessions import Principal, SessionRejected
from chalicelib.aws.dependencies import DependencyError
from chalicelib.config import ConfigError
from chalicelib.http import network
from chalicelib.otp.codes import MalformedCode
from chalicelib.otp.service import InvalidCode
from chalicelib.otp.store import Throttled

logger = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "Content-Type": "application/json",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
TRANSIENT_RETRY_AFTER = 2

THROTTLE_MESSAGES = {
    "resend_cooldown": "Please wait a moment before asking for another code.",
    "send_quota_exceeded": "Too many codes were requested for this address. Please try again later.",
    "ip_quota_exceeded": "Too many codes were requested from your network. Please try again later.",
    "too_many_failures": "Too many failed attempts for this address. Please try again later.",
}


class ApiError(Exception):
    """An answer other than success, with everything the client needs to act on it."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        retry_after: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.headers = headers or {}


@dataclass
class Exchange:
    """One request as the handlers and the access log see it."""

    request: Request
    log: dict[str, Any] = field(default_factory=dict)

    def json_object(self, optional: bool = False) -> Mapping[str, Any]:
        """The body as a JSON object; with ``optional``, an empty body is an empty object."""
        raw = self.request.raw_body or b""
        if optional and not raw.strip():
            return {}
        if len(raw) > wiring.get_settings().max_body_bytes:
            raise ApiError(400, "body_too_large", "The request body is too large.")
        try:
            body = json.loads(raw or b"null")
        except (ValueError, RecursionError):
            raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_body", "The request body must be a JSON object.")
        return body

    def source_network(self, ipv6_prefix_length: int = network.IPV6_PREFIX_LENGTH) -> str | None:
        """The caller's source network (``chalicelib.http.network``): what the per-source send quota counts."""
        identity = (self.request.context or {}).get("identity") or {}
        return network.source_network(identity.get("sourceIp"), ipv6_prefix_length)

    def principal(self) -> Principal:
        """The signed-in caller named by the ``Authorization: Bearer`` header, or a 401."""
        scheme, _, token = (self.request.headers or {}).get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise SessionRejected("no bearer token")
        principal = wiring.get_sessions().authenticate(token.strip(), wiring.now())
        self.identify(principal.email)
        return principal

    def identify(self, email: str) -> None:
        """Name the address in the access log the only ways allowed there: pseudonymised and masked."""
        self.log["user"] = wiring.get_hasher().pseudonym(email)
        self.log["user_hint"] = mask_address(email)


Handler = Callable[[Exchange], tuple[int, dict[str, Any]]]


def respond(request: Request, route: str, handler: Handler, public_cache_seconds: int = 0) -> Response:
    """Run ``handler`` and turn its result, or whatever it raised, into a JSON answer with CORS headers.

    Answers are private and uncacheable unless ``public_cache_seconds`` marks a success as public.
    """
    started = time.perf_counter()
    exchange = Exchange(request, {"route": route, "method": request.method})
    try:
        status, body = handler(exchange)
        headers: dict[str, str] = {}
    except Exception as error:
        if isinstance(error, SessionRejected):
            exchange.log["reason"] = str(error)  # e.g. "reused": a stolen refresh token; worth an alarm
        failure = _as_api_error(error)
        status, body = failure.status, {"message": failure.message, "code": failure.code}
        headers = dict(failure.headers)
        if failure.retry_after is not None:
            body["retry_after"] = failure.retry_after
            headers["Retry-After"] = str(failure.retry_after)
    headers.update(SECURITY_HEADERS)
    if public_cache_seconds and status == 200:
        headers["Cache-Control"] = f"public, max-age={public_cache_seconds}"
    headers.update(cors_headers(request))
    exchange.log.update(status=status, code=body["code"], latency_ms=round((time.perf_counter() - started) * 1000, 1))
    print(json.dumps(exchange.log, sort_keys=True), flush=True)
    return Response(body=body, status_code=status, headers=headers)


def preflight(request: Request) -> Response:
    """Answer a CORS preflight: allowed only from the stage's configured origins."""
    headers = cors_headers(request)
    if "Access-Control-Allow-Origin" in headers:
        headers.update(
            {
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": "Content-Type, Authorization",
                "Access-Control-Max-Age": "600",
            }
        )
    return Response(body="", status_code=204, headers=headers)


def cors_headers(request: Request) -> dict[str, str]:
    """The CORS headers for the request's origin, and ``Vary: Origin`` whenever the stage has CORS origins.

    With origins configured, every answer depends on the ``Origin`` header, also one that allows no origin or
    answers a request without one: without ``Vary`` a shared cache could serve it to another origin.
    """
    origin = (request.headers or {}).get("origin")
    try:
        allowed = wiring.get_settings().cors_origins
    except ConfigError:
        return {}
    if not allowed:
        return {}
    if origin and (origin in allowed or "*" in allowed):
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {"Vary": "Origin"}


def method_not_allowed(exchange: Exchange) -> tuple[int, dict[str, Any]]:
    raise ApiError(405, "method_not_allowed", f"{exchange.request.method} is not supported here.")


def _as_api_error(error: Exception) -> ApiError:
    if isinstance(error, ApiError):
        return error
    if isinstance(error, InvalidAddress):
        return ApiError(400, "invalid_email", f"Enter a valid email address. {error}")
    if isinstance(error, MalformedCode):
        return ApiError(400, "invalid_otp", f"The code is not well-formed: {error}.")
    if isinstance(error, SessionRejected):
        return ApiError(401, "invalid_token", "Your session is invalid or has ended. Please sign in again.",
                        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    if isinstance(error, InvalidCode):
        return ApiError(401, "invalid_code", "The code is invalid or has expired.")
    if isinstance(error, Throttled):
        return ApiError(429, error.reason, THROTTLE_MESSAGES[error.reason], error.retry_after)
    if isinstance(error, DependencyError):
        return _dependency_failure(error)
    if isinstance(error, ConfigError):
        logger.error("configuration: %s", error)
        return ApiError(500, "misconfigured", "The service is not configured correctly.")
    # Only the frames, never the message: it could quote request data.
    logger.error("unexpected %s\n%s", type(error).__name__, "".join(traceback.format_tb(error.__traceback__)))
    return ApiError(500, "internal_error", "Something went wrong on our side. Please try again.")


# (code when an immediate retry may work, message), (code when it will not, message), by failing service.
DEPENDENCY_FAILURES = {
    "ses": (
        ("mail_unavailable", "We could not send the mail just now. Please try again."),
        ("mail_rejected", "The mail service refused to send the code. Please try again later."),
    ),
    "dynamodb": (
        ("storage_unavailable", "The service is busy. Please try again in a moment."),
        ("storage_error", "The service could not complete the request. Please try again later."),
    ),
}
KEY_SERVICE_FAILURE = (
    ("keys_unavailable", "The service is busy. Please try again in a moment."),
    ("keys_error", "The service could not complete the request. Please try again later."),
)


def _dependency_failure(error: DependencyError) -> ApiError:
    """503 with ``Retry-After`` when a retry may succeed at once, else 502; KMS and secrets count as keys."""
    logger.warning("%s failed: %s", error.service, error.detail)
    transient, permanent = DEPENDENCY_FAILURES.get(error.service, KEY_SERVICE_FAILURE)
    if error.transient:
        return ApiError(503, *transient, retry_after=TRANSIENT_RETRY_AFTER)
    return ApiError(502, *permanent)
