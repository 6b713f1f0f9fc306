"""docs/openapi.json: current with the code, a valid OpenAPI 3.1 document, complete, and true of real answers.

The document is generated (``python -m tools.openapi``); these tests hold it to app.py's routes, to the answer
catalogue (chalicelib/http/errors.py), to the fuzz's per-route catalogue (tests/test_adversarial_fuzz.py), and to
what the service answers through Chalice's test client: each operation's bearer requirement, and the bodies and
headers of a sign-in's answers checked against the document's schemas.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from app import app
from chalicelib import wiring
from chalicelib.http import errors
from tests.conftest import REPO_ROOT, FakeClock, code_in, code_in_text, sent_mails
from tests.test_adversarial_fuzz import CATALOGUE as FUZZ_CATALOGUE
from tests.test_adversarial_fuzz import NOBODY
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


def test_the_generator_refuses_a_route_it_does_not_describe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(openapi.OPERATIONS, ("DELETE", "/me/phone"))
    with pytest.raises(ValueError, match=r"describe in tools/openapi.py: \[\('DELETE', '/me/phone'\)\]"):
        openapi.document(app)


def test_every_entry_of_the_catalogue_is_some_operation_s_answer() -> None:
    declared = {entry for operation in openapi.OPERATIONS.values() for entry in operation.answers}
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
        path = fuzzed.replace(NOBODY, "{user_id}")
        documented = {
            answer
            for method, known in OPERATIONS
            if known == path
            for answer in _answers(DOCUMENT["paths"][path][method.lower()]["responses"])
        }
        assert expected <= documented, (path, expected - documented)


@pytest.fixture
def client(aws: None, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setattr(wiring, "CLOCK", clock)
    with Client(app, stage_name="local", project_dir=str(REPO_ROOT)) as test_client:
        yield test_client


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_an_operation_needs_a_bearer_token_exactly_when_the_document_says(
    client: Client, method: str, path: str
) -> None:
    url = path.replace("{user_id}", NOBODY)
    answer = client.http.request(method, url, headers={"Content-Type": "application/json"}, body=b"{}")
    secured = "security" in DOCUMENT["paths"][path][method.lower()]
    if secured:
        assert (answer.status_code, answer.json_body["code"]) == (401, "invalid_token")
    else:
        assert answer.json_body["code"] != "invalid_token"
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
    assert call("GET", "/.well-known/jwks.json")["code"] == "jwks"
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


def conforms(answer: Any, method: str, path: str) -> None:
    """Assert that ``answer`` is one the document lists for the operation, with its schema's body and its
    required headers."""
    responses = DOCUMENT["paths"][path][method.lower()]["responses"]
    response = responses.get(str(answer.status_code))
    assert response is not None, (method, path, answer.status_code, answer.json_body)
    _validator(response["content"][openapi.JSON]["schema"]).validate(answer.json_body)
    for name, header in response.get("headers", {}).items():
        if header["required"]:
            assert name in answer.headers, (method, path, name)
        if name in answer.headers:
            value = answer.headers[name]
            _validator(header["schema"]).validate(int(value) if header["schema"].get("type") == "integer" else value)


def _request_schema(method: str, path: str) -> dict[str, Any]:
    return DOCUMENT["paths"][path][method.lower()]["requestBody"]["content"][openapi.JSON]["schema"]


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator of ``schema`` whose references into the document's components resolve (an OpenAPI 3.1 schema
    is JSON Schema 2020-12); formats such as ``uuid`` are checked too."""
    return Draft202012Validator(
        {**schema, "components": DOCUMENT["components"]}, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _answers(responses: dict[str, Any]) -> set[tuple[int, str]]:
    """Each answer ``responses`` documents, as (status, code)."""
    return {(int(status), code) for status, response in responses.items() for code in _codes(response)}


def _codes(response: dict[str, Any]) -> Iterator[str]:
    """The codes of one documented response: each success's ``const``, the failures' ``enum``."""
    schema = response["content"][openapi.JSON]["schema"]
    for shape in schema.get("oneOf", [schema]):
        code = shape["properties"]["code"]
        yield from code.get("enum", [code.get("const")])
