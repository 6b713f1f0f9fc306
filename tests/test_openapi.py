"""docs/openapi.json: current with the code, a valid OpenAPI 3.1 document, complete, and true of real answers.

The document is generated (``python -m tools.openapi``); these tests hold it to app.py's routes, to the answer
catalogue (chalicelib/http/errors.py), to the errors the OpenID Connect provider's code gives (read from its
source), to the fuzz's per-route catalogue (tests/test_adversarial_fuzz.py), and to what the service answers
through Chalice's test client: each operation's bearer token or client authentication, and the statuses, bodies
and headers of a sign-in's answers and of an OpenID Connect sign-in's, checked against the document's schemas.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from chalice import Chalice
from chalice.test import Client
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from app import app
from chalicelib import wiring
from chalicelib.http import errors, oauth_routes
from tests.conftest import REPO_ROOT, FakeClock, code_in, code_in_text, sent_mails
from tests.oauth_flow import DEMO, EXAMPLE, EXAMPLE_REDIRECT, EXAMPLE_SECRET, RelyingParty, basic, query_of
from tests.test_adversarial_fuzz import CATALOGUE as FUZZ_CATALOGUE
from tests.test_adversarial_fuzz import CONSENT, NOBODY, OAUTH_CATALOGUE, PASSKEY, REDIRECT, SUCCESS
from tests.test_mfa_api import Person
from tools import openapi

ALICE = "alice@example.com"
PHONE = "+14155550123"
DOCUMENT: dict[str, Any] = json.loads(openapi.DOCUMENT.read_text())
OPERATIONS = [
    (method.upper(), path)
    for path, item in DOCUMENT["paths"].items()
    for method in item
    if method.upper() in openapi.METHODS
]


def test_the_document_is_what_the_generator_writes_now() -> None:
    if openapi.render(app) != openapi.DOCUMENT.read_text():
        pytest.fail(f"docs/openapi.json is stale: run {openapi.REGENERATE}")  # not a diff of 200 KB of JSON


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOCUMENT["openapi"].startswith("3.1.")
    validate(DOCUMENT, cls=OpenAPIV31SpecValidator)


def test_every_route_of_app_py_is_documented_with_the_methods_it_serves() -> None:
    served = openapi.served(app)
    assert {path for path, entries in app.routes.items() if set(entries) != {"OPTIONS"}} == set(served)
    assert {
        path: tuple(method.upper() for method in DOCUMENT["paths"][path] if method.upper() in openapi.METHODS)
        for path in served
    } == served
    assert served["/me/phone"] == ("POST", "DELETE") and served["/me"] == ("GET",)  # what app.py says, read back
    answering = openapi.answering(app)
    assert answering["/oauth2/userinfo"] == (openapi.CLIENT, ("GET", "POST"))
    assert answering["/oauth2/logout"] == (openapi.BROWSER, ("GET", "POST"))
    assert answering["/oauth2/login"] == (openapi.JSON_ANSWERS, ("GET", "POST"))


def test_the_generator_refuses_a_route_it_does_not_describe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(openapi.OPERATIONS, ("DELETE", "/me/phone"))
    with pytest.raises(ValueError, match=r"describe in tools/openapi.py: \[\('DELETE', '/me/phone'\)\]"):
        openapi.document(app)


def test_the_generator_refuses_an_operation_described_as_answering_another_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(
        openapi.OPERATIONS, ("POST", "/oauth2/token"), openapi.Operation("JSON?", "sessions", (errors.REFRESHED,))
    )
    with pytest.raises(ValueError, match="POST /oauth2/token answers as client, but is described as json"):
        openapi.document(app)


def test_the_generator_refuses_a_view_that_answers_some_other_way() -> None:
    elsewhere = Chalice("elsewhere")

    @elsewhere.route("/nowhere", methods=["GET"])
    def nowhere() -> dict[str, str]:
        return {}

    with pytest.raises(RuntimeError, match="/nowhere: its view must answer through one of"):
        openapi.served(elsewhere)


def test_every_entry_of_the_catalogue_is_some_operation_s_answer() -> None:
    declared = {
        entry
        for operation in openapi.OPERATIONS.values()
        if isinstance(operation, openapi.Operation)
        for entry in operation.answers
    }
    declared.add(errors.METHOD_NOT_ALLOWED)  # any route's answer to a method it does not serve
    assert set(errors.CATALOGUE.values()) == declared
    documented = {
        answer
        for method, path in OPERATIONS
        for answer in _answers(DOCUMENT["paths"][path][method.lower()]["responses"])
    }
    documented |= {
        (errors.METHOD_NOT_ALLOWED.status, code)
        for code in _codes(DOCUMENT["components"]["responses"]["MethodNotAllowed"])
    }
    assert documented == {(entry.status, entry.code) for entry in errors.CATALOGUE.values()}


def test_each_route_documents_every_answer_the_fuzz_may_meet_there() -> None:
    for fuzzed, expected in FUZZ_CATALOGUE.items():
        path = fuzzed.replace(NOBODY, "{user_id}").replace(CONSENT, "/me/consents/{client_id}")
        path = path.replace(PASSKEY, "/me/passkeys/{passkey_id}").replace(
            "/passkeys/" + "0" * 32, "/passkeys/{passkey_id}"
        )
        documented = {
            answer
            for method, known in OPERATIONS
            if known == path
            for answer in _answers(DOCUMENT["paths"][path][method.lower()]["responses"])
        }
        assert expected <= documented, (path, expected - documented)
    for path, expected in OAUTH_CATALOGUE.items():
        documented = {
            answer
            for method, known in OPERATIONS
            if known == path
            for answer in _provider_answers(DOCUMENT["paths"][path][method.lower()]["responses"])
        }
        assert expected <= documented, (path, expected - documented)


# -- the OpenID Connect provider's own answers, read from its source -------------------------------------------

PROVIDER = ("chalicelib.oauth.service", "chalicelib.oauth.requests", "chalicelib.http.oauth_routes")


def _calls(module: str, name: str) -> Iterator[tuple[ast.Call, dict[str, Any]]]:
    """Every call of a function named ``name`` in ``module``'s source, with the module's namespace."""
    namespace = vars(importlib.import_module(module))
    tree = ast.parse((REPO_ROOT / (module.replace(".", "/") + ".py")).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == name:
            yield node, namespace


def _value(node: ast.expr, namespace: dict[str, Any]) -> Any:
    """What an argument of the provider's code is: a constant, or a name (or its attribute) of its module."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in namespace:
        return namespace[node.id]
    if isinstance(node, ast.Attribute):
        return getattr(_value(node.value, namespace), node.attr)
    raise AssertionError(f"cannot read {ast.unparse(node)}: a constant or a module's name, please, or teach this test")


