"""Handler overhead: the service's own time per request when AWS answers instantly.

Runs in a fresh process (``python -m bench.overhead <calls>``, started by bench.run with the local stage's
settings and no AWS endpoint). botocore's ``Stubber`` sits on every client ``chalicelib.wiring.get_client``
hands out, so each AWS call is validated and serialised by botocore and then answered from memory: what is left
is the handler (Chalice's routing, validation, HMACs, JWT checks, expression building, botocore's client side,
the access-log line, sent to /dev/null). The handler is called with API Gateway proxy events, as Lambda calls it.
KMS is played by a local P-256 key, so the access token used for ``/me`` and sign-out is a real one.
Prints JSON: per operation, p50/p99/mean in microseconds.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from botocore.stub import Stubber
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bench.events import LambdaContext, answer, proxy_event

KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0b6e3c5a-8f0e-4a51-9d43-6f1f2d7c9e10"
ADDRESS = "bench@example.com"
CODE, OTHER_CODE = "123456", "654321"
WARMUP = 100
Queue = list[tuple[str, str, dict[str, Any]]]


@dataclass
class Operation:
    name: str
    event: dict[str, Any]
    calls: Queue  # the AWS answers this request consumes, in order
    status: int


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(handler: Callable[..., Any], operation: Operation, stubs: dict[str, Stubber], calls: int) -> dict[str, Any]:
    context = LambdaContext()
    timings = []
    for index in range(WARMUP + calls):
        for service, method, response in operation.calls:
            stubs[service].add_response(method, response)
        started = time.perf_counter_ns()
        response = handler(operation.event, context)
        elapsed = time.perf_counter_ns() - started
        status, body = answer(response)
        if status != operation.status:
            raise SystemExit(f"{operation.name}: {status} {body}")
        for stub in stubs.values():
            stub.assert_no_pending_responses()
        if index >= WARMUP:
            timings.append(elapsed / 1000)
    return {"p50_us": percentile(timings, 0.5), "p99_us": percentile(timings, 0.99),
            "mean_us": statistics.fmean(timings), "calls": calls,
            "aws_calls_per_request": len(operation.calls)}


def run_once(handler: Callable[..., Any], stubs: dict[str, Stubber], event: dict[str, Any], calls: Queue,
             status: int) -> None:
    for service, method, response in calls:
        stubs[service].add_response(method, response)
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        got = answer(handler(event, LambdaContext()))
    if got[0] != status:
        raise SystemExit(f"unexpected answer {got}")
    for stub in stubs.values():
        stub.assert_no_pending_responses()


def main(calls: int) -> dict[str, Any]:
    from app import app
    from bench.minimal_app import app as minimal
    from chalicelib import wiring
    from chalicelib.accounts.tokens import VerificationKey

    private_key = ec.generate_private_key(ec.SECP256R1())
    public_der = private_key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    kid = VerificationKey.from_der(public_der).kid
    signature = private_key.sign(b"any input: the signature is not checked by the call that asks for it",
                                 ec.ECDSA(hashes.SHA256()))
    stubs = {name: Stubber(wiring.get_client(name)) for name in ("dynamodb", "sesv2", "kms", "secretsmanager")}
    for stub in stubs.values():
        stub.activate()

    signed = ("kms", "sign", {"KeyId": KEY_ARN, "Signature": signature, "SigningAlgorithm": "ECDSA_SHA_256"})
    send = proxy_event("POST", "/otp", {"action": "send_otp", "email": ADDRESS})
    sent = [("dynamodb", "transact_write_items", {}), ("sesv2", "send_email", {"MessageId": "bench"})]
    # The container's first requests read the hashing key (first send) and the public key (first sign-in).
    key = ("secretsmanager", "get_secret_value", {"SecretString": "k" * 64})
    run_once(app, stubs, send, [key, *sent], 200)

    now = int(time.time())
    settings = wiring.get_settings()
    hasher = wiring.get_hasher()
    session_id = secrets.token_urlsafe(16)
    session = {"M": {session_id: {"M": {"created_at": {"N": str(now)}, "expires_at": {"N": str(now + 432_000)},
                                        "cur": {"L": [{"S": "x"}]}}}}}
    stored_code = {"code": {"S": hasher.digest(ADDRESS, CODE)}, "guesses": {"N": "0"},
                   "code_expires_at": {"N": str(now + 600)}, "sessions": {"M": {}}}
    access_token = jwt.encode(
        {"iss": settings.token_issuer, "aud": settings.token_audience, "sub": ADDRESS, "sid": session_id,
         "iat": now, "nbf": now, "exp": now + 3600, "jti": secrets.token_urlsafe(16)},
        private_key, algorithm="ES256", headers={"kid": kid, "typ": "JWT"})
    bearer = {"authorization": f"Bearer {access_token}"}
    refresh_token = ".".join(("rt1", base64.urlsafe_b64encode(ADDRESS.encode()).rstrip(b"=").decode(), session_id,
                              secrets.token_urlsafe(32)))
    verify = {"action": "verify_otp", "email": ADDRESS}
    operations = [
        Operation("send_otp", send, sent, 200),
        Operation("verify_otp, right code", proxy_event("POST", "/otp", {**verify, "otp": CODE}),
                  [("dynamodb", "update_item", {"Attributes": stored_code}), signed], 200),
        Operation("verify_otp, wrong code", proxy_event("POST", "/otp", {**verify, "otp": OTHER_CODE}),
                  [("dynamodb", "update_item", {"Attributes": stored_code}), ("dynamodb", "update_item", {})], 401),
        Operation("POST /token/refresh", proxy_event("POST", "/token/refresh", {"refresh_token": refresh_token}),
                  [("dynamodb", "update_item", {"Attributes": {"sessions": session}}), signed], 200),
        Operation("GET /me", proxy_event("GET", "/me", headers=bearer),
                  [("dynamodb", "get_item", {"Item": {"sessions": session}})], 200),
        Operation("POST /signout", proxy_event("POST", "/signout", headers=bearer),
                  [("dynamodb", "get_item", {"Item": {"sessions": session}}), ("dynamodb", "update_item", {})], 200),
        Operation("GET /.well-known/jwks.json", proxy_event("GET", "/.well-known/jwks.json"), [], 200),
    ]
    public_key = ("kms", "get_public_key", {"KeyId": KEY_ARN, "PublicKey": public_der})
    run_once(app, stubs, operations[1].event, [operations[1].calls[0], public_key, signed], 200)
    results: dict[str, Any] = {}
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):  # the access log, one line each
        for operation in operations:
            results[operation.name] = measure(app, operation, stubs, calls)
        floor = Operation("minimal one-route Chalice app", proxy_event("POST", "/otp", {"x": 1}), [], 200)
        results[floor.name] = measure(minimal, floor, stubs, calls)
    return results


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)))
