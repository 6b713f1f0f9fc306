"""AWS failing mid-operation: the documented answer, and the state left behind is never worse than documented.

Faults are injected into the service's own boto3 clients (``chalicelib.wiring.get_client``) through botocore's
``before-send`` event, so botocore's retries run as in production: an injected throttle or timeout is retried
and still fails. ``applied=True`` lets the in-process moto apply the request first and then loses the answer,
as a read timeout does after DynamoDB has written. After each failure the stored item is read from moto and
the person retries at once. Faults already covered elsewhere (a single failing call, checked over HTTP only, in
test_api.py and test_sessions.py) are not repeated here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from chalice.test import Client
from moto.core.botocore_stubber import MockRawResponse

from chalicelib import wiring
from chalicelib.crypto import KeyedHasher
from chalicelib.http.network import source_network
from tests.conftest import FakeClock, code_in, sent_mails

ALICE = "alice@example.com"
TABLE = "otp_users"
SOURCE_IP = "127.0.0.1"  # what chalice's test client reports

Failure = Exception | Callable[[Any], AWSResponse]


def aws_error(code: str, status: int) -> Callable[[Any], AWSResponse]:
    """An AWS error answer as the service would send it; its message quotes an address, as SES's do."""

    def answer(request: Any) -> AWSResponse:
        body = json.dumps({"__type": code, "message": f"injected for {ALICE}"})
        headers = {"x-amzn-ErrorType": code, "Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, status, headers, MockRawResponse(body))

    return answer


def timeout() -> ReadTimeoutError:
    return ReadTimeoutError(endpoint_url="https://aws.example/")


@dataclass
class Fault:
    operation: str
    failure: Failure
    skip: int
    applied: bool
    times: int | None = None
    seen: int = 0
    fired: int = 0

    def __call__(self, event_name: str, request: Any, **_: Any) -> AWSResponse | None:
        if not event_name.endswith(f".{self.operation}"):
            return None
        self.seen += 1
        if self.seen <= self.skip or (self.times is not None and self.fired >= self.times):
            return None
        self.fired += 1
        if isinstance(self.failure, Exception):
            raise self.failure  # the other handlers, moto's included, do not run
        # Every handler of the event runs and the first answer wins; moto, which comes later, must not carry the
        # request out: it only serves AWS URLs.
        request.url = "https://fault-injected.invalid/"
        return self.failure(request)


class Faults:
    """Failures injected into the service's clients; ``clear()`` lifts them all."""

    def __init__(self) -> None:
        self._installed: list[tuple[Any, str, Fault]] = []

    def inject(
        self,
        service: str,
        operation: str,
        failure: Failure,
        *,
        skip: int = 0,
        applied: bool = False,
        times: int | None = None,
    ) -> Fault:
        """Fail every attempt at ``operation`` after the first ``skip`` (retries are attempts), or only ``times``.

        Before the request reaches moto, or with ``applied`` after moto has carried it out (exceptions only).
        """
        client = wiring.get_client(service)
        fault = Fault(operation, failure, skip, applied, times)
        service_id = client.meta.service_model.service_id.hyphenize()
        # More specific event names run first: ``before-send.<service>.<operation>`` comes before moto's own
        # ``before-send`` handler; one registered on ``before-send`` itself runs after it.
        event = "before-send" if applied else f"before-send.{service_id}.{operation}"
        client.meta.events.register(event, fault)
        self._installed.append((client, event, fault))
        return fault

    def clear(self) -> None:
        for client, event, fault in self._installed:
            client.meta.events.unregister(event, fault)
        self._installed.clear()


@pytest.fixture
def faults(no_wait_retries: None) -> Iterator[Faults]:
    injected = Faults()
    yield injected
    injected.clear()


@pytest.fixture
def table(stage_env: dict[str, str], aws: None) -> Table:
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=stage_env["OTP_HASH_SECRET_ID"])
    return Table(KeyedHasher(secret["SecretString"].encode()))