def _failures() -> set[tuple[int, str]]:
    """(status, error) of each failure oauth_routes._failure makes of an exception that is not the request's."""
    source = ast.parse((REPO_ROOT / "chalicelib/http/oauth_routes.py").read_text())
    (failure,) = [node for node in ast.walk(source) if isinstance(node, ast.FunctionDef) and node.name == "_failure"]
    returned = [node.value for node in ast.walk(failure) if isinstance(node, ast.Return)]
    return {(status, error) for status, error, _ in (ast.literal_eval(value) for value in returned if value)}


def test_the_client_endpoints_document_exactly_the_errors_the_provider_gives() -> None:
    given = set(_failures())
    for module in PROVIDER:
        for call, namespace in _calls(module, "OAuthError"):
            assert not call.keywords, f"{module}: {ast.unparse(call)}: say the status as the third argument"
            status = _value(call.args[2], namespace) if len(call.args) > 2 else 400
            given.add((status, _value(call.args[0], namespace)))
    documented = {
        (reply.status, reply.code)
        for operation in openapi.OPERATIONS.values()
        if isinstance(operation, openapi.ClientOperation)
        for reply in operation.errors
    }
    assert documented == given


def test_the_browser_endpoints_document_exactly_the_pages_and_redirect_errors_the_provider_gives() -> None:
    pages = set(_failures())
    for call, namespace in _calls("chalicelib.http.oauth_routes", "_page"):
        if len(call.args) < 4:  # _page(exchange, started, *_failure(error)): the failures above
            assert isinstance(call.args[-1], ast.Starred), ast.unparse(call)
            continue
        if ast.unparse(call.args[3]) == "error.error":  # a requests.PageError, shown with its status
            pages |= {
                (_value(call.args[2], namespace), _value(made.args[0], made_in))
                for made, made_in in _calls("chalicelib.oauth.requests", "PageError")
            }
        else:
            pages.add((_value(call.args[2], namespace), _value(call.args[3], namespace)))
    browser = [
        operation for operation in openapi.OPERATIONS.values() if isinstance(operation, openapi.BrowserOperation)
    ]
    assert {(reply.status, reply.code) for operation in browser for reply in operation.pages} == pages
    # The authorization response's errors at the client's redirect URI: a request refused once its client and
    # redirect URI are known (requests.parse's refuse), a declined challenge (POST /oauth2/login/reject), and a
    # challenge prompt=none cannot complete (the service's _refuse).
    redirected = set(oauth_routes.LOGIN_ERRORS)
    redirected |= {_value(call.args[0], namespace) for call, namespace in _calls("chalicelib.oauth.requests", "refuse")}
    for call, _ in _calls("chalicelib.oauth.service", "_refuse"):
        redirected |= {node.value for node in ast.walk(call.args[1]) if isinstance(node, ast.Constant)}
    assert {reply.code for operation in browser for reply in operation.redirect_errors} == redirected


