"""Concurrent attacks over real HTTP: `chalice local` and the embedded AWS, started as `make run` starts them.

One stack per module (``tools.run_local.headless_stack``: free ports, no UI). Each burst opens every connection
first, then releases all requests at once from their own threads, so the server holds them all together. Results
are checked twice: in the HTTP answers, and in the stored item, read from the embedded AWS by the same keyed
digest the service uses (the hashing key is the local stage's secret in the embedded AWS).

``chalice local`` is one Python process (a thread per connection) and the embedded AWS serialises DynamoDB
requests as DynamoDB serialises writes to an item; how many requests were really in the handler at once is
measured from the access log and printed (``pytest -s`` or ``-rP`` shows it).
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from app import PUBLIC_DOCUMENTS
from chalicelib.accounts.sessions import SessionRef
from chalicelib.crypto import KeyedHasher
from tests import logscan
from tools.bootstrap import load_stage_env
from tools.run_local import HOST, Stack, StackError, headless_stack

TABLE = "otp_users"
SOURCE_IP = "127.0.0.1"
HTTP_TIMEOUT_SECONDS = 120
CONNECT_TIMEOUT_SECONDS = 0.1
CONNECT_ATTEMPTS = 300
CONNECT_PAUSE_SECONDS = 0.003
DECODER = json.JSONDecoder()


@dataclass
class Output:
    """Every line the stack printed, with when it arrived."""

    lines: list[tuple[float, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, line: str) -> None:
        with self._lock:
            self.lines.append((time.monotonic(), line))

    def access_log(self, since: int = 0) -> list[tuple[float, dict[str, Any]]]:
        """The API's access-log lines (after the ``since``-th line of output)."""
        with self._lock:
            recent = self.lines[since:]
        entries = []
        for arrived, line in recent:
            # The server's threads print at once: an access-log line can share its line with another's output.
            start = line.find('{"') if line.startswith("[api] ") else -1
            while start >= 0:
                try:
                    entry, end = DECODER.raw_decode(line, start)
                except ValueError:
                    end = start + 1
                else:
                    if isinstance(entry, dict) and "route" in entry:
                        entries.append((arrived, entry))
                start = line.find('{"', end)
        return entries


@dataclass
class LocalStack:
    stack: Stack
    output: Output
    hasher: KeyedHasher
    dynamodb: Any

    def key(self, who: str) -> str:
        """The item key of an address, or of a number (E.164)."""
        return self.hasher.subject_key("phone" if who.startswith("+") else "email", who)

    def item(self, email: str) -> dict[str, Any]:
        """The address's own item: its code state, failure budget and (once it signed in) its account."""
        key = {"pk": {"S": self.key(email)}}
        return self.dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True).get("Item", {})

    def sends(self, email: str) -> int:
        """The address's sends, summed over its send-counter items (``<address key>/sends@<window>``)."""
        prefix = {":prefix": {"S": f"{self.key(email)}/sends@"}}
        pages = self.dynamodb.get_paginator("scan").paginate(
            TableName=TABLE,
            ConsistentRead=True,
            FilterExpression="begins_with(#pk, :prefix)",
            ExpressionAttributeNames={"#pk": "pk"},
            ExpressionAttributeValues=prefix,
        )
        return sum(int(item["n"]["N"]) for page in pages for item in page["Items"])

    def mails_to(self, email: str) -> list[dict[str, Any]]:
        """The mails to ``email`` among the newest the embedded AWS captured (its dev inbox), newest first."""
        with urllib.request.urlopen(self.stack.inbox_url, timeout=30) as answer:
            mails = json.load(answer)["mails"]
        return [m for m in mails if email in m["destinations"]["ToAddresses"]]

    def texts_to(self, number: str) -> list[str]:
        """The texts to ``number`` among the newest the embedded AWS captured (its dev inbox), newest first."""
        with urllib.request.urlopen(f"{self.stack.inbox_url}?limit=1000", timeout=30) as answer:
            texts = json.load(answer)["sms"]
        return [text["message"] for text in texts if text["phone_number"] == number]

    def code_for_number(self, number: str) -> str:
        code = re.search(r"\b\d{6}\b", self.texts_to(number)[0])
        assert code
        logscan.remember(codes=[code[0]], phones=[number])
        return code[0]

    def code_for(self, email: str) -> str:
        """The code of the last mail to ``email``, from the embedded AWS's captured mail (its dev inbox)."""
        subject = self.mails_to(email)[0]["subject"]
        code = re.search(r"\b\d{6}\b", subject)
        assert code, subject
        logscan.remember(codes=[code[0]], addresses=[email])
        return code[0]


@pytest.fixture(scope="module")
def local() -> Iterator[LocalStack]:
    yield from local_stack({})


