"""Handler overhead: the service's own time per request when AWS answers instantly.

Runs in a fresh process (``python -m bench.overhead <calls>``, started by bench.run with the local stage's
settings and no AWS endpoint). botocore's ``Stubber`` sits on every client ``chalicelib.wiring.get_client``
hands out, so each AWS call is serialised by botocore (the service's clients skip its parameter validation) and
then answered from memory: what is left is the handler (Chalice's routing, validation, HMACs, JWT checks,
expression building, botocore's client side, the access-log line, sent to /dev/null). The handler is called
with API Gateway proxy events, as Lambda calls it. KMS is played by a local P-256 key, so the access token used
for ``/me`` and sign-out is a real one. Prints JSON: per operation, p50/p99/mean in microseconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from botocore.stub import Stubber, UnStubbedResponseError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bench.events import LambdaContext, answer, proxy_event
from chalicelib.accounts.store import ACCOUNT_FIELDS, LAYOUT_VERSION, _seal_context
from chalicelib.core.expressions import NEVER, PINNED, TTL, to_attribute
from chalicelib.core.schema import ACTIVE, SESSIONS
from chalicelib.otp.service import EMAIL

KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0b6e3c5a-8f0e-4a51-9d43-6f1f2d7c9e10"
RSA_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/5d1f0a7e-2c4b-4e8a-b6f3-9a0c1e2d3f40"
ADDRESS = "bench@example.com"
CODE, OTHER_CODE = "123456", "654321"
WARMUP = 100
Queue = list[tuple[str, str, dict[str, Any]]]


class AnyOrderStubber(Stubber):
    """A ``Stubber`` that answers each call with the first queued answer for its operation, whatever the order.

    A verify reads the source network's budgets on a thread alongside the guess's write, so the two calls reach
    the client in either order. A call added or dropped still stops the bench (an unanswered call, a queued
    answer left over).
    """

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self._lock = threading.Lock()

    def _assert_expected_params(self, model: Any, params: Any, context: Any, **kwargs: Any) -> None:
        return None  # the bench queues answers, not expected parameters

    def _get_response_handler(self, model: Any, params: Any, context: Any, **kwargs: Any) -> Any:
        with self._lock:
            for index, queued in enumerate(self._queue):
                if queued["operation_name"] == model.name:
                    del self._queue[index]
                    return queued["response"]
        raise UnStubbedResponseError(operation_name=model.name, reason="no answer queued for it")


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
            queue(stubs[service], method, response)
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
    return {
        "p50_us": percentile(timings, 0.5),
        "p99_us": percentile(timings, 0.99),
        "mean_us": statistics.fmean(timings),
        "calls": calls,
        "aws_calls_per_request": len(operation.calls),
    }


REFUSED = "ConditionalCheckFailedException"


def queue(stub: Stubber, method: str, response: dict[str, Any]) -> None:
    """Queue an answer, or with ``{"refused": item}`` a refused write condition (and the item as it stood)."""
    if "refused" in response:
        stub.add_client_error(
            method, service_error_code=REFUSED, http_status_code=400, modeled_fields={"Item": response["refused"]}
        )
    else:
        stub.add_response(method, response)


def run_once(
    handler: Callable[..., Any], stubs: dict[str, Stubber], event: dict[str, Any], calls: Queue, status: int
) -> dict[str, Any]:
    for service, method, response in calls:
        queue(stubs[service], method, response)
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        got = answer(handler(event, LambdaContext()))
    if got[0] != status:
        raise SystemExit(f"unexpected answer {got}")
    for stub in stubs.values():
        stub.assert_no_pending_responses()
    return got[1]


def stored(attributes: dict[str, Any]) -> dict[str, Any]:
    """An item as DynamoDB answers with it, from plain values, in the service's own encoding."""
    return {name: to_attribute(value) for name, value in attributes.items()}