@dataclass
class Table:
    """The stored state, read from moto directly, by the same keyed digests the service uses."""

    hasher: KeyedHasher

    def item(self, key: str) -> dict[str, Any]:
        return (
            boto3.client("dynamodb")
            .get_item(TableName=TABLE, Key={"pk": {"S": key}}, ConsistentRead=True)
            .get("Item", {})
        )

    def address_key(self, email: str = ALICE) -> str:
        return self.hasher.subject_key("email", email)

    def address(self, email: str = ALICE) -> dict[str, Any]:
        """The address's own item: its code state, failure budget and (once it signed in) its account."""
        return self.item(self.address_key(email))

    def counters(self, email: str = ALICE) -> dict[str, int]:
        """Every window counter of the address (send quota, failure budget) and of the test client's network.

        Named as the old per-window attributes were: ``sends@<window>`` for each of the address's send-counter
        items, ``fails@<window>`` for the failure budget on its item, ``ip sends@<window>`` for the network's.
        """
        home = self.address(email)
        found = {f"fails@{home['fails_w']['N']}": int(home["fails"]["N"])} if "fails_w" in home else {}
        network_key = self.hasher.subject_key("ip", source_network(SOURCE_IP) or "")
        for label, subject in (("", self.address_key(email)), ("ip ", network_key)):
            for counter in self._items_under(f"{subject}/"):
                found[label + counter["pk"]["S"].removeprefix(f"{subject}/")] = int(counter["n"]["N"])
        return found

    def _items_under(self, prefix: str) -> list[dict[str, Any]]:
        pages = (
            boto3.client("dynamodb")
            .get_paginator("scan")
            .paginate(
                TableName=TABLE,
                ConsistentRead=True,
                FilterExpression="begins_with(#pk, :prefix)",
                ExpressionAttributeNames={"#pk": "pk"},
                ExpressionAttributeValues={":prefix": {"S": prefix}},
            )
        )
        return [item for page in pages for item in page["Items"]]

    def live_code(self, email: str = ALICE) -> str | None:
        return self.address(email).get("code", {}).get("S")

    def digest(self, code: str, email: str = ALICE) -> str:
        return self.hasher.digest(email, code)

    def sessions(self, email: str = ALICE) -> set[str]:
        """The nonces of the sessions on the address's item (the account's home)."""
        return set(self.address(email).get("sessions", {}).get("M", {}))


def post(client: Client, path: str, body: Any, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.http.post(path, headers=headers, body=json.dumps(body))


def send(client: Client, email: str = ALICE) -> Any:
    return post(client, "/otp", {"action": "send_otp", "email": email})


def verify(client: Client, code: str, email: str = ALICE) -> Any:
    return post(client, "/otp", {"action": "verify_otp", "email": email, "otp": code})


def me(client: Client, token: str) -> Any:
    return client.http.get("/me", headers={"Authorization": f"Bearer {token}"})


def mails_to(email: str = ALICE) -> list[str]:
    return [code_in(mail) for mail in sent_mails() if mail["to"] == [email]]


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def assert_answer(answer: Any, status: int, code: str) -> None:
    assert (answer.status_code, answer.json_body["code"]) == (status, code), answer.json_body
    if status == 503:
        assert answer.headers["Retry-After"] == str(answer.json_body["retry_after"])


def sign_in(client: Client, email: str = ALICE) -> dict[str, Any]:
    assert send(client, email).status_code == 200
    answer = verify(client, mails_to(email)[-1], email)
    assert answer.status_code == 200, answer.json_body
    return answer.json_body


# -- sending ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (aws_error("ProvisionedThroughputExceededException", 400), 503, "storage_unavailable"),
        (aws_error("ThrottlingException", 400), 503, "storage_unavailable"),
        (aws_error("InternalServerError", 500), 503, "storage_unavailable"),
        (timeout(), 503, "storage_unavailable"),
        (aws_error("AccessDeniedException", 400), 502, "storage_error"),
    ],
    ids=["throughput", "throttling", "internal", "timeout", "denied"],
)
def test_a_send_whose_transaction_fails_stores_and_mails_nothing(
    client: Client, faults: Faults, table: Table, failure: Failure, status: int, code: str
) -> None:
    fault = faults.inject("dynamodb", "TransactWriteItems", failure)
    assert_answer(send(client), status, code)
    assert fault.fired >= 1
    assert table.address() == {} and table.counters() == {}  # no code, no cooldown, no quota
    assert mails_to() == []
    faults.clear()
    assert send(client).status_code == 200  # at once
    assert verify(client, mails_to()[-1]).status_code == 200


def test_a_send_written_but_unanswered_can_be_retried_at_once(client: Client, faults: Faults, table: Table) -> None:
    faults.inject("dynamodb", "TransactWriteItems", timeout(), applied=True)
    assert_answer(send(client), 503, "storage_unavailable")
    faults.clear()
    assert mails_to() == []
    assert table.live_code() is None, "a live code that was never mailed"
    assert send(client).status_code == 200