@pytest.fixture(scope="module")
def one_network_unbudgeted() -> Iterator[LocalStack]:
    """A stack whose budget per (source network, address) does not bind: a burst from this one test client can
    then only meet the per-code limit (the network budget is read alongside each guess, so under a burst it
    binds by how many reads come before the first counts land, which no assertion could pin)."""
    yield from local_stack({"OTP_FAILURES_PER_IP_AND_ADDRESS": "1000"})


def local_stack(settings: dict[str, str]) -> Iterator[LocalStack]:
    output = Output()
    try:
        # At DEBUG, so that the log scan reads every diagnostic the service can write under attack.
        with headless_stack({"LOG_LEVEL": "DEBUG", **settings}, echo=output) as stack:
            session = boto3.Session(
                aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
            )
            secret_id = load_stage_env("local")["OTP_HASH_SECRET_ID"]
            secret = session.client("secretsmanager", endpoint_url=stack.aws_url).get_secret_value(SecretId=secret_id)
            yield LocalStack(
                stack,
                output,
                KeyedHasher(secret["SecretString"].encode()),
                session.client("dynamodb", endpoint_url=stack.aws_url),
            )
    except StackError as error:
        pytest.fail(f"the local stack did not start: {error}\n" + "\n".join(error.tail))
    finally:
        logscan.add_log_lines(
            "chalice local and the embedded AWS (tests/test_adversarial_http.py)", [line for _, line in output.lines]
        )


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    sent: float
    received: float


@dataclass(frozen=True)
class Burst:
    answers: list[Answer]
    released: float
    in_handler_average: float  # requests inside the API's handler at once, averaged over the burst
    in_handler_peak: int  # most requests inside the handler at one moment (from the log's latencies)
    open_peak: int  # most requests sent and not yet answered at one moment, as the clients saw it

    def statuses(self) -> Counter[int]:
        return Counter(answer.status for answer in self.answers)

    def codes(self) -> Counter[str]:
        return Counter(answer.body["code"] for answer in self.answers)

    def describe(self) -> str:
        duration = max(a.received for a in self.answers) - self.released
        return (
            f"{len(self.answers)} requests in {duration:.2f} s: {dict(self.statuses())}; in the handler at once: "
            f"{self.in_handler_average:.0f} on average, {self.in_handler_peak} at peak; open at the clients at "
            f"peak: {self.open_peak}"
        )


