"""`make bench`: measure the service and write docs/benchmarks.md (the table) and docs/benchmarks.json (raw figures).

    python -m bench.run [--quick]

0. The deployment zip, built by the deployment's own `make package` (first: the cold starts run from it too).
1. Cold start: fresh processes (bench/cold_start.py) each answer one first request against the embedded AWS,
   interleaved: the prototype's handler (bench/prototype.py), the service's send_otp by mail and by text and its
   verify_otp (right code), each also with the hashing key from the secrets extension, the OpenID Connect token
   endpoint's code exchange, a passkey's usernameless sign-in, and a one-route Chalice app (bench/minimal_app.py);
   then send_otp from the deployment zip, as Lambda loads it.
2. AWS calls per operation, per step of the OpenID Connect flow and per passkey request, warm, counted with a
   botocore ``before-call`` hook on the service's own clients.
3. Complete sign-ins through `chalice local` and the embedded AWS, 1, 8 and 32 clients at once.
4. Handler overhead with AWS answered instantly (bench/overhead.py, botocore's Stubber).

The embedded AWS and `chalice local` are started by `tools.run_local.headless_stack`, as `make run` starts them
(here with a read of the captured mail that does not slow down as mail accumulates: bench/inbox_aws.py).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from chalice.test import HTTPResponse

from bench.events import form_event, proxy_event
from bench.oidc import (
    DEMO,
    EXAMPLE,
    JSON,
    Call,
    RelyingParty,
    accept,
    bearer,
    code_in,
    login_challenge,
    login_request,
    through,
)
from bench.passkeys import SIGN_IN, SIGN_IN_PATH, Step, passkey_steps, registered, signing_in
from tests.webauthn_authenticator import Authenticator
from tools.offline_aws import offline_aws_env
from tools.run_local import HOST, Stack, headless_stack

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = REPO_ROOT / "docs"
INBOX_PATH = "/bench/inbox"
PACKAGE_STAGE = "prod"
# Every client here calls from 127.0.0.1: lift the per-source limits, which would otherwise be what is measured.
# The SMS cooldown too: the AWS calls of a linked phone's sign-in follow the code that linked it at once.
LOAD_SETTINGS = {
    "OTP_SENDS_PER_IP": "100000",
    "OTP_FAILURES_PER_IP": "100000",
    "OTP_SMS_SENDS_PER_IP": "100000",
    "OTP_SMS_SENDS_PER_PREFIX": "100000",
    "OTP_SMS_RESEND_COOLDOWN_SECONDS": "0",
}


@dataclass(frozen=True)
class Plan:
    timing_pairs: int = 300
    cold_runs: int = 16
    overhead_calls: int = 2000
    load_levels: tuple[int, ...] = (1, 8, 32)
    load_seconds: float = 10.0
    load_warmup_seconds: float = 2.0


QUICK = Plan(
    timing_pairs=40, cold_runs=3, overhead_calls=300, load_levels=(1, 8), load_seconds=3.0, load_warmup_seconds=1.0
)


def say(text: str) -> None:
    print(f"[bench] {text}", flush=True)


def percentile(samples: list[float], fraction: float) -> float:
    """The sample at ``fraction`` of the sorted samples (nearest rank); NaN without samples."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


# -- the machine ------------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    memory = next(
        (line.split()[1] for line in _read("/proc/meminfo").splitlines() if line.startswith("MemTotal")), None
    )
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(int(memory) / 2**20, 1) if memory else None,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {name: metadata.version(name) for name in ("chalice", "boto3", "botocore", "moto")},
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


# -- 1. cold start ----------------------------------------------------------------------------------------------


def stage_environment(stack: Stack) -> dict[str, str]:
    """What a process of the local stage sees: the stage's settings as chalice local sets them, the embedded AWS."""
    env = offline_aws_env(os.environ, stack.aws_url)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the warm-up run leaves the bytecode cache a deployed zip lacks
    env.update(stack.stage_env())
    # As chalice local has them (tools/run_local.py): the issuer at the API's port, passkeys made at the UI's.
    env.update(
        OTP_TOKEN_ISSUER=stack.api_url, OTP_WEBAUTHN_ORIGINS=stack.ui_url, PYTHONPATH=str(REPO_ROOT), **LOAD_SETTINGS
    )
    return env


# The first requests a container may answer, each against the prototype's; a sign-in's also with the hashing key
# read from the Parameters and Secrets Lambda Extension (the embedded AWS plays it: bench/inbox_aws.py).
PROTOTYPE = "prototype"
SERVICE_REQUESTS = ("send_otp (email)", "send_otp (SMS)", "verify_otp (right code)")
TOKEN_EXCHANGE = "POST /oauth2/token (code exchange)"  # an application's, after a sign-in another container served
PASSKEY_SIGN_IN = f"{SIGN_IN} (usernameless)"  # a ceremony another container began, a passkey registered before
FIRST_REQUESTS = (PROTOTYPE, *SERVICE_REQUESTS, TOKEN_EXCHANGE, PASSKEY_SIGN_IN)
BY_EXTENSION = ", key from the extension"
MINIMAL = "one-route Chalice app"
FIRST_PHONE = 14155550150  # +1 415 555-01xx: valid numbers reserved for fiction, one per run


