"""chalicelib/http/exchange.py on its own: a request's body and source, the mapping of every exception onto an
answer, the CORS headers, ``bearer`` and ``LazyRoutes``, on hand-made Chalice requests (no route, no client).

The routes' answers as a client sees them are tests/test_api.py's and tests/test_errors.py's; these hold the
module's contracts as its docstrings state them, including the branches no route reaches easily.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from chalice.app import Request

from chalicelib import wiring
from chalicelib.accounts.identifiers import EMAIL, Identifier
from chalicelib.aws.dependencies import DependencyError
from chalicelib.config import ConfigError, Settings
from chalicelib.core import assurance, refusals
from chalicelib.core.refusals import (
    InvalidAddress,
    InvalidCode,
    InvalidPhone,
    MalformedCode,
    PhoneNotSupported,
    ReauthenticationRequired,
    Refusal,
    SessionRejected,
    Throttled,
)
from chalicelib.http import direct, errors, exchange, network
from chalicelib.http.errors import ErrorKind
from chalicelib.http.exchange import Exchange, LazyRoutes, bearer, cors_headers, preflight, respond

UI = "http://127.0.0.1:8501"  # one of the local stage's CORS origins (.chalice/config.json)
ELSEWHERE = "https://evil.example"


def request(
    body: str | bytes | None = None,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    context: dict[str, Any] | None = None,
    base64_encoded: bool = False,
) -> Request:
    """A request as Chalice builds it from API Gateway's event."""
    text = body.decode() if isinstance(body, bytes) else body
    return Request(
        {
            "multiValueQueryStringParameters": None,
            "headers": headers or {},
            "pathParameters": None,
            "requestContext": {"httpMethod": method, "resourcePath": "/otp", **(context or {})},
            "body": text,
            "isBase64Encoded": base64_encoded,
            "stageVariables": None,
        }
    )


@pytest.fixture
def stage(monkeypatch: pytest.MonkeyPatch, stage_env: dict[str, str]) -> Any:
    """Sets the ``local`` stage's settings, with overrides, as the ones ``wiring.get_settings`` answers."""

    def settle(**overrides: str) -> Settings:
        settings = Settings.from_environ({**stage_env, **overrides})
        # Cached, as wiring's own is: wiring.reset() clears it, also when the aws fixture ends after this one.
        monkeypatch.setattr(wiring, "get_settings", functools.cache(lambda: settings))
        return settings

    settle()
    return settle


def failure_of(error: Exception) -> errors.ApiError:
    return exchange._as_api_error(error)


# -- the body ------------------------------------------------------------------------------------------------


def test_a_json_object_body_is_read_as_it_is(stage: Any) -> None:
    assert Exchange(request('{"action": "send_otp", "n": [1, 2]}')).json_object() == {"action": "send_otp", "n": [1, 2]}


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (None, errors.INVALID_BODY),  # nothing is not an object
        ("", errors.INVALID_BODY),
        ("  \n ", errors.INVALID_JSON),  # blanks are not JSON
    ],
)
def test_an_empty_body_is_an_empty_object_only_where_optional(stage: Any, body: str | None, kind: ErrorKind) -> None:
    assert Exchange(request(body)).json_object(optional=True) == {}
    with pytest.raises(errors.ApiError) as refused:
        Exchange(request(body)).json_object()
    assert refused.value.kind is kind


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("{not json", errors.INVALID_JSON),
        ("[" * 100_000 + "]" * 100_000, errors.INVALID_JSON),  # json's recursion limit, refused like any bad JSON
        ('["an", "array"]', errors.INVALID_BODY),
        ('"a string"', errors.INVALID_BODY),
        ("null", errors.INVALID_BODY),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(stage: Any, body: str, kind: ErrorKind) -> None:
    stage(OTP_MAX_BODY_BYTES="1000000")
    with pytest.raises(errors.ApiError) as refused:
        Exchange(request(body)).json_object(optional=True)
    assert refused.value.kind is kind


def test_a_body_over_the_stage_limit_is_refused_before_it_is_parsed(stage: Any) -> None:
    stage(OTP_MAX_BODY_BYTES="256")
    at_limit = json.dumps({"pad": "x" * (256 - len('{"pad": ""}'))})
    assert len(at_limit) == 256 and Exchange(request(at_limit)).json_object()["pad"]
    with pytest.raises(errors.ApiError) as refused:
        Exchange(request("{" + " " * 300)).json_object()  # too large wins over not JSON: it is never parsed
    assert refused.value.kind is errors.BODY_TOO_LARGE