def post(port: int, body: dict[str, Any], connection: http.client.HTTPConnection | None = None) -> Answer:
    """One POST /otp on its own connection (chalice local's server stalls on a reused one: headers and body
    go out in two writes)."""
    conn = connection or http.client.HTTPConnection(HOST, port, timeout=HTTP_TIMEOUT_SECONDS)
    sent = time.monotonic()
    try:
        conn.request("POST", "/otp", json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        data = json.loads(response.read())
    finally:
        conn.close()
    answer = Answer(response.status, data, sent, time.monotonic())
    logscan.remember(tokens=[data.get("access_token", ""), data.get("refresh_token", "")])
    return answer


def burst(local: LocalStack, bodies: list[dict[str, Any]]) -> Burst:
    """All ``bodies`` POSTed at once, each from its own thread and connection; answers in the same order."""
    port = local.stack.ports.api
    connections = [_connect(port) for _ in bodies]  # each waits for its request in a server thread of its own
    barrier = threading.Barrier(len(bodies) + 1)
    answers: list[Answer | None] = [None] * len(bodies)

    def run(index: int) -> None:
        barrier.wait()
        answers[index] = post(port, bodies[index], connections[index])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    log_start = len(local.output.lines)
    barrier.wait()
    released = time.monotonic()
    for thread in threads:
        thread.join(HTTP_TIMEOUT_SECONDS)
    assert all(answer is not None for answer in answers), "a request got no answer"
    done: list[Answer] = [answer for answer in answers if answer is not None]
    log = _wait_for_log_lines(local.output, log_start, len(bodies))
    return Burst(done, released, *_in_handler(log, released, max(a.received for a in done)), _open_peak(done))


def _connect(port: int) -> http.client.HTTPConnection:
    """A connection the server has accepted, opened gently: its listen backlog is 5, and a connection refused
    by a full backlog is only retried by TCP after a second."""
    for _ in range(CONNECT_ATTEMPTS):
        connection = http.client.HTTPConnection(HOST, port, timeout=CONNECT_TIMEOUT_SECONDS)
        try:
            connection.connect()
        except TimeoutError:
            connection.close()
            continue
        assert connection.sock is not None
        connection.sock.settimeout(HTTP_TIMEOUT_SECONDS)
        time.sleep(CONNECT_PAUSE_SECONDS)
        return connection
    raise AssertionError(f"could not connect to 127.0.0.1:{port}")


def _wait_for_log_lines(output: Output, since: int, count: int) -> list[tuple[float, dict[str, Any]]]:
    deadline = time.monotonic() + 10
    while len(log := output.access_log(since)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(log) == count, f"{len(log)} access-log lines for {count} requests"
    return log


def _in_handler(log: list[tuple[float, dict[str, Any]]], released: float, finished: float) -> tuple[float, int]:
    """Average and peak number of requests inside the handler; a line arrives as its request ends."""
    latencies = [entry["latency_ms"] / 1000 for _, entry in log]
    average = sum(latencies) / max(finished - released, 1e-9)
    return average, _peak([(arrived - latency, arrived) for (arrived, _), latency in zip(log, latencies, strict=True)])


def _open_peak(answers: list[Answer]) -> int:
    return _peak([(answer.sent, answer.received) for answer in answers])


def _peak(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = current = 0
    for _, change in events:
        current += change
        peak = max(peak, current)
    return peak


def send(local: LocalStack, email: str) -> str:
    answer = post(local.stack.ports.api, {"action": "send_otp", "email": email})
    assert answer.status == 200, answer.body
    return local.code_for(email)


def verify_body(email: str, code: str) -> dict[str, Any]:
    return {"action": "verify_otp", "email": email, "otp": code}


def wrong_codes(right: str, count: int) -> list[str]:
    return [guess for guess in (f"{n:06d}" for n in range(count + 1)) if guess != right][:count]


def test_200_concurrent_wrong_guesses_evaluate_exactly_the_per_code_limit(one_network_unbudgeted: LocalStack) -> None:
    local = one_network_unbudgeted
    email = "target-of-200@example.com"
    right = send(local, email)
    result = burst(local, [verify_body(email, guess) for guess in wrong_codes(right, 200)])
    print(f"\n200 wrong guesses: {result.describe()}")

    assert set(result.statuses()) == {401}, result.statuses()  # and so no 200: no session for anyone
    item = local.item(email)
    assert int(item["guesses"]["N"]) == 6  # exactly the per-code limit was reserved and compared, never more
    assert item["sessions"]["M"] == {}  # every session written speculatively with a guess was removed again
    assert int(item["fails"]["N"]) == 6  # the ceiling counts the 6 wrong codes at the live code, no more
    assert result.in_handler_average >= 20, "the burst did not run concurrently: " + result.describe()

    refused = post(local.stack.ports.api, verify_body(email, right))
    # The right code, after the burst: refused, for the code is out of guesses.
    assert (refused.status, refused.body["code"]) == (401, "invalid_code")
    assert int(local.item(email)["guesses"]["N"]) == 6


def test_200_concurrent_wrong_guesses_from_one_network_stop_at_its_budget(local: LocalStack) -> None:
    """With the default budget per (network, address): the guesses read it as they reserve, so the burst meets
    whichever of the two limits comes first; never more than the per-code limit is compared."""
    email = "budgeted-200@example.com"
    right = send(local, email)
    result = burst(local, [verify_body(email, guess) for guess in wrong_codes(right, 200)])
    assert set(result.statuses()) <= {401, 429}, result.statuses()
    assert set(result.codes()) <= {"invalid_code", "too_many_failures"}
    item = local.item(email)
    assert int(item["guesses"]["N"]) <= 6  # guesses withdrawn for the budget were never compared
    assert item["sessions"]["M"] == {}
    assert result.in_handler_average >= 20, "the burst did not run concurrently: " + result.describe()
    refused = post(local.stack.ports.api, verify_body(email, right))
    # The right code, after the burst, from the same network: its budget for the address (10) is spent.
    assert (refused.status, refused.body["code"]) == (429, "too_many_failures")


def test_the_per_code_limit_alone_refuses_the_right_code(one_network_unbudgeted: LocalStack) -> None:
    local = one_network_unbudgeted
    email = "twelve-guesses@example.com"
    right = send(local, email)
    result = burst(local, [verify_body(email, guess) for guess in wrong_codes(right, 12)])
    assert result.statuses() == Counter({401: 12})
    item = local.item(email)
    assert int(item["guesses"]["N"]) == 6
    # The address's ceiling (50) counts the 6 wrong codes at its live code; the 6 refused for want of guesses
    # counted only against this network's budgets.
    assert int(item["fails"]["N"]) == 6
    refused = post(local.stack.ports.api, verify_body(email, right))
    assert (refused.status, refused.body["code"]) == (401, "invalid_code")  # out of guesses, not of budget


def test_20_concurrent_verifies_of_the_right_code_open_exactly_one_session(local: LocalStack) -> None:
    email = "double-clicker@example.com"
    right = send(local, email)
    result = burst(local, [verify_body(email, right)] * 20)
    print(f"\n20 right guesses: {result.describe()}")

    assert result.statuses() == Counter({200: 1, 401: 19})
    (winner,) = [answer for answer in result.answers if answer.status == 200]
    item = local.item(email)
    claims = json.loads(_b64(winner.body["access_token"].split(".")[1]))
    handed_out = SessionRef.parse(claims["sid"])
    assert handed_out.home == local.key(email)
    assert set(item["sessions"]["M"]) == {handed_out.nonce}  # one session in the table: the one handed out
    assert int(item["guesses"]["N"]) == 1  # the other 19 never got past the write that reserves a guess
    me = http.client.HTTPConnection(HOST, local.stack.ports.api, timeout=HTTP_TIMEOUT_SECONDS)
    me.request("GET", "/me", headers={"Authorization": f"Bearer {winner.body['access_token']}"})
    assert me.getresponse().status == 200


def test_50_concurrent_sends_to_one_address_mail_once(local: LocalStack) -> None:
    email = "impatient@example.com"
    result = burst(local, [{"action": "send_otp", "email": email}] * 50)
    assert result.statuses() == Counter({200: 1, 429: 49})
    assert result.codes()["resend_cooldown"] == 49
    assert local.sends(email) == 1  # one of 5 spent
    local.code_for(email)  # and exactly that one mail is in the inbox:
    assert len(local.mails_to(email)) == 1


def test_50_concurrent_sends_to_one_number_text_once(local: LocalStack) -> None:
    number = "+14155550150"
    result = burst(local, [{"action": "send_otp", "phone": number}] * 50)
    assert result.statuses() == Counter({200: 1, 429: 49})
    assert result.codes()["resend_cooldown"] == 49
    assert local.sends(number) == 1
    assert len(local.texts_to(number)) == 1


def test_200_concurrent_wrong_guesses_at_a_number_evaluate_exactly_the_per_code_limit(
    one_network_unbudgeted: LocalStack,
) -> None:
    local = one_network_unbudgeted
    number = "+14155550200"
    assert post(local.stack.ports.api, {"action": "send_otp", "phone": number}).status == 200
    right = local.code_for_number(number)
    bodies = [{"action": "verify_otp", "phone": number, "otp": guess} for guess in wrong_codes(right, 200)]
    result = burst(local, bodies)
    assert set(result.statuses()) == {401}, result.statuses()
    item = local.item(number)
    assert int(item["guesses"]["N"]) == 6 and int(item["fails"]["N"]) == 6
    assert item["sessions"]["M"] == {}
    assert result.in_handler_average >= 20, "the burst did not run concurrently: " + result.describe()
    refused = post(local.stack.ports.api, {"action": "verify_otp", "phone": number, "otp": right})
    assert (refused.status, refused.body["code"]) == (401, "invalid_code")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/.well-known/jwks.json"), ("OPTIONS", "/.well-known/jwks.json"), ("POST", "/otp"), ("OPTIONS", "/otp")],
)
def test_answers_that_depend_on_the_origin_say_so_to_caches(local: LocalStack, method: str, path: str) -> None:
    allowed_origin = f"http://{HOST}:{local.stack.ports.ui}"  # the UI's, in the stage's OTP_CORS_ORIGINS
    public = path in PUBLIC_DOCUMENTS  # any origin reads it: one answer for all, nothing to vary on
    for origin in (allowed_origin, "https://evil.example", None):
        connection = http.client.HTTPConnection(HOST, local.stack.ports.api, timeout=HTTP_TIMEOUT_SECONDS)
        connection.request(method, path, "{}" if method == "POST" else None, {"Origin": origin} if origin else {})
        response = connection.getresponse()
        response.read()
        connection.close()
        assert response.getheader("Vary") == (None if public else "Origin"), (origin, response.getheaders())
        expected = "*" if public else origin if origin == allowed_origin else None
        assert response.getheader("Access-Control-Allow-Origin") == expected, (origin, response.getheaders())


@pytest.mark.parametrize(
    "spelled",
    [
        "victim@example.com\n",
        "victim@example.com\r\n",
        "\r\nvictim@example.com",
        "victim@example.com\u2028",
        "victim@example.com\x85",
        "\tvictim@example.com ",
    ],
)
def test_an_address_with_a_line_break_or_control_character_is_refused(local: LocalStack, spelled: str) -> None:
    answer = post(local.stack.ports.api, {"action": "send_otp", "email": spelled})
    assert (answer.status, answer.body["code"]) == (400, "invalid_email")
    assert local.item("victim@example.com") == {}  # nothing stored, so nothing was mailed either


def _b64(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