def main(calls: int) -> dict[str, Any]:
    from app import app
    from bench.minimal_app import app as minimal
    from chalicelib import wiring
    from chalicelib.accounts.tokens import VerificationKey

    # The service's clock stands still for the run (it reads wiring.CLOCK, made to be replaced before the first
    # request): the TOTP code queued below stays the current step's however long 2,000 calls of every operation
    # take on a busy machine. AWS is stubbed, so nothing else waits for time to pass.
    frozen = time.time()
    wiring.CLOCK = lambda: frozen
    private_key = ec.generate_private_key(ec.SECP256R1())
    public_der = private_key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    kid = VerificationKey.from_der(public_der).kid
    signature = private_key.sign(
        b"any input: the signature is not checked by the call that asks for it", ec.ECDSA(hashes.SHA256())
    )
    stubs = {name: AnyOrderStubber(wiring.get_client(name)) for name in ("dynamodb", "sesv2", "kms", "secretsmanager")}
    for stub in stubs.values():
        stub.activate()

    signed = ("kms", "sign", {"KeyId": KEY_ARN, "Signature": signature, "SigningAlgorithm": "ECDSA_SHA_256"})
    send = proxy_event("POST", "/otp", {"action": "send_otp", "email": ADDRESS})
    sent = [("dynamodb", "transact_write_items", {}), ("sesv2", "send_email", {"MessageId": "bench"})]
    # The container's first requests read the hashing key (first send) and the public key (first sign-in).
    key = ("secretsmanager", "get_secret_value", {"SecretString": "k" * 64})
    run_once(app, stubs, send, [key, *sent], 200)

    # The stored items, in the layout chalicelib/otp/store.py and chalicelib/accounts/store.py describe, made with
    # the service's own hasher, sealer and session service (the ones the handler now uses, keyed as it is).
    now = wiring.now()
    settings = wiring.get_settings()
    limits = settings.limits
    hasher = wiring.get_hasher()
    home = hasher.subject_key(EMAIL, ADDRESS)
    session = wiring.get_sessions().prepare(home, now)  # the bench's signed-in session: its nonce, entry, token
    # The address's item as a send leaves it: a live code, no guess made at it yet.
    code_state = {
        "pk": home,
        "code": hasher.digest(ADDRESS, CODE),
        "code_expires_at": now + limits.code_ttl_seconds,
        "guesses": 0,
        "prev_sent_at": 0,
        "sent_at": now,
        SESSIONS: {},
        "v": LAYOUT_VERSION,
        TTL: now + limits.retention_seconds,
    }
    account = {
        "account": str(uuid.uuid4()),
        "status": ACTIVE,
        "created_at": now,
        "ids": {EMAIL: hasher.sealer().seal(ADDRESS, _seal_context(home, EMAIL))},
        PINNED: NEVER,
        TTL: NEVER,
        "last_sign_in_at": now,
    }
    entry = session.record.entry()
    # The account's home with a fresh code: what a returning person's guess finds (one session open already) ...
    returning = {**code_state, **account, SESSIONS: {session.ref.nonce: entry}}
    # ... and what a refresh leaves (the presented tag retired, a new one current) and a session check reads.
    rotated = {**returning, SESSIONS: {session.ref.nonce: {**entry, "h": "0" * 32, "hg": entry["h"], "r": now}}}
    checked = {
        **{name: returning[name] for name in ACCOUNT_FIELDS if name in returning},  # no consents given yet
        SESSIONS: {session.ref.nonce: {name: entry[name] for name in ("c", "x", "amr")}},
    }
    access_token = jwt.encode(
        {
            "amr": list(session.record.amr),
            "auth_time": now,
            "email": ADDRESS,
            "email_verified": True,
            "iss": settings.token_issuer,
            "aud": settings.token_audience,
            "sub": account["account"],
            "sid": session.ref.id,
            "iat": now,
            "nbf": now,
            "exp": now + limits.access_token_seconds,
            "jti": secrets.token_urlsafe(16),
        },
        private_key,
        algorithm="ES256",
        headers={"kid": kid, "typ": "JWT"},
    )
    bearer = {"authorization": f"Bearer {access_token}"}
    jwks = proxy_event("GET", "/.well-known/jwks.json")
    verify = {"action": "verify_otp", "email": ADDRESS}
    guessed = ("dynamodb", "update_item", {"Attributes": stored(returning)})  # ALL_OLD of the reserving write
    # The source network's failure budgets, read alongside that write: none spent.
    gated = ("dynamodb", "batch_get_item", {"Responses": {settings.table_name: []}})
    operations = [
        Operation("send_otp", send, sent, 200),
        # An account's sign-in: the guess's write is all it writes.
        Operation(
            "verify_otp, right code",
            proxy_event("POST", "/otp", {**verify, "otp": CODE}),
            [guessed, gated, signed],
            200,
        ),
        # A wrong guess: the address's ceiling, in the write that also takes the guess's session out again, and
        # alongside it the network's two counters (a transaction of their own items).
        Operation(
            "verify_otp, wrong code",
            proxy_event("POST", "/otp", {**verify, "otp": OTHER_CODE}),
            [guessed, gated, ("dynamodb", "update_item", {}), ("dynamodb", "transact_write_items", {})],
            401,
        ),
        # A wrong code for an address that never asked: the guess's write is refused (no item), and so is the
        # ceiling's (made all the same, so that the requests do not tell the two apart); the counters as above.
        Operation(
            "verify_otp, no code requested",
            proxy_event("POST", "/otp", {"action": "verify_otp", "email": "never@example.com", "otp": CODE}),
            [
                ("dynamodb", "update_item", {"refused": {}}),
                gated,
                ("dynamodb", "update_item", {"refused": {}}),
                ("dynamodb", "transact_write_items", {}),
            ],
            401,
        ),
        Operation(
            "POST /token/refresh",
            proxy_event("POST", "/token/refresh", {"refresh_token": session.refresh_token}),
            [("dynamodb", "update_item", {"Attributes": stored(rotated)}), signed],
            200,
        ),
        Operation(
            "GET /me",
            proxy_event("GET", "/me", headers=bearer),
            [("dynamodb", "get_item", {"Item": stored(checked)})],
            200,
        ),
        Operation(
            "POST /signout",
            proxy_event("POST", "/signout", headers=bearer),
            [("dynamodb", "get_item", {"Item": stored(checked)}), ("dynamodb", "update_item", {})],
            200,
        ),
        Operation("GET /.well-known/jwks.json", jwks, [], 200),
        *two_step_operations(returning, verify, gated, signed),
    ]
    # The container's first sign-in is the address's first: the guess's write finds no account, so a second write
    # creates it (answering with the item it made), and the public key is read before the first signature.
    public_key = ("kms", "get_public_key", {"KeyId": KEY_ARN, "PublicKey": public_der})
    first_guess = ("dynamodb", "update_item", {"Attributes": stored(code_state)})
    created = (
        "dynamodb",
        "update_item",
        {"Attributes": stored({**returning, "guesses": 1, "last_guess": code_state["code"]})},
    )
    signed_in = run_once(app, stubs, operations[1].event, [first_guess, gated, created, public_key, signed], 200)
    if (signed_in.get("user_id"), signed_in.get("email")) != (account["account"], ADDRESS):
        raise SystemExit(f"the stubbed account did not open as the service stores it: {signed_in}")
    # The container's first JWKS reads the public key of the RSA key too (RS256: the ID tokens).
    rsa_der = (
        rsa.generate_private_key(65537, 2048).public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    run_once(app, stubs, jwks, [("kms", "get_public_key", {"KeyId": RSA_KEY_ARN, "PublicKey": rsa_der})], 200)
    results: dict[str, Any] = {}
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):  # the access log, one line each
        for operation in operations:
            results[operation.name] = measure(app, operation, stubs, calls)
        floor = Operation("minimal one-route Chalice app", proxy_event("POST", "/otp", {"x": 1}), [], 200)
        results[floor.name] = measure(minimal, floor, stubs, calls)
    return results