def test_a_body_marked_base64_is_decoded_and_one_that_is_not_base64_is_invalid_json(stage: Any) -> None:
    encoded = base64.b64encode(b'{"a": 1}').decode()
    assert Exchange(request(encoded, base64_encoded=True)).json_object() == {"a": 1}
    with pytest.raises(errors.ApiError) as refused:
        Exchange(request("not base64!", base64_encoded=True)).json_object()
    assert refused.value.kind is errors.INVALID_JSON


# -- the caller ----------------------------------------------------------------------------------------------


def test_a_direct_invocation_is_one_network_of_its_own(stage: Any) -> None:
    direct_call = request(context={direct.INVOKED_DIRECTLY: True, "identity": {"sourceIp": "203.0.113.9"}})
    assert Exchange(direct_call).source_network() == direct.NETWORK


def test_the_source_network_is_the_gateway_s_source_ip_s(stage: Any) -> None:
    settings = stage()

    def source(ip: str | None) -> str | None:
        return Exchange(request(context={"identity": {"sourceIp": ip}})).source_network()

    assert source("203.0.113.9") == network.source_network("203.0.113.9", settings.ipv6_prefix_length)
    assert source("203.0.113.9") != source("203.0.113.10")
    # One IPv6 customer's prefix is one source, whichever address of it they call from.
    assert source("2001:db8:1:2::1") == source("2001:db8:1:2:ffff::9")
    assert Exchange(request()).source_network() == network.source_network(None, settings.ipv6_prefix_length)


def test_the_request_id_is_the_gateway_s_else_a_fresh_one() -> None:
    assert Exchange(request(context={"requestId": "gw-42"})).request_id() == "gw-42"
    first, second = (Exchange(request()).request_id() for _ in range(2))
    assert first != second and str(uuid.UUID(first)) == first


def test_identify_logs_a_pseudonym_and_a_masked_hint_never_the_address(aws: None, stage: Any) -> None:
    seen = Exchange(request())
    seen.identify(Identifier(EMAIL, "alice@example.com"))
    assert seen.log["user"] == wiring.get_hasher().pseudonym("alice@example.com")
    assert "alice@example.com" not in json.dumps(seen.log)
    assert seen.log["user_hint"] and seen.log["user_hint"] != "alice@example.com"


def test_principal_without_a_bearer_token_is_rejected_before_any_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wiring, "get_sessions", lambda: pytest.fail("looked up a session without a token"))
    for authorization in (None, "", "Basic YTpi", "Bearer", "Bearer    ", "Token abc"):
        headers = {} if authorization is None else {"Authorization": authorization}
        with pytest.raises(SessionRejected):
            Exchange(request(headers=headers)).principal()


# -- exceptions as answers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (InvalidAddress("no @"), errors.INVALID_EMAIL),
        (InvalidPhone("too short"), errors.INVALID_PHONE),
        (PhoneNotSupported("not a mobile"), errors.PHONE_NOT_SUPPORTED),
        (MalformedCode("letters"), errors.INVALID_OTP),
        (SessionRejected("reused"), errors.INVALID_TOKEN),
        (InvalidCode(), errors.INVALID_CODE),
        (ReauthenticationRequired(by_code=True), errors.REAUTHENTICATION_BY_CODE_REQUIRED),
        (ReauthenticationRequired(by_passkey=True), errors.REAUTHENTICATION_BY_PASSKEY_REQUIRED),
        (ReauthenticationRequired(), errors.REAUTHENTICATION_REQUIRED),
        (ConfigError("OTP_TABLE is not set"), errors.MISCONFIGURED),
    ],
)
def test_each_refusal_of_the_core_is_its_answer(error: Exception, kind: ErrorKind) -> None:
    assert failure_of(error).kind is kind


def test_an_api_error_is_its_own_answer() -> None:
    raised = errors.INVALID_JSON.error()
    assert failure_of(raised) is raised


def declared_refusals() -> list[Refusal]:
    """One of every refusal chalicelib/core/refusals.py declares (the three kinds of re-authentication)."""
    kinds = [kind for kind in vars(refusals).values() if isinstance(kind, type) and issubclass(kind, Refusal)]
    plain = [kind("a detail") for kind in kinds if kind not in (Refusal, Throttled, ReauthenticationRequired)]
    again = [
        ReauthenticationRequired(),
        ReauthenticationRequired(by_code=True),
        ReauthenticationRequired(by_passkey=True),
    ]
    return [*plain, *again]