@dataclass
class ColdRequests:
    """Makes each kind of first request for a fresh process: a new address or number every time, and for a
    verify the code sent beforehand by another process (chalice local), so that the verify is the first request
    of its own container; for a code exchange, the code of a sign-in that chalice local served (send, verify, the
    authorization request of the local stage's public client, the sign-in UI accepting it); for a passkey's sign-in,
    a new account's passkey registered and a sign-in ceremony begun through chalice local, answered by the suite's
    software authenticator."""

    stack: Stack
    # The addresses' prefix: each series of cold starts on one stack needs its own, or its first sends meet the
    # resend cooldown of the earlier series' (a quick run reaches the zip's within 30 s of the first's).
    series: str = "cold"
    count: int = 0

    def make(self, kind: str) -> tuple[str, dict[str, Any], dict[str, str]]:
        """(module, API Gateway proxy event, environment over the stage's) for one process of ``kind``."""
        self.count += 1
        email = f"{self.series}-{self.count}@example.com"
        extra: dict[str, str] = {}
        if kind.endswith(BY_EXTENSION):
            kind = kind.removesuffix(BY_EXTENSION)
            extra = {"OTP_SECRETS_EXTENSION_PORT": str(self.stack.ports.aws), "AWS_SESSION_TOKEN": "bench"}
        if kind == "send_otp (SMS)":
            return "app", otp_event({"action": "send_otp", "phone": f"+{FIRST_PHONE + self.count}"}), extra
        if kind == "verify_otp (right code)":
            return "app", otp_event({"action": "verify_otp", "email": email, "otp": self.code_sent(email)}), extra
        if kind == TOKEN_EXCHANGE:
            return "app", self.code_exchange(email), extra
        if kind == PASSKEY_SIGN_IN:
            return "app", self.passkey_sign_in(email), extra
        module = {PROTOTYPE: "bench.prototype", MINIMAL: "bench.minimal_app"}.get(kind, "app")
        return module, otp_event({"action": "send_otp", "email": email}), extra

    def code_exchange(self, email: str) -> dict[str, Any]:
        """The token request of an application whose person chalice local has just signed in at ``email``."""
        call = over_http(self.stack)
        relying_party = RelyingParty(call, DEMO)
        challenge = login_challenge(relying_party.authorize())
        code = code_in(accept(call, self.signed_in(call, email), challenge))
        return form_event("/oauth2/token", *relying_party.redeeming(code))

    def passkey_sign_in(self, email: str) -> dict[str, Any]:
        """The usernameless sign-in of a person who has just registered a passkey at chalice local."""
        call, authenticator = over_http(self.stack), Authenticator(self.stack.ui_url)
        registered(call, authenticator, self.signed_in(call, email))
        return proxy_event("POST", SIGN_IN_PATH, signing_in(call, authenticator))

    def signed_in(self, call: Call, email: str) -> str:
        """The access token of a sign-in at ``email`` that chalice local served."""
        body = {"action": "verify_otp", "email": email, "otp": self.code_sent(email)}
        verified = call("POST", "/otp", json.dumps(body), JSON)
        if verified.status_code != 200:
            raise RuntimeError(f"the sign-in before a cold start failed: {verified.json_body}")
        return str(verified.json_body["access_token"])

    def code_sent(self, email: str) -> str:
        """The code chalice local mailed to ``email`` just now."""
        status, code, _ = post_api(self.stack, {"action": "send_otp", "email": email})
        if status != 200:
            raise RuntimeError(f"the code for a cold start was not sent: {status} {code}")
        return read_code(self.stack, email)


def otp_event(body: dict[str, Any]) -> dict[str, Any]:
    return proxy_event("POST", "/otp", body)