def two_step_operations(returning: dict[str, Any], verify: dict[str, Any], gated: Any, signed: Any) -> list[Operation]:
    """A right first factor on an account with an authenticator app (answered ``mfa_required``), and the
    pending session it opened redeemed with the app's current code (the TOTP check and the seal are the
    service's own work; the code stays valid: the service's clock stands still for the run)."""
    import pyotp

    from chalicelib import wiring
    from chalicelib.mfa.store import seal_context

    now = wiring.now()
    hasher = wiring.get_hasher()
    home = hasher.subject_key(EMAIL, ADDRESS)
    secret = pyotp.random_base32(32)
    factor = {"s": hasher.sealer().seal(secret, seal_context(home)), "rc": {}}
    pending = wiring.get_sessions().prepare(home, now)
    refresh_secret = pending.refresh_token.split(".")[2]
    mfa_token = ".".join(("mt1", pending.ref.id, refresh_secret, hasher.tag("mfa", pending.ref.id, refresh_secret)))
    with_factor = {**returning, "mfa": factor}
    awaiting = {**with_factor, SESSIONS: {pending.ref.nonce: pending.record.entry()}}
    return [
        Operation(
            "verify_otp, right code, second factor on",
            proxy_event("POST", "/otp", {**verify, "otp": CODE}),
            [("dynamodb", "update_item", {"Attributes": stored(with_factor)}), gated],
            200,
        ),
        # The try's reserving write (answering the item), the signature, the write that spends the step.
        Operation(
            "POST /mfa/verify, right code",
            proxy_event("POST", "/mfa/verify", {"mfa_token": mfa_token, "otp": pyotp.TOTP(secret).at(now)}),
            [("dynamodb", "update_item", {"Attributes": stored(awaiting)}), signed, ("dynamodb", "update_item", {})],
            200,
        ),
    ]


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)))