def test_a_refused_mail_takes_back_the_code_the_cooldown_and_the_quotas(
    client: Client, faults: Faults, table: Table, clock: FakeClock
) -> None:
    assert send(client).status_code == 200
    first_sent_at = int(clock())
    mailed = mails_to()[-1]
    clock.advance(30)
    before = table.counters()
    faults.inject("sesv2", "SendEmail", aws_error("MessageRejected", 400))
    assert_answer(send(client), 502, "mail_rejected")
    item = table.address()
    assert "code" not in item and "guesses" not in item  # no live code: the one mailed before was replaced
    assert int(item["sent_at"]["N"]) == first_sent_at  # the cooldown runs from the last mail that left
    assert table.counters() == before  # neither the address's nor the IP's quota was spent
    assert verify(client, mailed).status_code == 401
    faults.clear()
    assert send(client).status_code == 200  # at once
    assert verify(client, mails_to()[-1]).status_code == 200


def test_when_the_mail_and_its_take_back_both_fail_it_costs_one_cooldown_only(
    client: Client, faults: Faults, table: Table, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    faults.inject("sesv2", "SendEmail", aws_error("TooManyRequestsException", 429))
    undo = faults.inject(
        "dynamodb", "TransactWriteItems", aws_error("ProvisionedThroughputExceededException", 400), skip=1
    )
    with caplog.at_level(logging.WARNING, logger="chalicelib"):
        assert_answer(send(client), 503, "mail_unavailable")  # the mail's failure is what the person hears
    assert undo.fired >= 1
    assert "could not take back a failed send: ProvisionedThroughputExceededException" in caplog.text
    assert ALICE not in caplog.text  # the AWS error messages quote the address; the logs do not
    unmailed = table.live_code()
    assert unmailed is not None and mails_to() == []  # the documented cost: a code nobody received ...
    faults.clear()
    refused = send(client)
    assert_answer(refused, 429, "resend_cooldown")  # ... and one cooldown, not a lockout
    assert 0 < refused.json_body["retry_after"] <= 30
    clock.advance(refused.json_body["retry_after"])
    assert send(client).status_code == 200
    assert table.live_code() not in (None, unmailed)  # the code that never left is gone
    assert verify(client, mails_to()[-1]).status_code == 200


# -- verifying ----------------------------------------------------------------------------------------------


def test_a_wrong_guess_whose_failure_count_times_out(client: Client, faults: Faults, table: Table) -> None:
    assert send(client).status_code == 200
    code = mails_to()[-1]
    # The guess is reserved by the first UpdateItem; counting the failure at the address is the second, and it
    # times out (the network's counters, their own items, are written alongside).
    count = faults.inject("dynamodb", "UpdateItem", timeout(), skip=1)
    assert_answer(verify(client, wrong(code)), 503, "storage_unavailable")
    assert count.fired >= 1
    faults.clear()
    item = table.address()
    assert int(item["guesses"]["N"]) == 1  # the guess that was compared is spent, and only that one
    assert not [name for name in table.counters() if name.startswith("fails@")]  # the budget lost one count, no more
    signed_in = verify(client, code)  # the person retries at once with the right code
    assert signed_in.status_code == 200
    assert me(client, signed_in.json_body["access_token"]).status_code == 200


def test_a_right_code_whose_write_landed_but_whose_answer_was_lost_still_signs_in(
    client: Client, faults: Faults, table: Table
) -> None:
    assert send(client).status_code == 200
    fault = faults.inject("dynamodb", "UpdateItem", timeout(), applied=True, times=1)  # botocore retries once
    answer = verify(client, mails_to()[-1])
    assert fault.fired == 1
    assert answer.status_code == 200, answer.json_body


def test_a_sign_out_or_refresh_whose_write_landed_but_whose_answer_was_lost_is_retried_safely(
    client: Client, faults: Faults
) -> None:
    session = sign_in(client)
    faults.inject("dynamodb", "UpdateItem", timeout(), applied=True, times=1)  # the first attempt lands, unanswered
    renewed = post(client, "/token/refresh", {"refresh_token": session["refresh_token"]})
    assert renewed.status_code == 200  # botocore's retry is refused, and the grace window honours the token
    faults.clear()
    assert me(client, renewed.json_body["access_token"]).status_code == 200
    faults.inject("dynamodb", "UpdateItem", timeout(), applied=True, times=1)
    assert post(client, "/signout", {}, renewed.json_body["access_token"]).status_code == 200
    faults.clear()
    assert me(client, renewed.json_body["access_token"]).status_code == 401


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (aws_error("KMSInternalException", 500), 503, "keys_unavailable"),
        (aws_error("ThrottlingException", 400), 503, "keys_unavailable"),
        (timeout(), 503, "keys_unavailable"),
        (aws_error("DisabledException", 400), 502, "keys_error"),
        (aws_error("AccessDeniedException", 400), 502, "keys_error"),
    ],
    ids=["internal", "throttling", "timeout", "disabled", "denied"],
)
def test_a_right_code_whose_signing_fails_is_put_back_exactly(
    client: Client, faults: Faults, table: Table, failure: Failure, status: int, code: str
) -> None:
    sign_in(client, "warm@example.com")  # the public keys are read once per container: only signing fails
    assert send(client).status_code == 200
    right = mails_to()[-1]
    before = table.address()
    faults.inject("kms", "Sign", failure)
    assert_answer(verify(client, right), status, code)
    faults.clear()
    after = table.address()
    assert after.get("guesses") == before.get("guesses") and "last_guess" not in after  # the guess is returned
    assert table.sessions() == set()  # the session written with the guess is gone with it
    assert after.get("code") == before.get("code")
    assert verify(client, right).status_code == 200  # the same code, at once