@pytest.mark.parametrize("refusal", declared_refusals(), ids=lambda refusal: refusal.reason)
def test_every_declared_refusal_is_the_answer_of_its_reason(refusal: Refusal) -> None:
    assert failure_of(refusal).kind is errors.REFUSALS[refusal.reason]


def test_every_answer_of_a_refusal_but_the_limits_has_its_refusal() -> None:
    others = {reason for reason, kind in errors.REFUSALS.items() if not kind.retries}  # tests/test_errors.py: limits
    assert others == {refusal.reason for refusal in declared_refusals()}


@pytest.mark.parametrize("reason", sorted(reason for reason, kind in errors.REFUSALS.items() if kind.retries))
def test_every_throttle_is_its_answer_with_the_store_s_wait(reason: str) -> None:
    failure = failure_of(Throttled(reason, 37))
    assert (failure.kind, failure.retry_after) == (errors.REFUSALS[reason], 37)


@pytest.mark.parametrize(
    ("service", "transient", "kind", "retry_after"),
    [
        ("ses", True, errors.MAIL_UNAVAILABLE, exchange.TRANSIENT_RETRY_AFTER),
        ("ses", False, errors.MAIL_REJECTED, None),
        ("sns", True, errors.SMS_UNAVAILABLE, exchange.TRANSIENT_RETRY_AFTER),
        ("dynamodb", False, errors.STORAGE_ERROR, None),
        ("cloudwatch", True, errors.METRICS_UNAVAILABLE, exchange.TRANSIENT_RETRY_AFTER),
        ("kms", True, errors.KEYS_UNAVAILABLE, exchange.TRANSIENT_RETRY_AFTER),  # any other service holds keys
        ("secretsmanager", False, errors.KEYS_ERROR, None),
    ],
)
def test_a_failing_service_is_a_503_to_retry_or_a_502(
    service: str, transient: bool, kind: ErrorKind, retry_after: int | None
) -> None:
    failure = failure_of(DependencyError(service, transient, "ThrottlingException"))
    assert (failure.kind, failure.retry_after) == (kind, retry_after)
    assert failure.status == (503 if transient else 502)


@pytest.mark.parametrize("error", [RuntimeError("boom for x@example.com"), Throttled("no_such_reason", 5)])
def test_anything_else_is_an_internal_error_logged_without_its_message(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="chalicelib"):
        assert failure_of(error).kind is errors.INTERNAL_ERROR
    logged = caplog.text
    assert type(error).__name__ in logged and "x@example.com" not in logged
    if isinstance(error, Throttled):
        assert "no_such_reason" in logged  # a throttle's reason is safe to log, and says which answer is missing


# -- respond -------------------------------------------------------------------------------------------------