@pytest.fixture
def client(aws: None, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setattr(wiring, "CLOCK", clock)
    with Client(app, stage_name="local", project_dir=str(REPO_ROOT)) as test_client:
        yield test_client


FORM = {"Content-Type": openapi.FORM}


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_an_operation_needs_a_bearer_token_or_the_client_exactly_when_the_document_says(
    client: Client, method: str, path: str
) -> None:
    """Asked without credentials: an operation that needs a bearer token answers 401 invalid_token (the
    catalogue's, or RFC 6750's on userinfo), one that needs the client 401 invalid_client, any other neither."""
    url = path.replace("{user_id}", NOBODY).replace("{client_id}", EXAMPLE)
    described = DOCUMENT["paths"][path][method.lower()]
    form = openapi.FORM in described.get("requestBody", {}).get("content", {})
    headers, body = (FORM, b"") if form else ({"Content-Type": "application/json"}, b"{}")
    answer = client.http.request(method, url, headers=headers, body=body)
    refused = _refusal(answer)
    security = described.get("security", [])
    if {"bearer": []} in security:
        assert (answer.status_code, refused) == (401, "invalid_token")
    elif {"client": []} in security:
        assert (answer.status_code, refused) == (401, "invalid_client")
    else:
        assert refused not in ("invalid_token", "invalid_client")
    conforms(answer, method, path)


def test_a_sign_in_s_answers_match_the_document(client: Client, clock: FakeClock) -> None:
    def call(method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
        if body is not None:
            _validator(_request_schema(method, path)).validate(body)  # the document accepts what clients send
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        answer = client.http.request(method, path, headers=headers, body=json.dumps(body or {}).encode())
        conforms(answer, method, path)
        return answer.json_body

    assert call("POST", "/otp", {"action": "send_otp", "email": ALICE})["code"] == "code_sent"
    assert call("POST", "/otp", {"action": "send_otp", "email": ALICE})["code"] == "resend_cooldown"
    code = code_in(sent_mails()[-1])
    wrong = "000000" if code != "000000" else "111111"
    assert call("POST", "/otp", {"action": "verify_otp", "email": ALICE, "otp": wrong})["code"] == "invalid_code"
    session = call("POST", "/otp", {"action": "verify_otp", "email": ALICE, "otp": code})
    assert session["code"] == "verified"
    token = session["access_token"]
    assert call("GET", "/me", token=token)["code"] == "signed_in"
    assert {key["kty"] for key in call("GET", "/.well-known/jwks.json")["keys"]} == {"EC", "RSA"}
    assert call("GET", "/.well-known/openid-configuration")["code"] == "openid_configuration"
    assert call("POST", "/mfa/totp", token=token)["code"] == "totp_enrollment"
    renewed = call("POST", "/token/refresh", {"refresh_token": session["refresh_token"]})
    assert renewed["code"] == "refreshed"
    token = renewed["access_token"]
    clock.advance(600)  # past the sign-in's recent proof and the resend cooldown: the change asks for a new one
    assert call("POST", "/me/phone", {"phone": PHONE}, token=token)["code"] == "reauthentication_required"
    assert call("POST", "/reauthenticate", {}, token=token)["code"] == "code_sent"
    proved = call("POST", "/reauthenticate", {"otp": code_in(sent_mails()[-1])}, token=token)
    assert proved["code"] == "reauthenticated"
    token = proved["access_token"]
    assert call("POST", "/me/phone", {"phone": PHONE}, token=token)["code"] == "code_sent"
    linked = call("POST", "/me/phone/verify", {"phone": PHONE, "otp": code_in_text(PHONE)}, token=token)
    assert linked["code"] == "phone_linked"
    assert call("DELETE", "/me/phone", token=token)["code"] == "phone_removed"
    assert call("POST", "/signout", {"everywhere": True}, token=token)["code"] == "signed_out"


def test_an_openid_connect_sign_in_s_answers_match_the_document(client: Client, clock: FakeClock) -> None:
    """A third-party client's whole flow, and its errors, as a browser, the sign-in UI and the client meet them:
    every answer is one the document lists, with its schema's body and its required headers, and every request
    body is one the document accepts."""
    person = Person(client, clock)

    def ui(method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None, url: str = "") -> Any:
        if body is not None:
            _validator(_request_schema(method, path)).validate(body)
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        answer = client.http.request(method, url or path, headers=headers, body=json.dumps(body or {}).encode())
        conforms(answer, method, path)
        return answer

    def browse(method: str, path: str, parameters: dict[str, str]) -> Any:
        if method == "GET":
            answer = client.http.get(f"{path}?{urlencode(parameters)}")
        else:
            _validator(_request_schema(method, path, openapi.FORM)).validate(parameters)
            answer = client.http.post(path, headers=FORM, body=urlencode(parameters))
        conforms(answer, method, path)
        return answer

    def form(path: str, fields: dict[str, str], auth: str | None = None, method: str = "POST") -> Any:
        if fields:
            _validator(_request_schema(method, path, openapi.FORM)).validate(fields)
        answer = client.http.request(
            method, path, headers={**FORM, **({"Authorization": auth} if auth else {})}, body=urlencode(fields)
        )
        conforms(answer, method, path)
        return answer

    example = RelyingParty(client, EXAMPLE, EXAMPLE_REDIRECT, EXAMPLE_SECRET)
    credentials = basic(EXAMPLE, EXAMPLE_SECRET)
    token = person.signed_in()["access_token"]
    authorized = browse("GET", "/oauth2/authorize", _authorization(example))
    challenge = query_of(authorized.headers["Location"])["login_challenge"]
    asked = ui("GET", "/oauth2/login", url=f"/oauth2/login?login_challenge={challenge}")
    assert (asked.json_body["code"], asked.json_body["client"]["client_id"]) == ("login_request", EXAMPLE)
    assert ui("POST", "/oauth2/login", {"login_challenge": challenge}, token).status_code == 403  # consent_required
    accepted = ui("POST", "/oauth2/login", {"login_challenge": challenge, "consent": True}, token)
    code = query_of(accepted.json_body["redirect_to"])["code"]
    assert ui("POST", "/oauth2/login", {"login_challenge": challenge}, token).status_code == 400  # spent
    redemption = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": EXAMPLE_REDIRECT,
        "code_verifier": example.verifier,
    }
    assert form("/oauth2/token", redemption, basic(EXAMPLE, "wrong")).json_body["error"] == "invalid_client"
    tokens = form("/oauth2/token", redemption, credentials).json_body
    assert {"id_token", "refresh_token"} <= set(tokens)
    assert form("/oauth2/userinfo", {}, f"Bearer {tokens['access_token']}", "GET").json_body["email"] == ALICE
    assert form("/oauth2/userinfo", {}, "Bearer nonsense").json_body["error"] == "invalid_token"
    assert ui("GET", "/me", token=tokens["access_token"]).json_body["code"] == "insufficient_scope"
    introspected = form("/oauth2/introspect", {"token": tokens["access_token"]}, credentials).json_body
    assert (introspected["active"], introspected["client_id"]) == (True, EXAMPLE)
    assert form("/oauth2/introspect", {"token": "nonsense", "client_id": DEMO}).json_body["error"] == "invalid_client"
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "scope": "openid phone"}
    assert form("/oauth2/token", refresh, credentials).json_body["error"] == "invalid_scope"
    unsupported = urlencode({**redemption, "grant_type": "password"})  # not a request the document accepts
    answer = client.http.post("/oauth2/token", headers={**FORM, "Authorization": credentials}, body=unsupported)
    conforms(answer, "POST", "/oauth2/token")
    assert answer.json_body["error"] == "unsupported_grant_type"
    refreshed = form("/oauth2/token", {**refresh, "scope": "openid"}, credentials).json_body
    assert form("/oauth2/revoke", {"token": refreshed["refresh_token"]}, credentials).json_body == {}
    assert form("/oauth2/token", redemption, credentials).json_body["error"] == "invalid_grant"  # the code, again
    # A sign-in the person allowed before (no consent asked), then the client's logout.
    challenge = query_of(browse("GET", "/oauth2/authorize", _authorization(example)).headers["Location"])
    accepted = ui("POST", "/oauth2/login", {"login_challenge": challenge["login_challenge"]}, token)
    code = query_of(accepted.json_body["redirect_to"])["code"]
    tokens = form("/oauth2/token", {**redemption, "code": code}, credentials).json_body
    ending = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://elsewhere.example/"}
    assert browse("POST", "/oauth2/logout", ending).status_code == 400
    back = browse("POST", "/oauth2/logout", {**ending, "post_logout_redirect_uri": EXAMPLE_REDIRECT, "state": "s"})
    assert back.headers["Location"] == f"{EXAMPLE_REDIRECT}?state=s"
    assert browse("GET", "/oauth2/logout", {"id_token_hint": tokens["id_token"]}).status_code == 200
    assert ui("GET", "/me", token=token).status_code == 401  # the sign-in UI's session ended with the client's
    # The person's consents, in a new session; declining; requests refused at the client's or on a page.
    token = person.signed_in()["access_token"]
    assert ui("GET", "/me/consents", token=token).json_body["consents"][0]["client_id"] == EXAMPLE
    withdraw = {"method": "DELETE", "path": "/me/consents/{client_id}", "url": f"/me/consents/{EXAMPLE}"}
    assert ui(**withdraw, token=token).json_body["code"] == "consent_revoked"
    assert ui(**withdraw, token=token).status_code == 404
    declined = browse("GET", "/oauth2/authorize", _authorization(example))
    challenge = query_of(declined.headers["Location"])
    rejected = ui("POST", "/oauth2/login/reject", {"login_challenge": challenge["login_challenge"]})
    assert query_of(rejected.json_body["redirect_to"])["error"] == "access_denied"
    refused = browse("GET", "/oauth2/authorize", {**_authorization(example), "scope": "email"})
    assert query_of(refused.headers["Location"])["error"] == "invalid_scope"
    assert browse("GET", "/oauth2/authorize", {**_authorization(example), "client_id": "nobody"}).status_code == 400