def test_when_signing_and_the_put_back_both_fail_a_new_code_still_signs_in(
    client: Client, faults: Faults, table: Table, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    assert send(client).status_code == 200
    right = mails_to()[-1]
    faults.inject("kms", "Sign", aws_error("KMSInternalException", 500))
    # The address's first sign-in: the guess's write and the one that creates the account land; the put-back fails.
    faults.inject("dynamodb", "UpdateItem", aws_error("ProvisionedThroughputExceededException", 400), skip=2)
    with caplog.at_level(logging.WARNING, logger="chalicelib"):
        assert_answer(verify(client, right), 503, "keys_unavailable")
    assert "could not put back a code whose session could not be handed out" in caplog.text
    faults.clear()
    assert verify(client, right).status_code == 401  # that code is used up: no session was handed out for it
    clock.advance(30)
    assert send(client).status_code == 200  # but nothing locks the address: a new code works
    assert verify(client, mails_to()[-1]).status_code == 200


# -- sessions -----------------------------------------------------------------------------------------------


def test_a_storage_failure_never_looks_like_a_signed_out_session(client: Client, faults: Faults) -> None:
    session = sign_in(client)
    token, refresh_token = session["access_token"], session["refresh_token"]
    faults.inject("dynamodb", "GetItem", timeout())
    assert_answer(me(client, token), 503, "storage_unavailable")  # not 401: the client must not sign out
    faults.clear()
    faults.inject("dynamodb", "UpdateItem", aws_error("ProvisionedThroughputExceededException", 400))
    assert_answer(post(client, "/signout", {}, token), 503, "storage_unavailable")  # not "signed out"
    assert_answer(post(client, "/token/refresh", {"refresh_token": refresh_token}), 503, "storage_unavailable")
    faults.clear()
    assert me(client, token).status_code == 200  # the failed sign-out ended nothing, and said so
    renewed = post(client, "/token/refresh", {"refresh_token": refresh_token})
    assert renewed.status_code == 200  # the failed refresh used nothing up
    assert post(client, "/signout", {}, renewed.json_body["access_token"]).status_code == 200
    assert me(client, token).status_code == 401


def test_a_refresh_whose_answer_was_lost_can_be_retried_in_the_grace_window(
    client: Client, faults: Faults, clock: FakeClock
) -> None:
    session = sign_in(client)
    faults.inject("dynamodb", "UpdateItem", timeout(), applied=True)  # rotated in the table, answer lost
    assert_answer(
        post(client, "/token/refresh", {"refresh_token": session["refresh_token"]}), 503, "storage_unavailable"
    )
    faults.clear()
    clock.advance(2)  # the answer's Retry-After
    retried = post(client, "/token/refresh", {"refresh_token": session["refresh_token"]})
    assert retried.status_code == 200
    assert me(client, retried.json_body["access_token"]).status_code == 200
    assert post(client, "/token/refresh", {"refresh_token": retried.json_body["refresh_token"]}).status_code == 200