def cold_process(
    env: dict[str, str],
    made: tuple[str, dict[str, Any], dict[str, str]],
    flags: tuple[str, ...] = (),
    cwd: Path = REPO_ROOT,
) -> subprocess.CompletedProcess[str]:
    """One fresh interpreter that imports the module and answers the event (bench/cold_start.py), timed from here."""
    module, event, extra = made
    spawned = {"BENCH_SPAWNED_AT": repr(time.time())}
    result = subprocess.run(
        [sys.executable, *flags, "-m", "bench.cold_start", module, json.dumps(event)],
        cwd=cwd,
        env={**env, **extra, **spawned},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0 or json.loads(result.stdout.strip().splitlines()[-1])["status"] != 200:
        raise RuntimeError(f"cold start of {module} failed:\n{result.stdout}\n{result.stderr}")
    return result


def first_requests(stack: Stack, runs: int) -> dict[str, Any]:
    """``runs`` rounds, each one fresh process per kind of first request (the order rotated from round to
    round), so that a slow moment of the machine hits a round alike; each kind's ratio to the prototype is
    taken within a round, then the median of the rounds'."""
    env = stage_environment(stack)
    requests = ColdRequests(stack)
    kinds = (*FIRST_REQUESTS, *(kind + BY_EXTENSION for kind in SERVICE_REQUESTS), MINIMAL)

    def one(kind: str) -> dict[str, float]:
        return json.loads(cold_process(env, requests.make(kind)).stdout.strip().splitlines()[-1])

    for kind in kinds:  # compile and cache bytecode, warm the OS's file cache
        one(kind)
    samples: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    for index in range(runs):
        for kind in kinds[index % len(kinds) :] + kinds[: index % len(kinds)]:
            samples[kind].append(one(kind))
    return {
        "runs": runs,
        "kinds": _ratios(samples),
        "imports_by_package_ms": import_breakdown(env, requests),
        "samples": samples,
    }


def _ratios(samples: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per kind: the medians, the AWS calls (the same in every process, or the bench is not measuring what it
    says), and the median of each round's ratio to the prototype's process of the same round."""
    figures: dict[str, Any] = {}
    for kind, taken in samples.items():
        calls = [collections.Counter(sample["aws_calls"]) for sample in taken]
        if any(made != calls[0] for made in calls):
            raise RuntimeError(f"the processes of {kind} made different AWS calls: {calls}")
        figures[kind] = {**_medians(taken), "aws_calls": dict(calls[0])}
        for measure in ("spawn_to_first_answer_ms", "cpu_to_first_answer_ms"):
            figures[kind][f"{measure.removesuffix('_ms')}_ratio"] = statistics.median(
                mine[measure] / reference[measure] for mine, reference in zip(taken, samples[PROTOTYPE], strict=True)
            )
    return figures


def _medians(samples: list[dict[str, Any]]) -> dict[str, float]:
    return {key: statistics.median(sample[key] for sample in samples) for key in samples[0] if key.endswith("_ms")}


AS_BUILT, SOURCES_ONLY = "send_otp (email), the zip as built", "send_otp (email), the zip's sources only"


def from_the_zip(stack: Stack, archive: Path, runs: int) -> dict[str, Any]:
    """The service as Lambda loads it: from the deployment zip unpacked, writing no bytecode (/var/task is
    read-only), botocore from this interpreter's packages as the runtime has it (compiled). As ``make package``
    builds the zip (with its modules' bytecode, tools/precompile.py) and with its sources only (as Chalice alone
    builds it), interleaved with the prototype's process; ratios to the prototype within each round."""
    env = {**stage_environment(stack), "PYTHONDONTWRITEBYTECODE": "1"}
    requests = ColdRequests(stack, series="zip")
    with tempfile.TemporaryDirectory() as scratch:
        built, sources = Path(scratch, "built"), Path(scratch, "sources")
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(built)
            zipped.extractall(sources)
        for cached in sources.rglob("*.pyc"):
            cached.unlink()
        tasks = {AS_BUILT: built, SOURCES_ONLY: sources}

        def one(kind: str) -> dict[str, Any]:
            if kind == PROTOTYPE:
                return json.loads(cold_process(env, requests.make(kind)).stdout.strip().splitlines()[-1])
            task = {**env, "PYTHONPATH": f"{tasks[kind]}:{REPO_ROOT}"}  # the zip's modules first, then bench/
            made = cold_process(task, requests.make("send_otp (email)"), cwd=tasks[kind])
            return json.loads(made.stdout.strip().splitlines()[-1])

        kinds = (PROTOTYPE, AS_BUILT, SOURCES_ONLY)
        samples: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
        for index in range(runs):
            for kind in kinds[index % len(kinds) :] + kinds[: index % len(kinds)]:
                samples[kind].append(one(kind))
    return {"runs": runs, "zipped_bytes": archive.stat().st_size, "kinds": _ratios(samples)}


def import_breakdown(env: dict[str, str], requests: ColdRequests, runs: int = 3) -> dict[str, dict[str, float]]:
    """Where each kind of first request's process spends its imports: ``-X importtime``'s own time per module,
    summed by top-level package, median of a few runs (bytecode cached); the imports a request makes count too."""
    breakdown = {}
    for kind in FIRST_REQUESTS:
        totals: dict[str, list[float]] = collections.defaultdict(list)
        for _ in range(runs):
            result = cold_process(env, requests.make(kind), flags=("-X", "importtime"))
            run: collections.Counter[str] = collections.Counter()
            for line in result.stderr.splitlines():
                if line.startswith("import time:") and "|" in line and "self" not in line:
                    own, _, name = line.removeprefix("import time:").split("|")
                    run[name.strip().split(".")[0]] += int(own) / 1000
            for package, ms in run.items():
                totals[package].append(ms)
        medians = {
            package: statistics.median(values + [0.0] * (runs - len(values))) for package, values in totals.items()
        }
        breakdown[kind] = dict(sorted(medians.items(), key=lambda item: -item[1]))
    return breakdown


# -- 2. AWS calls per operation ---------------------------------------------------------------------------------


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


Row = tuple[str, list[str], int]  # what was asked, the AWS calls it made, the answer's status
Counted = Callable[[str, Callable[[], Any], int], Row]  # runs a request as a row: its name, the request, its status


def aws_calls(stack: Stack) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Each operation once, each step of the OpenID Connect flow and each passkey request, warm, in this process
    through Chalice's test client, against the embedded AWS."""
    from chalice.test import Client

    from app import app
    from chalicelib import wiring

    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(f"{model.service_model.service_name}.{model.name}")

    with (
        environment(stage_environment(stack)),
        open(os.devnull, "w") as devnull,
        contextlib.redirect_stdout(devnull),  # the access log, one line per request
        Client(app, stage_name="local", project_dir=str(REPO_ROOT)) as c,
    ):
        wiring.reset()

        def post(path: str, body: Any, token: str | None = None) -> Any:
            headers = {"Content-Type": "application/json"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            return c.http.post(path, headers=headers, body=json.dumps(body))

        def send(email: str) -> str:
            assert post("/otp", {"action": "send_otp", "email": email}).status_code == 200
            return read_code(stack, email)

        def verify(email: str, code: str) -> Any:
            return post("/otp", {"action": "verify_otp", "email": email, "otp": code})

        def sign_in(email: str) -> dict[str, Any]:
            answer = verify(email, send(email))
            assert answer.status_code == 200, answer.json_body
            return answer.json_body

        # Warm: the container has answered every kind of request once, so clients, key and public keys exist.
        warm = sign_in("warm@example.com")
        assert c.http.get("/me", headers={"Authorization": f"Bearer {warm['access_token']}"}).status_code == 200
        warm = post("/token/refresh", {"refresh_token": warm["refresh_token"]}).json_body
        assert post("/signout", {}, warm["access_token"]).status_code == 200
        for service in ("dynamodb", "sesv2", "sns", "kms", "secretsmanager"):
            wiring.get_client(service).meta.events.register("before-call.*.*", record)

        def counted(name: str, action: Callable[[], Any], status: int) -> Row:
            calls.clear()
            answer = action()
            assert answer.status_code == status, (name, answer.status_code, answer.json_body)
            return name, list(calls), answer.status_code

        rows = []
        rows.append(
            counted("send_otp", lambda: post("/otp", {"action": "send_otp", "email": "alice@example.com"}), 200)
        )
        alice_code = read_code(stack, "alice@example.com")
        rows.append(counted("verify_otp, right code", lambda: verify("alice@example.com", alice_code), 200))
        bob_code = send("bob@example.com")
        wrong = "000000" if bob_code != "000000" else "111111"
        rows.append(counted("verify_otp, wrong code", lambda: verify("bob@example.com", wrong), 401))
        rows.append(
            counted("verify_otp, right code after a wrong one", lambda: verify("bob@example.com", bob_code), 200)
        )
        rows.append(counted("verify_otp, no code requested", lambda: verify("nobody@example.com", "123456"), 401))
        alice = sign_in("alice2@example.com")
        refreshed = {}

        def refresh() -> Any:
            answer = post("/token/refresh", {"refresh_token": alice["refresh_token"]})
            refreshed.update(answer.json_body)
            return answer

        rows.append(counted("POST /token/refresh", refresh, 200))
        token = refreshed["access_token"]
        rows.append(counted("GET /me", lambda: c.http.get("/me", headers={"Authorization": f"Bearer {token}"}), 200))
        rows.append(counted("POST /signout", lambda: post("/signout", {}, token), 200))
        everywhere = sign_in("carol@example.com")
        rows.append(
            counted(
                "POST /signout everywhere",
                lambda: post("/signout", {"everywhere": True}, everywhere["access_token"]),
                200,
            )
        )
        revoked = sign_in("dave@example.com")
        rows.append(
            counted(
                "POST /token/revoke", lambda: post("/token/revoke", {"refresh_token": revoked["refresh_token"]}), 200
            )
        )
        rows.append(counted("GET /.well-known/jwks.json", lambda: c.http.get("/.well-known/jwks.json"), 200))

        # By text message: the same rows for a phone, and for a phone linked to an account created by mail.
        number, linked = "+14155550123", "+14155550124"
        rows.append(counted("send_otp (SMS)", lambda: post("/otp", {"action": "send_otp", "phone": number}), 200))
        sms_code = read_code(stack, number)
        rows.append(
            counted(
                "verify_otp (SMS), right code, first sign-in",
                lambda: post("/otp", {"action": "verify_otp", "phone": number, "otp": sms_code}),
                200,
            )
        )
        owner = sign_in("erin@example.com")
        assert post("/me/phone", {"phone": linked}, owner["access_token"]).status_code == 200
        link_code = read_code(stack, linked)
        rows.append(
            counted(
                "POST /me/phone/verify (link)",
                lambda: post("/me/phone/verify", {"phone": linked, "otp": link_code}, owner["access_token"]),
                200,
            )
        )
        assert post("/otp", {"action": "send_otp", "phone": linked}).status_code == 200
        linked_code = read_code(stack, linked)
        rows.append(
            counted(
                "verify_otp (SMS), right code, linked phone",
                lambda: post("/otp", {"action": "verify_otp", "phone": linked, "otp": linked_code}),
                200,
            )
        )
        rows.append(
            counted(
                "DELETE /me/phone (unlink)",
                lambda: c.http.delete("/me/phone", headers={"Authorization": f"Bearer {owner['access_token']}"}),
                200,
            )
        )
        oidc = oidc_calls(c, sign_in, counted)  # before two_step_calls, which moves the service's clock on
        # Chalice's test client answers with the stage config's own settings: passkeys made at the config's origin.
        passkeys = passkey_calls(c, sign_in, counted, stack.stage_env()["OTP_WEBAUTHN_ORIGINS"])
        rows += two_step_calls(post, send, verify, sign_in, record, counted, c)
        wiring.reset()
    return table(rows), table(oidc), table(passkeys)


def table(rows: list[Row]) -> dict[str, Any]:
    return {
        name: {"calls": dict(collections.Counter(made)), "total": len(made), "status": status}
        for name, made, status in rows
    }


# The rows of exchanging a code, by the kind of client (docs/oidc.md: one conditional write plus the signatures).
CODE_EXCHANGES = (
    "POST /oauth2/token, authorization_code, public client",
    "POST /oauth2/token, authorization_code, confidential client",
)


def oidc_calls(c: Any, sign_in: Callable[[str], dict[str, Any]], counted: Counted) -> list[Row]:
    """The AWS calls of each step of the OpenID Connect flow: the steps once uncounted (the RSA key's public key,
    the stage's clients read), then counted; each time with people of their own, since a consent is an account's."""
    oidc_steps(through(c), sign_in, counted, "warm")
    return oidc_steps(through(c), sign_in, counted, "counted")


def stepper(counted: Counted) -> tuple[list[Row], Step]:
    """Rows, and what counts a request as the next of them and gives back its answer."""
    rows: list[Row] = []

    def step(name: str, action: Callable[[], HTTPResponse], status: int) -> HTTPResponse:
        answers: list[HTTPResponse] = []

        def run() -> HTTPResponse:
            answers.append(action())
            return answers[0]

        rows.append(counted(name, run, status))
        return answers[0]

    return rows, step


def oidc_steps(call: Call, sign_in: Callable[[str], dict[str, Any]], counted: Counted, who: str) -> list[Row]:
    """A first-party public application's sign-in, refresh, userinfo and revocation (the local stage's
    ``local-demo``), then a third-party confidential one's (``local-example``): consent asked, given, relied on the
    next time; its code, an introspection, and the logout that ends its session and the UI's."""
    rows, step = stepper(counted)
    ui = sign_in(f"{who}-grace@example.com")["access_token"]  # the person's session in the sign-in UI
    demo = RelyingParty(call, DEMO)
    step("GET /.well-known/openid-configuration", lambda: call("GET", "/.well-known/openid-configuration", "", {}), 200)
    challenge = login_challenge(step("GET /oauth2/authorize", demo.authorize, 302))
    step("GET /oauth2/login", lambda: login_request(call, challenge), 200)
    code = code_in(step("POST /oauth2/login, first-party client", lambda: accept(call, ui, challenge), 200))
    tokens = step(CODE_EXCHANGES[0], lambda: demo.redeem(code), 200).json_body
    refreshed = step("POST /oauth2/token, refresh_token", lambda: demo.refresh(tokens["refresh_token"]), 200).json_body
    access = refreshed["access_token"]
    step("GET /oauth2/userinfo", lambda: call("GET", "/oauth2/userinfo", "", bearer(access)), 200)
    step("POST /oauth2/revoke (refresh token)", lambda: demo.revoke(refreshed["refresh_token"]), 200)

    ui = sign_in(f"{who}-heidi@example.com")["access_token"]
    example = RelyingParty(call, EXAMPLE)
    challenge = login_challenge(example.authorize())
    step("POST /oauth2/login, third-party client: consent_required", lambda: accept(call, ui, challenge), 403)
    accepted = step(
        "POST /oauth2/login, third-party client, with consent", lambda: accept(call, ui, challenge, True), 200
    )
    tokens = step(CODE_EXCHANGES[1], lambda: example.redeem(code_in(accepted)), 200).json_body
    step("POST /oauth2/introspect", lambda: example.introspect(tokens["access_token"]), 200)
    challenge = login_challenge(RelyingParty(call, EXAMPLE).authorize())
    step("POST /oauth2/login, third-party client, consent given before", lambda: accept(call, ui, challenge), 200)
    step("GET /oauth2/logout", lambda: example.logout(tokens["id_token"]), 302)
    return rows


def passkey_calls(c: Any, sign_in: Callable[[str], dict[str, Any]], counted: Counted, origin: str) -> list[Row]:
    """The AWS calls of each passkey request: the steps once uncounted, then counted, each time a person of their own
    (a code's sign-in, then a passkey registered, signed in with, and stepped up with) and a browser at ``origin``."""
    passkey_rows(through(c), sign_in, counted, "warm", Authenticator(origin))
    return passkey_rows(through(c), sign_in, counted, "counted", Authenticator(origin))


def passkey_rows(
    call: Call, sign_in: Callable[[str], dict[str, Any]], counted: Counted, who: str, authenticator: Authenticator
) -> list[Row]:
    rows, step = stepper(counted)
    passkey_steps(call, sign_in, step, who, authenticator)
    return rows


def two_step_calls(
    post: Callable[..., Any],
    send: Callable[[str], str],
    verify: Callable[[str, str], Any],
    sign_in: Callable[[str], dict[str, Any]],
    record: Callable[..., None],
    counted: Counted,
    c: Any,
) -> list[Row]:
    """The AWS calls of each two-step step, on a service clock of its own that moves on by a TOTP step (and the
    resend cooldown) between them, as a person waits for the next code."""
    import pyotp

    from chalicelib import wiring

    real_clock, shift = wiring.CLOCK, [0.0]
    wiring.CLOCK = lambda: time.time() + shift[0]
    wiring.reset()  # rebuilt on that clock, then warmed again as the container was
    try:
        warm = sign_in("warm-mfa@example.com")
        assert c.http.get("/me", headers={"Authorization": f"Bearer {warm['access_token']}"}).status_code == 200
        for service in ("dynamodb", "sesv2", "kms", "secretsmanager"):
            wiring.get_client(service).meta.events.register("before-call.*.*", record)
        person, kept = "frank@example.com", {}
        token = sign_in(person)["access_token"]

        def keep(answer: Any) -> Any:
            kept.update(answer.json_body)
            return answer

        def code() -> str:
            shift[0] += 30  # the next time-step: a used one never works again
            return pyotp.TOTP(kept["secret"]).at(int(wiring.CLOCK()))

        def bearer(method: str, path: str, body: Any = None) -> Any:
            if method == "DELETE":
                return c.http.delete(path, headers={"Authorization": f"Bearer {kept['access_token']}"})
            return post(path, body or {}, kept["access_token"])

        def first_factor() -> Any:
            shift[0] += 30  # past the resend cooldown
            mailed = send(person)
            return lambda: keep(verify(person, mailed))

        rows = [counted("POST /mfa/totp", lambda: keep(post("/mfa/totp", {}, token)), 200)]
        rows.append(
            counted("POST /mfa/totp/confirm", lambda: keep(post("/mfa/totp/confirm", {"otp": code()}, token)), 200)
        )
        recovery_code = kept["recovery_codes"][0]
        rows.append(counted("verify_otp, right code, second factor on", first_factor(), 200))
        rows.append(
            counted(
                "POST /mfa/verify, wrong code",
                lambda: post(
                    "/mfa/verify", {"mfa_token": kept["mfa_token"], "otp": f"{(int(code()) + 1) % 10**6:06d}"}
                ),
                401,
            )
        )
        rows.append(
            counted(
                "POST /mfa/verify, right code",
                lambda: keep(post("/mfa/verify", {"mfa_token": kept["mfa_token"], "otp": code()})),
                200,
            )
        )
        first_factor()()
        rows.append(
            counted(
                "POST /mfa/verify, recovery code",
                lambda: keep(post("/mfa/verify", {"mfa_token": kept["mfa_token"], "recovery_code": recovery_code})),
                200,
            )
        )
        rows.append(
            counted(
                "POST /mfa/reauthenticate", lambda: keep(bearer("POST", "/mfa/reauthenticate", {"otp": code()})), 200
            )
        )
        rows.append(counted("POST /mfa/recovery-codes", lambda: bearer("POST", "/mfa/recovery-codes"), 200))
        rows.append(counted("DELETE /mfa/totp", lambda: bearer("DELETE", "/mfa/totp"), 200))
        return rows
    finally:
        wiring.CLOCK = real_clock


def read_code(stack: Stack, email: str) -> str:
    connection = http.client.HTTPConnection(HOST, stack.ports.aws, timeout=30)
    try:
        connection.request("GET", f"{INBOX_PATH}?{urllib.parse.urlencode({'to': email})}")
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"no mail to {email} in the embedded AWS")
    return body["code"]


def verify_timing(stack: Stack, pairs: int) -> dict[str, Any]:
    """Does a wrong code take longer for an address with a live code than for one that never asked?

    ``pairs`` addresses get a code each; then, interleaved, one wrong code for each of them and one for an
    address that never asked, each on a connection of its own. The medians, and their difference.
    """
    for n in range(pairs):
        post_api(stack, {"action": "send_otp", "email": f"timing-live-{n}@example.com"})
    live: list[float] = []
    never: list[float] = []
    for n in range(pairs):
        for email, samples in ((f"timing-live-{n}@example.com", live), (f"timing-never-{n}@example.com", never)):
            for _ in range(2):  # once more after a 503: the busy local stack's storage outlasted the 2 s timeout
                started = time.perf_counter()
                status, code, _ = post_api(stack, {"action": "verify_otp", "email": email, "otp": "000000"})
                if status != 503:
                    break
            samples.append((time.perf_counter() - started) * 1000)
            if status != 401:
                raise RuntimeError(f"verify for {email}: {status} {code}")
    live_ms, never_ms = statistics.median(live), statistics.median(never)
    return {
        "pairs": pairs,
        "live_code_ms": round(live_ms, 2),
        "never_asked_ms": round(never_ms, 2),
        "difference_ms": round(live_ms - never_ms, 2),
    }


# -- 3. sign-ins through chalice local --------------------------------------------------------------------------


@dataclass(frozen=True)
class SignIn:
    started: float
    finished: float
    send: float
    inbox: float
    verify: float
    outcome: str  # "ok", or what went wrong: the answer's code, or the connection error
    reconnects: int

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


RECONNECTS = 20
CONNECTION_ERRORS = (ConnectionResetError, ConnectionRefusedError, BrokenPipeError, http.client.RemoteDisconnected)


def post_api(stack: Stack, body: dict[str, Any]) -> tuple[int, str, int]:
    """One POST /otp on a connection of its own; (status, answer code, reconnections).

    A connection of its own: chalice local's dev server sends headers and body in two writes, which on a reused
    connection costs a 40 ms delayed-ACK stall per answer (API Gateway does not do that). Its listen backlog is 5:
    a connection the kernel resets because the backlog was full never reached the app, and is opened again.
    """
    for attempt in range(RECONNECTS):
        connection = http.client.HTTPConnection(HOST, stack.ports.api, timeout=120)
        try:
            connection.request("POST", "/otp", json.dumps(body), {"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = json.loads(response.read())
            return response.status, str(answer.get("code")), attempt
        except CONNECTION_ERRORS:
            time.sleep(0.01 * (attempt + 1))
        finally:
            connection.close()
    return 0, "connection reset", RECONNECTS


def over_http(stack: Stack) -> Call:
    """Requests to chalice local, each on a connection of its own (see post_api), one at a time."""

    def call(method: str, path: str, body: str, headers: dict[str, str]) -> HTTPResponse:
        connection = http.client.HTTPConnection(HOST, stack.ports.api, timeout=30)
        try:
            connection.request(method, path, body.encode(), headers)
            response = connection.getresponse()
            return HTTPResponse(response.read(), dict(response.getheaders()), response.status)
        finally:
            connection.close()

    return call


def sign_in_once(stack: Stack, email: str) -> SignIn:
    started = time.perf_counter()
    sent, sent_code, send_reconnects = post_api(stack, {"action": "send_otp", "email": email})
    after_send = time.perf_counter()
    if sent != 200:
        return SignIn(started, after_send, after_send - started, 0.0, 0.0, f"send: {sent_code}", send_reconnects)
    code = read_code(stack, email)
    after_inbox = time.perf_counter()
    verified, verify_code, verify_reconnects = post_api(stack, {"action": "verify_otp", "email": email, "otp": code})
    finished = time.perf_counter()
    return SignIn(
        started,
        finished,
        after_send - started,
        after_inbox - after_send,
        finished - after_inbox,
        "ok" if verified == 200 else f"verify: {verify_code}",
        send_reconnects + verify_reconnects,
    )


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU time used so far by the embedded AWS, by chalice local (from /proc) and by this load generator."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for child in stack.children:
        fields = _read(f"/proc/{child.process.pid}/stat").rpartition(")")[2].split()
        used[child.label] = (int(fields[11]) + int(fields[12])) / ticks if fields else 0.0
    own = os.times()
    used["load generator"] = own.user + own.system
    return used


def load(stack: Stack, levels: tuple[int, ...], seconds: float, warmup: float) -> dict[str, Any]:
    for index in range(5):
        assert sign_in_once(stack, f"warmup-{index}@example.com").ok
    results = {}
    for clients in levels:
        say(f"  {clients} client(s) for {warmup + seconds:.0f} s")
        results[str(clients)] = _level(stack, clients, seconds, warmup)
    return results


def _level(stack: Stack, clients: int, seconds: float, warmup: float) -> dict[str, Any]:
    begin = time.perf_counter()
    window = (begin + warmup, begin + warmup + seconds)
    done: list[SignIn] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        index = 0
        while time.perf_counter() < window[1]:
            result = sign_in_once(stack, f"load-{clients}-{number}-{index}@example.com")  # an address per sign-in
            index += 1
            with lock:
                done.append(result)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    cpu_before = cpu_seconds(stack)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - begin
    busy = {name: round(100 * (used - cpu_before[name]) / elapsed) for name, used in cpu_seconds(stack).items()}
    measured = [s for s in done if window[0] <= s.started and s.finished <= window[1] and s.ok]
    completed = [s for s in done if window[0] <= s.finished <= window[1] and s.ok]
    latencies = [(s.finished - s.started) * 1000 for s in measured]
    return {
        "clients": clients,
        "seconds": seconds,
        "sign_ins": len(latencies),
        "failed": sum(not s.ok for s in done),
        "failures": dict(collections.Counter(s.outcome for s in done if not s.ok)),
        "reconnects": sum(s.reconnects for s in done),
        "cpu_percent": busy,
        "sign_ins_per_second": len(completed) / seconds,
        "p50_ms": percentile(latencies, 0.50),
        "p95_ms": percentile(latencies, 0.95),
        "p99_ms": percentile(latencies, 0.99),
        "send_p50_ms": percentile([s.send * 1000 for s in measured], 0.5),
        "inbox_p50_ms": percentile([s.inbox * 1000 for s in measured], 0.5),
        "verify_p50_ms": percentile([s.verify * 1000 for s in measured], 0.5),
    }


# -- 4. handler overhead ----------------------------------------------------------------------------------------


def overhead(calls: int) -> dict[str, Any]:
    """bench/overhead.py's figures, from a fresh process with the local stage's settings and no AWS to reach (every
    call is stubbed there; tests/test_bench.py starts it through here too)."""
    from tools.bootstrap import load_stage_env

    env = {**offline_aws_env(os.environ), **load_stage_env("local"), "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "bench.overhead", str(calls)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"bench.overhead failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- 5. the deployment zip --------------------------------------------------------------------------------------


def package(stage: str) -> dict[str, Any]:
    """Built by the deployment's own `make package` (chalice package + cfn-lint), offline from AWS."""
    env = offline_aws_env(os.environ)
    started = time.time()
    command = ["make", "package", f"STAGE={stage}"]
    if sys.prefix != sys.base_prefix:  # this interpreter's virtualenv, rather than make's default one
        command.append(f"VENV={sys.prefix}")
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    archive = REPO_ROOT / "out" / stage / "deployment.zip"
    if not archive.exists() or archive.stat().st_mtime < started:
        return {
            "error": f"`make package STAGE={stage}` built no zip (status {result.returncode}): "
            f"{(result.stdout + result.stderr).strip()[-2000:]}"
        }
    with zipfile.ZipFile(archive) as opened:
        infos = opened.infolist()
    return {
        "stage": stage,
        "built_by": f"make package STAGE={stage}",
        "make_status": result.returncode,
        "zipped_bytes": archive.stat().st_size,
        "unzipped_bytes": sum(info.file_size for info in infos),
        "files": len(infos),
        "seconds": round(time.time() - started, 1),
    }


# -- the report -------------------------------------------------------------------------------------------------


def deployment() -> dict[str, Any]:
    """What the deployed stages are given that the report's Lambda arithmetic uses: memory, runtime, throttling."""
    chalice = json.loads((REPO_ROOT / ".chalice" / "config.json").read_text())
    parameters = json.loads((REPO_ROOT / "deploy" / "resources.json").read_text())["Parameters"]
    return {
        "memory_mb": chalice["lambda_memory_size"],
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "throttling_rate": parameters["ThrottlingRateLimit"]["Default"],
        "throttling_burst": parameters["ThrottlingBurstLimit"]["Default"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and shorter loads (a smoke test)")
    parser.add_argument("--out", type=Path, default=DOCS, help="where benchmarks.md and .json go (default docs/)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else Plan()
    began = time.monotonic()
    results: dict[str, Any] = {"machine": machine(), "plan": plan.__dict__, "deployment": deployment()}
    tail: collections.deque[str] = collections.deque(maxlen=50)
    say(f"deployment zip: make package STAGE={PACKAGE_STAGE}")
    results["package"] = package(PACKAGE_STAGE)
    archive = REPO_ROOT / "out" / PACKAGE_STAGE / "deployment.zip"
    say("starting the embedded AWS and chalice local")
    with headless_stack(LOAD_SETTINGS, echo=tail.append, aws_module="bench.inbox_aws") as stack:
        say(f"cold starts: {plan.cold_runs} rounds of each first request")
        results["cold_start"] = first_requests(stack, plan.cold_runs)
        if "error" not in results["package"]:
            say(f"cold starts from the deployment zip: {plan.cold_runs // 2} rounds")
            results["cold_start_zip"] = from_the_zip(stack, archive, plan.cold_runs // 2)
    # A fresh embedded AWS again: the cold starts leave moto holding a few hundred codes, mails and texts.
    say("AWS calls and verify timing (a fresh embedded AWS and chalice local)")
    with headless_stack(LOAD_SETTINGS, echo=tail.append, aws_module="bench.inbox_aws") as stack:
        say("AWS calls per operation")
        results["aws_calls"], results["oidc_aws_calls"], results["passkey_aws_calls"] = aws_calls(stack)
        say(f"verify timing: {plan.timing_pairs} pairs of wrong codes (live code / never asked)")
        results["verify_timing"] = verify_timing(stack, plan.timing_pairs)
    say("sign-ins through chalice local (a fresh embedded AWS and chalice local)")
    with headless_stack(LOAD_SETTINGS, echo=tail.append, aws_module="bench.inbox_aws") as stack:
        results["load"] = load(stack, plan.load_levels, plan.load_seconds, plan.load_warmup_seconds)
    say(f"handler overhead: {plan.overhead_calls} calls per operation")
    results["handler_overhead"] = overhead(plan.overhead_calls)
    results["bench_seconds"] = round(time.monotonic() - began, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "benchmarks.md").write_text(render(results))
    say(f"wrote {args.out / 'benchmarks.md'} and benchmarks.json in {results['bench_seconds']} s")
    return 0


def render(results: dict[str, Any]) -> str:
    from bench.report import render as render_markdown

    return render_markdown(results)


if __name__ == "__main__":
    sys.exit(main())