def _authorization(rp: RelyingParty) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "scope": "openid email offline_access",
        "state": rp.state,
        "nonce": rp.nonce,
        "code_challenge": rp.challenge,
        "code_challenge_method": "S256",
    }


def _refusal(answer: Any) -> str | None:
    """The code of a JSON answer (the catalogue's ``code``, RFC 6749's ``error``), or None."""
    if not answer.headers.get("Content-Type", "").startswith(openapi.JSON):
        return None
    body = answer.json_body
    return body.get("code", body.get("error"))


def conforms(answer: Any, method: str, path: str) -> None:
    """Assert that ``answer`` is one the document lists for the operation: its status, its media type, its
    schema's body (a page's code among the status's), and its required headers."""
    responses = DOCUMENT["paths"][path][method.lower()]["responses"]
    response = responses.get(str(answer.status_code))
    assert response is not None, (method, path, answer.status_code, answer.body[:300])
    media = answer.headers.get("Content-Type", "").split(";")[0]
    if "content" not in response:  # a redirect: no body
        assert answer.body == b"", (method, path)
    elif media == openapi.HTML:
        assert openapi.HTML in response["content"], (method, path, answer.status_code)
        (shown,) = re.findall(r"<small>([a-z_]+)</small>", answer.body.decode())
        assert shown in re.findall(r"^- `([a-z_]+)`", response["description"], re.MULTILINE), (method, path, shown)
    else:
        assert media == openapi.JSON, (method, path, media)
        _validator(response["content"][openapi.JSON]["schema"]).validate(answer.json_body)
    for name, header in response.get("headers", {}).items():
        if header["required"]:
            assert name in answer.headers, (method, path, name)
        if name in answer.headers:
            value = answer.headers[name]
            _validator(header["schema"]).validate(int(value) if header["schema"].get("type") == "integer" else value)


