"""Sessions over HTTP: tokens on sign-in, /me, refresh rotation and reuse, revocation, forged tokens, keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

import boto3
import pytest
from chalice.test import Client
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chalicelib import wiring
from chalicelib.accounts.tokens import ALGORITHM, AccessTokens, KmsKeys, b64url
from tests.conftest import FakeClock, code_in, override_settings, sent_mails

ALICE = "alice@example.com"
INVALID_TOKEN = {
    "message": "Your session is invalid or has ended. Please sign in again.",
    "code": "invalid_token",
}


def post(client: Client, path: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.http.post(path, headers=headers, body=json.dumps(body) if body is not None else "")


def me(client: Client, token: str) -> Any:
    return client.http.get("/me", headers={"Authorization": f"Bearer {token}"})


def sign_in(client: Client, clock: FakeClock, email: str = ALICE) -> dict[str, Any]:
    assert post(client, "/otp", {"action": "send_otp", "email": email}).status_code == 200
    code = code_in([mail for mail in sent_mails() if mail["to"] == [email]][-1])
    answer = post(client, "/otp", {"action": "verify_otp", "email": email, "otp": code})
    assert answer.status_code == 200, answer.json_body
    clock.advance(30)  # past the resend cooldown, so a later sign-in of the same address can send at once
    return answer.json_body


def refresh(client: Client, refresh_token: str) -> Any:
    return post(client, "/token/refresh", {"refresh_token": refresh_token})


def assert_rejected(answer: Any) -> None:
    assert answer.status_code == 401
    assert json.loads(answer.body) == INVALID_TOKEN
    assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_a_sign_in_opens_a_session_that_me_accepts(client: Client, clock: FakeClock) -> None:
    session = sign_in(client, clock)
    claims = claims_of(session["access_token"])
    assert claims["sub"] == session["user_id"] and claims["email"] == ALICE and claims["email_verified"] is True
    assert str(uuid.UUID(claims["sub"])) == claims["sub"]  # a stable opaque id, not the address
    assert claims["aud"] == "otp-signin" and claims["iss"] == "http://127.0.0.1:8000"
    assert claims["amr"] == ["otp"] and claims["auth_time"] == claims["iat"]
    assert claims["exp"] - claims["iat"] == 3600 and claims["nbf"] == claims["iat"]
    assert len(claims["jti"]) >= 16 and len(claims["sid"]) >= 16
    answer = me(client, session["access_token"])
    assert answer.status_code == 200
    body = answer.json_body
    assert (body["code"], body["email"], body["user_id"]) == ("signed_in", ALICE, claims["sub"])
    assert body["identifiers"] == [{"type": "email", "value": ALICE}]
    assert body["created_at"] == body["last_sign_in_at"] == claims["auth_time"]
    assert body["session"]["id"] == claims["sid"] and body["session"]["amr"] == ["otp"]
    assert body["session"]["access_token_expires_at"] == claims["exp"]
    assert body["session"]["expires_at"] - body["session"]["signed_in_at"] == 432_000


def test_refresh_rotates_both_tokens(client: Client, clock: FakeClock) -> None:
    session = sign_in(client, clock)
    clock.advance(3000)
    renewed = refresh(client, session["refresh_token"])
    assert renewed.status_code == 200 and renewed.json_body["code"] == "refreshed"
    body = renewed.json_body
    assert body["refresh_token"] != session["refresh_token"]
    assert claims_of(body["access_token"])["sid"] == claims_of(session["access_token"])["sid"]
    assert body["refresh_expires_in"] == 432_000 - 3030  # a session ends 5 days after sign-in, however renewed
    clock.advance(1000)  # the first access token has expired, the renewed one has not
    assert_rejected(me(client, session["access_token"]))
    assert me(client, body["access_token"]).status_code == 200


def test_reusing_a_rotated_refresh_token_ends_the_whole_session(client: Client, clock: FakeClock) -> None:
    session = sign_in(client, clock)
    renewed = refresh(client, session["refresh_token"]).json_body
    again = refresh(client, renewed["refresh_token"]).json_body
    clock.advance(11)  # past the grace window
    assert_rejected(refresh(client, session["refresh_token"]))  # the thief's (or victim's) stale token
    assert_rejected(refresh(client, again["refresh_token"]))  # the family is gone
    assert_rejected(me(client, again["access_token"]))  # and every access token of it, at once


def test_concurrent_refreshes_within_the_grace_window_both_succeed(client: Client, clock: FakeClock) -> None:
    session = sign_in(client, clock)
    first = refresh(client, session["refresh_token"])
    clock.advance(5)
    second = refresh(client, session["refresh_token"])  # another tab, same token, moments later
    assert first.status_code == second.status_code == 200
    for tab in (first.json_body, second.json_body):
        assert me(client, tab["access_token"]).status_code == 200
    assert refresh(client, second.json_body["refresh_token"]).status_code == 200
    clock.advance(10)
    assert_rejected(refresh(client, session["refresh_token"]))  # after the window: reuse
    assert_rejected(me(client, second.json_body["access_token"]))


def test_later_sign_ins_land_in_the_account_the_first_one_created(client: Client, clock: FakeClock) -> None:
    first = sign_in(client, clock)
    clock.advance(86_400)
    second = sign_in(client, clock)
    other = sign_in(client, clock, "bob@example.com")
    assert first["user_id"] == second["user_id"] != other["user_id"]
    assert claims_of(second["access_token"])["sub"] == first["user_id"]
    body = me(client, second["access_token"]).json_body
    assert body["created_at"] == claims_of(first["access_token"])["auth_time"]
    assert body["last_sign_in_at"] == claims_of(second["access_token"])["auth_time"] > body["created_at"]
    renewed = refresh(client, first["refresh_token"]).json_body  # both sessions belong to the account
    assert (renewed["user_id"], renewed["email"]) == (first["user_id"], ALICE)
    assert claims_of(renewed["access_token"])["auth_time"] == claims_of(first["access_token"])["auth_time"]


def test_an_unknown_or_malformed_refresh_token_is_rejected(client: Client, clock: FakeClock) -> None:
    session = sign_in(client, clock)
    other = sign_in(client, clock, "bob@example.com")
    version, sid, secret, tag = session["refresh_token"].split(".")
    _, other_sid, other_secret, other_tag = other["refresh_token"].split(".")
    for token in (
        f"{version}.{sid}.{'A' * 22}.{tag}",  # another secret under the genuine tag
        f"{version}.{sid}.{secret}.{'0' * 32}",  # a made-up tag: not reuse, nothing is revoked
        f"{version}.{other_sid}.{secret}.{tag}",  # moved to another session
        f"{version}.{sid}.{other_secret}.{other_tag}",
        f"rt1.{sid}.{secret}.{tag}",
        "rt2.x.y.z",
        "garbage",
        "a" * 600,
    ):
        assert_rejected(refresh(client, token))
    assert me(client, session["access_token"]).status_code == 200  # guessing did not end the session
    assert refresh(client, session["refresh_token"]).status_code == 200  # nor spent its refresh token
    answer = post(client, "/token/refresh", {})
    assert (answer.status_code, answer.json_body["code"]) == (400, "invalid_refresh_token")


def test_sign_out_ends_this_session_only(client: Client, clock: FakeClock) -> None:
    laptop, phone = sign_in(client, clock), sign_in(client, clock)
    answer = post(client, "/signout", token=laptop["access_token"])
    assert (answer.status_code, answer.json_body["code"]) == (200, "signed_out")
    assert_rejected(me(client, laptop["access_token"]))
    assert_rejected(refresh(client, laptop["refresh_token"]))
    assert me(client, phone["access_token"]).status_code == 200


def test_sign_out_everywhere_ends_every_session_of_the_address(client: Client, clock: FakeClock) -> None:
    laptop, phone = sign_in(client, clock), sign_in(client, clock)
    other = sign_in(client, clock, "bob@example.com")
    answer = post(client, "/signout", {"everywhere": True}, token=phone["access_token"])
    assert answer.status_code == 200
    for session in (laptop, phone):
        assert_rejected(me(client, session["access_token"]))
        assert_rejected(refresh(client, session["refresh_token"]))
    assert me(client, other["access_token"]).status_code == 200
    assert sign_in(client, clock)["email"] == ALICE  # and one can sign in again


def test_revoking_a_refresh_token_ends_its_session(client: Client, clock: FakeClock) -> None:
    session = sign_in(client, clock)
    answer = post(client, "/token/revoke", {"refresh_token": session["refresh_token"]})
    assert (answer.status_code, answer.json_body["code"]) == (200, "revoked")
    assert_rejected(me(client, session["access_token"]))
    # RFC 7009: an unknown token gets the same answer, so the endpoint is no oracle
    assert post(client, "/token/revoke", {"refresh_token": "rt1.nope"}).json_body == answer.json_body


def test_signout_needs_a_valid_token(client: Client, clock: FakeClock) -> None:
    assert_rejected(post(client, "/signout"))
    session = sign_in(client, clock)
    answer = post(client, "/signout", {"everywhere": "yes"}, token=session["access_token"])
    assert (answer.status_code, answer.json_body["code"]) == (400, "invalid_body")


def forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    encode = lambda value: b64url(json.dumps(value).encode())  # noqa: E731
    return f"{encode(header)}.{encode(claims)}.{b64url(signature)}"


def stage_tokens(**overrides: Any) -> AccessTokens:
    settings = wiring.get_settings()
    options = {"issuer": settings.token_issuer, "audience": settings.token_audience, "lifetime_seconds": 3600}
    options.update(overrides)
    keys = overrides.pop("keys", None) or KmsKeys(boto3.client, [settings.signing_key_id])
    options.pop("keys", None)
    return AccessTokens({ALGORITHM: keys}, **options)


def test_forged_and_foreign_tokens_are_rejected(client: Client, clock: FakeClock) -> None:
    session = sign_in(client, clock)
    token = session["access_token"]
    header_part, payload_part, signature_part = token.split(".")
    header, claims = json.loads(base64.urlsafe_b64decode(header_part + "==")), claims_of(token)
    now = int(clock())
    public_pem = (
        wiring.get_keys()[ALGORITHM]
        .verification_keys[header["kid"]]
        .public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    hs256_header = {"alg": "HS256", "typ": "JWT", "kid": header["kid"]}
    hs256_input = f"{b64url(json.dumps(hs256_header).encode())}.{payload_part}".encode()
    other_key = boto3.client("kms").create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    forgeries = {
        "tampered payload": f"{header_part}.{b64url(json.dumps({**claims, 'sub': str(uuid.uuid4())}).encode())}."
        f"{signature_part}",
        "alg none": forge({"alg": "none", "typ": "JWT", "kid": header["kid"]}, claims),
        "HS256 with the public key as secret": hs256_input.decode()
        + "."
        + b64url(hmac.new(public_pem, hs256_input, hashlib.sha256).digest()),
        "unknown kid": forge({**header, "kid": "nope"}, claims, base64.urlsafe_b64decode(signature_part + "==")),
        "signed by an unpublished key": stage_tokens(keys=KmsKeys(boto3.client, [other_key["KeyId"]])).issue(
            claims["sub"], claims["sid"], now, {}
        )[0],
        "wrong audience": stage_tokens(audience="someone-else").issue(claims["sub"], claims["sid"], now, {})[0],
        "wrong issuer": stage_tokens(issuer="https://evil.example").issue(claims["sub"], claims["sid"], now, {})[0],
        "not yet valid": stage_tokens().issue(claims["sub"], claims["sid"], now + 60, {})[0],
        "expired": stage_tokens(lifetime_seconds=60).issue(claims["sub"], claims["sid"], now - 61, {})[0],
        "unknown session": stage_tokens().issue(claims["sub"], "x" * 22, now, {})[0],
        "a session id naming no home": stage_tokens().issue(claims["sub"], "e" + "0" * 32 + "x" * 11, now, {})[0],
        "another account's session": stage_tokens().issue(str(uuid.uuid4()), claims["sid"], now, {})[0],
        "truncated": token[:-10],
        "not a JWT": "hello",
    }
    for name, forged in forgeries.items():
        answer = me(client, forged)
        assert answer.status_code == 401, name
        assert json.loads(answer.body) == INVALID_TOKEN, name
    assert me(client, stage_tokens().issue(claims["sub"], claims["sid"], now, {})[0]).status_code == 200  # the control
    for header_value in ("", "Bearer", f"Basic {token}", token):
        answer = client.http.get("/me", headers={"Authorization": header_value} if header_value else {})
        assert answer.status_code == 401


def test_the_jwks_publishes_the_verification_keys(client: Client, clock: FakeClock) -> None:
    answer = client.http.get("/.well-known/jwks.json")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=300"
    key, rsa_key = answer.json_body["keys"]  # the access tokens' P-256 key, then the RSA key of ID tokens
    assert {k: key[k] for k in ("kty", "crv", "alg", "use")} == {
        "kty": "EC",
        "crv": "P-256",
        "alg": "ES256",
        "use": "sig",
    }
    assert {k: rsa_key[k] for k in ("kty", "alg", "use", "e")} == {
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "e": "AQAB",
    }
    assert len(base64.urlsafe_b64decode(rsa_key["n"] + "==")) == 256  # RSA_2048
    for published in (key, rsa_key):
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(published)  # no private part, ever
    session = sign_in(client, clock)
    header = json.loads(base64.urlsafe_b64decode(session["access_token"].split(".")[0] + "=="))
    assert header == {"alg": "ES256", "typ": "at+jwt", "kid": key["kid"]}  # RFC 9068's type


def test_a_key_rotation_keeps_issued_tokens_valid(
    client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = sign_in(client, clock)
    kms = boto3.client("kms")
    new_key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/otp-signin-next", TargetKeyId=new_key)
    wiring.reset()  # a new container: keys are read once per container
    override_settings(
        monkeypatch, OTP_SIGNING_KEY_ID="alias/otp-signin-next", OTP_PREVIOUS_SIGNING_KEY_IDS="alias/otp-signin-local"
    )
    after = sign_in(client, clock)
    kids = [key["kid"] for key in client.http.get("/.well-known/jwks.json").json_body["keys"] if key["kty"] == "EC"]
    assert len(set(kids)) == 2
    assert json.loads(base64.urlsafe_b64decode(after["access_token"].split(".")[0] + "=="))["kid"] == kids[0]
    assert me(client, before["access_token"]).status_code == 200
    assert me(client, after["access_token"]).status_code == 200


def test_when_signing_fails_the_code_can_be_used_again(
    client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert post(client, "/otp", {"action": "send_otp", "email": ALICE}).status_code == 200
    code = code_in(sent_mails()[-1])
    wiring.get_keys()[ALGORITHM].signing_kid  # noqa: B018 - public keys are fetched once; only signing fails below

    def unavailable(**_: Any) -> None:
        from botocore.exceptions import ClientError

        raise ClientError(
            {"Error": {"Code": "KMSInternalException"}, "ResponseMetadata": {"HTTPStatusCode": 500}}, "Sign"
        )

    monkeypatch.setattr(wiring.get_client("kms"), "sign", unavailable)
    answer = post(client, "/otp", {"action": "verify_otp", "email": ALICE, "otp": code})
    assert (answer.status_code, answer.json_body["code"]) == (503, "keys_unavailable")
    monkeypatch.undo()
    monkeypatch.setattr(wiring, "CLOCK", clock)
    assert post(client, "/otp", {"action": "verify_otp", "email": ALICE, "otp": code}).status_code == 200


def test_a_retargeted_signing_alias_never_signs_under_a_stale_kid(client: Client, clock: FakeClock) -> None:
    before = sign_in(client, clock)
    old_kid = json.loads(base64.urlsafe_b64decode(before["access_token"].split(".")[0] + "=="))["kid"]
    kms = boto3.client("kms")
    new_key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    kms.update_alias(AliasName="alias/otp-signin-local", TargetKeyId=new_key)  # what the docs advise against
    after = sign_in(client, clock)  # the same warm container
    new_kid = json.loads(base64.urlsafe_b64decode(after["access_token"].split(".")[0] + "=="))["kid"]
    assert new_kid != old_kid
    assert me(client, after["access_token"]).status_code == 200