def test_a_refusal_is_json_with_its_wait_in_the_body_and_the_header(
    stage: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    def throttled(_: Exchange) -> tuple[int, dict[str, Any]]:
        raise Throttled("resend_cooldown", 42)

    answer = respond(request(headers={"Origin": UI}), "/otp", throttled)
    assert answer.status_code == errors.RESEND_COOLDOWN.status
    assert answer.body == {"message": errors.RESEND_COOLDOWN.text(), "code": "resend_cooldown", "retry_after": 42}
    assert answer.headers["Retry-After"] == "42"
    assert {key: answer.headers[key] for key in exchange.SECURITY_HEADERS} == exchange.SECURITY_HEADERS
    assert answer.headers["Access-Control-Allow-Origin"] == UI
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert (line["route"], line["method"], line["status"], line["code"]) == ("/otp", "POST", 429, "resend_cooldown")


def test_a_public_document_is_cacheable_only_when_it_succeeds(stage: Any) -> None:
    def document(_: Exchange) -> tuple[int, dict[str, Any]]:
        return 200, {"message": "keys", "code": "jwks"}

    def failing(_: Exchange) -> tuple[int, dict[str, Any]]:
        raise DependencyError("kms", True, "throttled")

    public = respond(request(method="GET"), "/.well-known/jwks.json", document, public_cache_seconds=300)
    assert public.headers["Cache-Control"] == "public, max-age=300"
    assert public.headers["Access-Control-Allow-Origin"] == "*"
    refused = respond(request(method="GET"), "/.well-known/jwks.json", failing, public_cache_seconds=300)
    assert (refused.status_code, refused.headers["Cache-Control"]) == (503, "no-store")
    private = respond(request(), "/otp", document)
    assert private.headers["Cache-Control"] == "no-store"


# -- CORS ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", [UI, ELSEWHERE, None])
def test_a_public_answer_is_readable_from_every_origin_and_needs_no_vary(stage: Any, origin: str | None) -> None:
    headers = {} if origin is None else {"Origin": origin}
    assert cors_headers(request(headers=headers), public=True) == {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": exchange.EXPOSED_HEADERS,
    }
    stage(OTP_CORS_ORIGINS="")
    assert cors_headers(request(headers=headers), public=True)["Access-Control-Allow-Origin"] == "*"


def test_a_private_answer_is_readable_only_from_the_stage_origins(stage: Any) -> None:
    assert cors_headers(request(headers={"Origin": UI})) == {
        "Access-Control-Allow-Origin": UI,
        "Vary": "Origin",
        "Access-Control-Expose-Headers": exchange.EXPOSED_HEADERS,
    }
    # Refused or origin-less, it still varies by origin, or a shared cache could hand it to an allowed page.
    assert cors_headers(request(headers={"Origin": ELSEWHERE})) == {"Vary": "Origin"}
    assert cors_headers(request()) == {"Vary": "Origin"}
    assert not any("Credentials" in name for name in cors_headers(request(headers={"Origin": UI})))


def test_a_wildcard_stage_echoes_any_origin_and_a_stage_without_origins_says_nothing(stage: Any) -> None:
    stage(OTP_CORS_ORIGINS="*")
    assert cors_headers(request(headers={"Origin": ELSEWHERE}))["Access-Control-Allow-Origin"] == ELSEWHERE
    stage(OTP_CORS_ORIGINS="")
    assert cors_headers(request(headers={"Origin": UI})) == {}


def test_a_misconfigured_stage_allows_no_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> Settings:
        raise ConfigError("OTP_TABLE is not set")

    monkeypatch.setattr(wiring, "get_settings", broken)
    assert cors_headers(request(headers={"Origin": UI})) == {}
    assert cors_headers(request(headers={"Origin": UI}), public=True)["Access-Control-Allow-Origin"] == "*"


def test_a_preflight_allows_the_request_only_for_an_allowed_origin(stage: Any) -> None:
    allowed = preflight(request(method="OPTIONS", headers={"Origin": UI}))
    assert (allowed.status_code, allowed.body) == (204, "")
    assert allowed.headers == {"Access-Control-Allow-Origin": UI, "Vary": "Origin", **exchange.PRIVATE_PREFLIGHT}
    refused = preflight(request(method="OPTIONS", headers={"Origin": ELSEWHERE}))
    assert (refused.status_code, refused.headers) == (204, {"Vary": "Origin"})
    public = preflight(request(method="OPTIONS", headers={"Origin": ELSEWHERE}), public=True)
    assert public.headers == {"Access-Control-Allow-Origin": "*", **exchange.PUBLIC_PREFLIGHT}


# -- bearer and LazyRoutes -----------------------------------------------------------------------------------


def test_bearer_hands_the_handler_the_principal_of_the_needs_it_declares() -> None:
    asked: list[assurance.Needs] = []

    class Signed(Exchange):
        def principal(self, needs: assurance.Needs = assurance.Needs.SESSION) -> Any:
            asked.append(needs)
            return "the principal"

    def handler(seen: Exchange, principal: Any) -> tuple[int, dict[str, Any]]:
        return 200, {"exchange": seen, "principal": principal}

    signed = Signed(request())
    needs = list(assurance.Needs)[-1]
    assert bearer(needs, handler)(signed) == (200, {"exchange": signed, "principal": "the principal"})
    assert asked == [needs]


def test_bearer_runs_no_handler_for_a_caller_without_a_token() -> None:
    route = bearer(assurance.Needs.SESSION, lambda *_: pytest.fail("the handler ran"))
    with pytest.raises(SessionRejected):
        route(Exchange(request()))


def test_lazy_routes_import_their_module_at_the_first_attribute_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lazy_routes_probe.py").write_text("def handler(exchange):\n    return 200, {'code': 'ok'}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lazy_routes_probe", raising=False)
    routes = LazyRoutes("lazy_routes_probe")
    assert "lazy_routes_probe" not in sys.modules
    assert routes.handler(None) == (200, {"code": "ok"})
    assert sys.modules["lazy_routes_probe"].handler is routes.handler
    with pytest.raises(AttributeError):
        routes.no_such_handler  # noqa: B018
    monkeypatch.delitem(sys.modules, "lazy_routes_probe")