def _request_schema(method: str, path: str, media: str = openapi.JSON) -> dict[str, Any]:
    return DOCUMENT["paths"][path][method.lower()]["requestBody"]["content"][media]["schema"]


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator of ``schema`` whose references into the document's components resolve (an OpenAPI 3.1 schema
    is JSON Schema 2020-12); formats such as ``uuid`` are checked too."""
    return Draft202012Validator(
        {**schema, "components": DOCUMENT["components"]}, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _answers(responses: dict[str, Any]) -> set[tuple[int, str]]:
    """Each answer of the catalogue ``responses`` documents, as (status, code)."""
    return {(int(status), code) for status, response in responses.items() for code in _codes(response)}


def _codes(response: dict[str, Any]) -> Iterator[str]:
    """The catalogue's codes of one documented response: each success's ``const``, the failures' ``enum``; none
    for the OpenID Connect provider's own answers (redirects, pages, RFC 6749's errors and successes)."""
    schema = response.get("content", {}).get(openapi.JSON, {}).get("schema", {})
    for shape in schema.get("oneOf", [schema]):
        code = shape.get("properties", {}).get("code")
        if code is not None:
            yield from code.get("enum", [code.get("const")])


def _provider_answers(responses: dict[str, Any]) -> set[tuple[int, str]]:
    """Each of the OpenID Connect provider's own answers ``responses`` documents, as (status, code), named as the
    fuzz names them: a redirect, a page's code, a client's success or RFC 6749's ``error``."""
    found: set[tuple[int, str]] = set()
    for status, response in responses.items():
        content = response.get("content", {})
        if not content:
            found.add((int(status), REDIRECT))
        elif openapi.HTML in content:
            found |= {(int(status), code) for code in re.findall(r"^- `([a-z_]+)`", response["description"], re.M)}
        else:
            error = content[openapi.JSON]["schema"].get("properties", {}).get("error")
            found |= {(int(status), code) for code in error["enum"]} if error else {(int(status), SUCCESS)}
    return found
