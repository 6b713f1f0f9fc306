"""docs/benchmarks.md from the raw figures of bench/run.py."""

from __future__ import annotations

import collections
import math
from typing import Any

from bench.passkeys import ONE_READ_ONE_WRITE_ONE_SIGNATURE, SIGN_IN
from bench.run import (
    AS_BUILT,
    BY_EXTENSION,
    CODE_EXCHANGES,
    FIRST_REQUESTS,
    MINIMAL,
    PASSKEY_SIGN_IN,
    PROTOTYPE,
    SERVICE_REQUESTS,
    SOURCES_ONLY,
    TOKEN_EXCHANGE,
)

ONE_VCPU_MB = 1769  # Lambda: "at 1,769 MB, a function has the equivalent of one vCPU"
AWS_CALL_MS = 10  # an assumed round trip to an AWS service within the region


def ms(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def us(value: float) -> str:
    return f"{value:,.0f} µs"


def size(value: int) -> str:
    return f"{value / 2**20:.2f} MiB"


def timing_line(results: dict[str, Any]) -> str:
    timing = results.get("verify_timing")
    if not timing:
        return "not measured"
    return (
        f"{timing['difference_ms']:+.2f} ms ({timing['live_code_ms']:.2f} vs {timing['never_asked_ms']:.2f} ms, "
        f"{timing['pairs']} pairs)"
    )


def own_timing_line(results: dict[str, Any]) -> str:
    rows = results["handler_overhead"]
    live, never = rows.get("verify_otp, wrong code"), rows.get("verify_otp, no code requested")
    if not (live and never):
        return "not measured"
    return f"{(live['p50_us'] - never['p50_us']) / 1000:+.2f} ms ({us(live['p50_us'])} vs {us(never['p50_us'])} p50)"


def listed(calls: dict[str, int]) -> str:
    """AWS calls as the tables show them: each operation once, with its count when it is made more than once."""
    return ", ".join(f"{op} x {n}" if n > 1 else op for op, n in calls.items()) or "none"


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    cold, calls, load, overhead, package = (
        results[k] for k in ("cold_start", "aws_calls", "load", "handler_overhead", "package")
    )
    kinds = cold["kinds"]
    prototype, minimal = kinds[PROTOTYPE], kinds[MINIMAL]
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `make bench` (`python -m bench.run`, code in `bench/`) on {m['date']}: {m['nproc']} CPU cores "
        f"(`nproc`; {m['cpu']}), {m['memory_gib']} GiB, {m['os']}, Python {m['python']}, chalice "
        f"{m['versions']['chalice']}, boto3 {m['versions']['boto3']}, moto {m['versions']['moto']}. "
        f"The whole run took {results['bench_seconds']:.0f} s. Raw figures: [benchmarks.json](benchmarks.json).",
        "",
        "The local figures are of this machine's local stack, not of AWS: the embedded AWS is moto's server (one "
        "Python process that serialises DynamoDB requests, as DynamoDB serialises writes to an item) on loopback, "
        "and `chalice local` is Chalice's development server, **a single Python process** that handles each "
        "connection in a thread under one interpreter lock, sharing the machine's cores with the embedded AWS and "
        "with the load generator. In Lambda every concurrent request has a container of its own, so throughput "
        "there scales with concurrency; the handler-overhead and AWS-call figures are the ones that carry over.",
        "",
        "## Headline figures",
        "",
        "| what | figure | how it was measured |",
        "|---|---|---|",
        f"| Cold start of the prototype's handler: spawn → first answer | {ms(prototype['spawn_to_first_answer_ms'])} "
        f"wall, {ms(prototype['cpu_to_first_answer_ms'])} CPU | the reference (`bench/prototype.py`: boto3, a "
        "DynamoDB resource and an SES client built at import, `send_otp` answered with one `PutItem` and one "
        f"`SendEmail`); medians of {cold['runs']} interleaved rounds of fresh processes, see below |",
    ]
    for kind in SERVICE_REQUESTS:
        mine, extension = kinds[kind], kinds[kind + BY_EXTENSION]
        lines.append(
            f"| Cold start, `{kind}` as a container's first request, vs. the prototype | **{ratio(mine)}** "
            f"({ms(mine['spawn_to_first_answer_ms'])} wall, {ms(mine['cpu_to_first_answer_ms'])} CPU); "
            f"{ratio(extension)} with the key from the extension | the median of the rounds' ratios, wall / CPU; "
            "the hashing key from Secrets Manager, or from the Parameters and Secrets Lambda Extension "
            "(`OTP_SECRETS_EXTENSION_PORT`, played by the embedded AWS) |"
        )
    token, exchange = kinds[TOKEN_EXCHANGE], results["oidc_aws_calls"][CODE_EXCHANGES[0]]
    lines += [
        f"| Cold start, `{TOKEN_EXCHANGE}` as a container's first request, vs. the prototype | **{ratio(token)}** "
        f"({ms(token['spawn_to_first_answer_ms'])} wall, {ms(token['cpu_to_first_answer_ms'])} CPU) | the median of "
        "the rounds' ratios, wall / CPU: an OpenID Connect application exchanging its code at the token endpoint, "
        "see [OpenID Connect](#openid-connect) |",
        f"| AWS calls of exchanging a code at the token endpoint | {exchange['total']}: {listed(exchange['calls'])} | "
        "botocore `before-call` hook on the service's clients, warm; each step of the flow below |",
        f"| Cold start of a one-route Chalice app | {ms(minimal['spawn_to_first_answer_ms'])} wall, "
        f"{ms(minimal['cpu_to_first_answer_ms'])} CPU | the floor: `bench/minimal_app.py` answers a JSON constant |",
        zip_row(results.get("cold_start_zip")),
        f"| Verify timing, the service's own work: wrong code at a live code vs for an address that never asked | "
        f"{own_timing_line(results)} | the handler-overhead runs below (AWS answering instantly): the difference "
        "of their p50s. Target < 0.5 ms |",
        f"| Verify timing through the local stack: the same pair | {timing_line(results)} | "
        "interleaved pairs through `chalice local` on loopback, a connection each; the difference of the medians. "
        "What is left beyond the service's own part is the storage's: at a live code the guess's write and the "
        "ceiling's land, for an address that never asked both are refused, and moto applies an update in about "
        "4.5 ms against 2.2 ms for a refused one (measured in-process); DynamoDB replicates a write that lands |",
        f"| AWS calls of a sign-in (send + right code) | {calls['send_otp']['total']} + "
        f"{calls['verify_otp, right code']['total']} | botocore `before-call` hook on the service's clients, warm; "
        "details below |",
    ]
    for clients, level in load.items():
        failed = f"; {level['failed']} failed, see below" if level["failed"] else ""
        lines.append(
            f"| Sign-ins through `chalice local`, {clients} client{'s' if clients != '1' else ''} | "
            f"p50 {ms(level['p50_ms'])}, p95 {ms(level['p95_ms'])}, p99 {ms(level['p99_ms'])}; "
            f"**{level['sign_ins_per_second']:.1f} sign-ins/s**{failed} | {level['sign_ins']} complete sign-ins "
            f"(send → code from the embedded AWS → verify) timed in {level['seconds']:.0f} s after a warm-up; "
            "bounded by the embedded AWS, see below |"
        )
    floor = overhead["minimal one-route Chalice app"]
    lines += [
        f"| Handler overhead, AWS answering instantly | {overhead_range(overhead)} p50 per request; "
        f"minimal app {us(floor['p50_us'])} | botocore `Stubber` on every client, handler called in-process, "
        f"{floor['calls']} calls per operation; details below |",
        package_row(package),
        "",
        "## Cold start",
        "",
        cold_text(cold),
        "",
        "| first request | AWS calls before the answer | import | request | spawn → answer, wall | CPU | "
        "wall / CPU vs. the prototype |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, figures in kinds.items():
        lines.append(
            f"| {kind} | {listed(figures['aws_calls'])} | {figures['import_ms']:.0f} | "
            f"{figures['first_request_ms']:.0f} | {figures['spawn_to_first_answer_ms']:.0f} | "
            f"{figures['cpu_to_first_answer_ms']:.0f} | {ratio(figures)} |"
        )
    lines += [
        "",
        "Where each kind of process spends its imports, the request's own included (`python -X importtime`, "
        "each module's own time summed by top-level package, median of 3 runs):",
        "",
    ]
    for kind, by_package in cold["imports_by_package_ms"].items():
        top = list(by_package.items())[:6]
        rest = sum(by_package.values()) - sum(value for _, value in top)
        lines.append(
            f"- {kind}: "
            + ", ".join(f"`{name}` {value:.0f} ms" for name, value in top)
            + f", everything else {rest:.0f} ms (total {sum(by_package.values()):.0f} ms)"
        )
    lines += ["", *WHAT_WAS_CUT, "", *zip_section(results.get("cold_start_zip")), "", lambda_text(results), ""]
    lines += [
        "## AWS calls per operation",
        "",
        "Counted by a botocore `before-call.*.*` hook registered on the clients `chalicelib.wiring.get_client` "
        "handed out, after one warm-up of every kind of request (so no client, key or public key is fetched "
        "any more). One row per request, through Chalice's test client against the embedded AWS. A botocore "
        "retry would not show here: it is the same call.",
        "",
        "| operation | answer | calls | total |",
        "|---|---|---|---|",
    ]
    for name, row in calls.items():
        lines.append(f"| {name} | {row['status']} | {listed(row['calls'])} | {row['total']} |")
    lines += ["", *oidc_section(results), "", *passkey_section(results)]
    lines += [
        "",
        "## Sign-ins through `chalice local`",
        "",
        "N client threads each run complete sign-ins back to back for the measured window: `send_otp`, the code "
        "read from the embedded AWS (`bench/inbox_aws.py` reads moto's captured mail directly; `/moto-api/data.json` "
        "serialises all of moto's state and slows down as mail accumulates), `verify_otp`. Each sign-in uses an "
        "address of its own (one address may only get a code every 30 s), and the per-IP quota is raised "
        "(`OTP_SENDS_PER_IP=100000`) because every local caller is 127.0.0.1. Each request opens its own "
        "connection: the dev server writes headers and body separately, which on a reused connection costs a "
        "40 ms delayed-ACK stall per answer (measured: 44 ms vs. 1-2 ms), an artefact API Gateway does not have. "
        "Latencies are of sign-ins that started and ended in the window; throughput counts those that ended in it.",
        "",
        "| clients | sign-ins | sign-ins/s | p50 | p95 | p99 | send p50 | code read p50 | verify p50 | failed | "
        "reconnections | CPU: embedded AWS / chalice local / load generator |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for clients, level in load.items():
        failures = ", ".join(f"{n} {why}" for why, n in level["failures"].items()) or "0"
        cpu = level["cpu_percent"]
        lines.append(
            f"| {clients} | {level['sign_ins']} | {level['sign_ins_per_second']:.1f} | {ms(level['p50_ms'])} | "
            f"{ms(level['p95_ms'])} | {ms(level['p99_ms'])} | {ms(level['send_p50_ms'])} | "
            f"{ms(level['inbox_p50_ms'])} | {ms(level['verify_p50_ms'])} | {failures} | {level['reconnects']} | "
            f"{cpu['aws']} % / {cpu['api']} % / {cpu['load generator']} % |"
        )
    lines += [
        "",
        "The embedded AWS is the bottleneck (its CPU column): moto spends far more time per call than the "
        "service does per request (see the handler overhead below), and it serialises DynamoDB. More clients "
        "only lengthen its queue: by Little's law, N clients at a throughput of X sign-ins/s wait N/X seconds "
        "per sign-in, and once a call waits longer than the service's 2 s read timeout the service answers "
        "503 `storage_unavailable`, failing fast as designed rather than hanging.",
        "",
        "Reconnections: the dev server listens with a backlog of 5 connections; when it overflows the kernel resets "
        "the connection before the app sees the request, and the client opens it again (the time is counted). "
        "Failures, when there are any, come from the local stack too: once the embedded AWS takes longer than the "
        "service's 2 s read timeout, botocore retries the call, and a retried `TransactWriteItems` that had landed "
        "is refused by moto as a resend within the cooldown (`send: resend_cooldown`); DynamoDB itself "
        "deduplicates a retried transaction by the idempotency token botocore sends with it (an `UpdateItem` "
        "has no such token: the service recognises its own landed write by the session it wrote, see "
        "tests/test_adversarial_faults.py). CPU is each "
        "process's CPU time over the level's wall time (100 % = one core of the machine's "
        f"{m['nproc']}): a Python process cannot use much more than one core, so the busiest one is the bottleneck.",
    ]
    lines += [
        "",
        "## Handler overhead",
        "",
        "The service's own time per request with AWS out of the picture (`bench/overhead.py`, run in a fresh "
        "process): botocore's `Stubber` on every client answers each call from memory after botocore has serialised "
        "it (the service's clients skip botocore's own parameter validation: AWS validates every request, and the "
        "test suite validates every call the service makes, tests/aws_calls.py), and KMS is played by a local "
        "P-256 key so that `/me` and sign-out check a real token. "
        "What remains is Chalice's routing, input validation, HMACs, JWT verification, DynamoDB expression "
        "building, botocore's client side and the access-log line (written to /dev/null). The Lambda handler is "
        "called with API Gateway proxy events; after 100 warm-up calls.",
        "",
        "| operation | AWS calls answered | p50 | p99 | mean |",
        "|---|---|---|---|---|",
    ]
    for name, row in overhead.items():
        lines.append(
            f"| {name} | {row['aws_calls_per_request']} | {us(row['p50_us'])} | {us(row['p99_us'])} | "
            f"{us(row['mean_us'])} |"
        )
    lines += ["", "## Deployment package", "", package_text(package), ""]
    return "\n".join(lines)


# What each path no longer pays, measured when each change was made (issue 14; the figures above are the result).
WHAT_WAS_CUT = [
    "### What the first request no longer pays",
    "",
    "Each change below was kept because it measured; none changes what the service answers or stores.",
    "",
    "- **botocore's full data** (`chalicelib/aws/models.py`, `chalicelib/aws/botocore_data/`). Building a client "
    "from botocore's own data lists its ~430 model directories (twice) and parses whole service models and the "
    "endpoints of every AWS service. The zip ships botocore's models cut down to the 12 operations the function "
    "calls and `endpoints.json` cut down to its 7 services; `python -m tools.slim_models` writes them from the "
    "pinned botocore, and the tests check they are current and that their clients send exactly the requests stock "
    "botocore's send. The three clients of a first send: 79 ms → 18 ms. Lambda's own botocore may be older or newer "
    "than the one that wrote the files, which is safe: a `service-2.json` is what botocore has always read from "
    "`~/.aws/models`, `endpoints.json` has been format version 3 since 2016, and the endpoint rule sets, partitions "
    "and retry data still come from the runtime's botocore. CloudWatch's model names several protocols, CBOR "
    "first; the shipped one names JSON, which current botocore picks, in the single-protocol field older botocore "
    "reads.",
    "- **Frozen dataclasses** for records: each costs ~1 ms to create at import (six methods compiled from source, "
    "which no bytecode cache keeps), and 39 of them cost a cold start 51 ms. Records are NamedTuples (~0.15 ms); "
    "the settings and the answer catalogue keep dataclasses (field metadata, inheritance).",
    "- **Code a sign-in never runs**: the `/mfa` and `/admin` route modules and the admin core are imported at "
    "their first request (`LazyRoutes` in app.py). With the NamedTuples, `import app` (botocore and Chalice "
    "already loaded) went from 74 ms to 43 ms.",
    "- **email-validator** (~35 ms: its patterns span U+0080 to U+10FFFF) is imported only for an address outside a "
    "plain ASCII grammar on which the library is known to give back its input lower-cased "
    "(`chalicelib/accounts/addresses.py`; tests/test_addresses.py proves the shortcut exact against the library).",
    "- **cryptography's key code**: a token is signed and the signing key published from KMS's DER answers read "
    "directly (`chalicelib/accounts/der.py`), so PyJWT and cryptography's EC code load only where a token is "
    "checked: ~8 ms of a first sign-in (its AES-GCM seal still loads cryptography's core).",
    "- **botocore's parameter validation** (warm and cold): about a fifth of the service's time per AWS call.",
]


def overhead_range(overhead: dict[str, Any]) -> str:
    service = [
        row["p50_us"]
        for name, row in overhead.items()
        if name != "minimal one-route Chalice app" and row["aws_calls_per_request"]
    ]
    return f"{us(min(service))} to {us(max(service))}"


def package_row(package: dict[str, Any]) -> str:
    if "error" in package:
        return "| Deployment zip | not measured | see below |"
    return (
        f"| Deployment zip ({package['stage']}) | {size(package['zipped_bytes'])} zipped, "
        f"{size(package['unzipped_bytes'])} unzipped ({package['files']} files) | built by the deployment's own "
        f"`{package['built_by']}` (chalice package, manylinux wheels from PyPI) |"
    )


def package_text(package: dict[str, Any]) -> str:
    if "error" in package:
        return f"Not measured: {package['error']}"
    note = (
        ""
        if package["make_status"] == 0
        else (f" (`make` exited with {package['make_status']} after building the zip: its template lint failed)")
    )
    return (
        f"`{package['built_by']}` built `out/{package['stage']}/deployment.zip` in {package['seconds']:.0f} s"
        f"{note}: {package['zipped_bytes']:,} bytes zipped ({size(package['zipped_bytes'])}), "
        f"{package['unzipped_bytes']:,} bytes unzipped ({size(package['unzipped_bytes'])}), {package['files']} "
        "files. Lambda's limits are 50 MiB zipped and 250 MiB unzipped, the passkeys issue's 10 MB "
        "(10,000,000 bytes, tests/test_packaging.py); boto3 is not in the zip (the runtime has it). The zip holds "
        "the app, `chalicelib/` and the runtime requirements (requirements.txt) with their modules' bytecode, "
        "less what no route reads (`tools/precompile.py`: dnspython, cffi's Python half, pycparser, type stubs), "
        "deflated at level 9."
    )


def ratio(figures: dict[str, Any]) -> str:
    """Wall and CPU from spawn to the first answer, as the median ratio to the prototype of the same rounds."""
    return f"{figures['spawn_to_first_answer_ratio']:.2f}x / {figures['cpu_to_first_answer_ratio']:.2f}x"


def worst(kinds: dict[str, Any], suffix: str = "") -> float:
    """The largest ratio to the prototype, wall or CPU, over the service's first requests (``suffix``: a variant)."""
    return max(
        kinds[kind + suffix][f"{measure}_ratio"]
        for kind in SERVICE_REQUESTS
        for measure in ("spawn_to_first_answer", "cpu_to_first_answer")
    )


def verdict(kinds: dict[str, Any]) -> str:
    """Whether every first request meets the target (<= 1.0x the prototype, wall and CPU) and the aim (0.7x)."""
    slowest, by_extension = worst(kinds), worst(kinds, BY_EXTENSION)
    target = "met" if slowest <= 1.0 else "met only with the extension" if by_extension <= 1.0 else "not met"
    return (
        f"The slowest first request of a sign-in is {slowest:.2f}x the prototype (wall or CPU, whichever is worse), "
        f"{by_extension:.2f}x with the key from the extension: the target of 1.0x on every one is {target}, "
        f"the aim of 0.7x {'met' if min(slowest, by_extension) <= 0.7 else 'not met'}."
    )


def cold_text(cold: dict[str, Any]) -> str:
    return (
        f"{cold['runs']} rounds; in each, one fresh `python -m bench.cold_start` process per kind of first request "
        "(the order rotated from round to round), timed by the parent from the moment it spawns the interpreter to "
        "the handler's first answer, wall clock and the process's own CPU time (interpreter start-up included). "
        "Each process imports its module and calls Lambda's handler once with an API Gateway proxy event, against "
        "the embedded AWS on loopback, with the stage's settings and bytecode cached by a warm-up round: the first "
        "request of a new container. Every send goes to a new address or number, and each verify is of a code "
        "that `chalice local` (another process) sent just before the measured process started, for an address "
        "that has no account yet (a new visitor); each code exchange is of a code from a sign-in that `chalice "
        "local` served just before (see [OpenID Connect](#openid-connect)), and each passkey sign-in answers a "
        "ceremony that `chalice local` began just before, with a passkey registered there (see "
        "[Passkeys](#passkeys)). A ratio is taken within a round, then "
        "the median of the rounds' ratios: the machine's cores are shared, so absolute times move with the load "
        "and ratios much less. Medians in milliseconds; the AWS calls are counted by a botocore `before-call` hook "
        "every session gets. The embedded AWS rolls a cancelled `TransactWriteItems` back from copies of the items "
        "it names (tools/embedded_aws.py): moto copies each table it names whole before every transaction, which "
        "made a send's transaction slower with every code the rounds had left in the table (7 items: 14 ms in an "
        "empty table, 98 ms at 500 items), where DynamoDB's time does not grow with the table. "
        + verdict(cold["kinds"])
    )


def lambda_text(results: dict[str, Any]) -> str:
    deployment, kinds = results["deployment"], results["cold_start"]["kinds"]
    memory = deployment["memory_mb"]
    share = memory / ONE_VCPU_MB
    rows = []
    for kind in (*FIRST_REQUESTS, *(kind + BY_EXTENSION for kind in SERVICE_REQUESTS)):
        figures = kinds[kind]
        cpu = figures["cpu_to_first_answer_ms"]
        calls = sum(figures["aws_calls"].values())
        rows.append(
            f"| {kind} | {cpu:.0f} ms | {cpu / share:,.0f} ms | {calls} | "
            f"**{(cpu / share + calls * AWS_CALL_MS) / 1000:.1f} s** | "
            f"{(cpu + calls * AWS_CALL_MS) / 1000:.2f} s |"
        )
    burst, rate = deployment["throttling_burst"], deployment["throttling_rate"]
    email = kinds["send_otp (email)"]
    email_wait = (email["cpu_to_first_answer_ms"] / share + sum(email["aws_calls"].values()) * AWS_CALL_MS) / 1000
    return "\n".join(
        [
            "## On Lambda",
            "",
            "What the figures above mean for a deployed stage, on paper; after a deployment the `REPORT` lines of "
            "a cold start (`Init Duration`, then the first request's `Duration`) are the figures to compare.",
            "",
            "- **The init phase.** Lambda starts the Python runtime and imports `app` in the init phase (at most "
            "10 s), then hands the first request to the handler. The service does nothing at import but import; its "
            "settings, clients and hashing key are made by the first request, and only those that request needs (a "
            "send builds DynamoDB's client and SES's or SNS's, a verify DynamoDB's and KMS's; Secrets Manager's only "
            "without the extension). The prototype built its clients at import, in the init phase. A visitor waits "
            "for both phases alike, and since August 2025 Lambda bills the init phase of on-demand functions too.",
            f"- **{memory} MB's share of a vCPU.** Lambda gives a function CPU in proportion to its memory, one vCPU "
            f"at {ONE_VCPU_MB:,} MB: the stages' {memory} MB (`lambda_memory_size` in `.chalice/config.json`) is "
            f"{share:.2f} of a vCPU. A cold start is nearly all CPU (compare the wall and CPU columns above), so, "
            "taking one of Lambda's vCPUs as worth one of this machine's cores and about "
            f"{AWS_CALL_MS} ms per AWS call within a region, a cold start there takes about:",
            "",
            f"| first request | CPU here | CPU at {memory} MB (÷ {share:.2f}) | AWS calls | ≈ wait at {memory} MB | "
            f"≈ wait at {ONE_VCPU_MB:,} MB |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            "  Memory is the one switch the project's config has for this (`lambda_memory_size`): at "
            f"{ONE_VCPU_MB:,} MB the same work gets a whole vCPU, at {ONE_VCPU_MB / memory:.1f}x the price per "
            "millisecond for about as many fewer milliseconds, so a cold start costs about the same and waits a "
            "third as long; above that a second vCPU does not speed up a single-threaded import. Lambda is said to "
            "give the init phase more CPU than the memory's share; that is not documented, so the table does not "
            "count on it.",
            "- **Provisioned concurrency** keeps a number of environments initialised ahead of requests, paid by the "
            "hour: a request that lands on one skips the init phase (the import), though with this service's lazy "
            "wiring not the first request's clients and key. The template cannot switch it on as it stands: it "
            "applies to a published version or alias, and the API that Chalice generates invokes the function's "
            "unqualified ARN (`${APIHandler.Arn}`); it would take `AutoPublishAlias` and "
            "`ProvisionedConcurrencyConfig` merged into `APIHandler` through `deploy/resources.json` and the API "
            "integration pointed at the alias. `reserved_concurrency`, which Chalice's config does have, only caps "
            "the function and starts nothing ahead.",
            f"- **SnapStart** (Python 3.12 and later) restores a snapshot of an initialised environment instead of "
            f"running the init phase. The stages run Python {deployment['python']} (Chalice takes the runtime from "
            "the interpreter that packages the app), and SnapStart too applies only to published versions, so it "
            "needs both the newer runtime and the alias above (`SnapStart: {ApplyOn: PublishedVersions}` on "
            "`APIHandler`). It would pay most if the clients were built at import, into the snapshot; the hashing key "
            "must not be (a snapshot is stored, and restored environments would share whatever it holds).",
            "- **The Parameters and Secrets Lambda Extension** (`OTP_SECRETS_EXTENSION_PORT=2773`, and the "
            "extension's layer for the region on the function, e.g. the stage's `layers` in `.chalice/config.json`) "
            "is a separate process of the environment that reads the secret with the function's role and caches it: "
            "the function builds no Secrets Manager client (the rows marked *key from the extension*). The "
            "extension's own start and its one call to Secrets Manager still happen within the cold start, in a "
            "compiled process, and on the same share of a vCPU. Its cache is per environment, like the service's "
            "own once-per-container read, so it saves no call to Secrets Manager: what it saves is the client and the "
            "function's own wait for the call.",
            "",
            f"**A burst of 1,000 new visitors in one second**, each asking for a code by mail. API Gateway comes "
            f"first: the template's stage throttling (`ThrottlingBurstLimit` {burst}, `ThrottlingRateLimit` {rate} a "
            f"second by default) lets {burst} through at once and {rate} more during that second, so {burst + rate} "
            f"are served and {1000 - burst - rate} are answered 429 by API Gateway before any Lambda runs (a client "
            "that retries with backoff comes back within seconds). Raise both to 1,000 and every request meets a "
            "container of its own: none of the first ones is free again within the second (a cold start outlasts it), "
            "and Lambda adds up to 1,000 environments every 10 s per function, within the account's concurrency "
            f"(1,000 per region unless raised). So about 1,000 cold starts run at once, and each visitor waits one: "
            f"about {email_wait:.1f} s at {memory} MB by the table above, where the prototype's would be "
            f"{(kinds[PROTOTYPE]['cpu_to_first_answer_ms'] / share + 2 * AWS_CALL_MS) / 1000:.1f} s. Their codes' "
            "verifies, a minute later, find those containers warm. Behind Lambda, the account's SES sending rate "
            "(a per-second quota shown in the SES console) refuses the mails above it with 503 `mail_unavailable`, "
            "and KMS allows 1,000 ECC signatures a second per account and region by default; DynamoDB on demand takes "
            "the writes.",
        ]
    )


# A sign-in's first requests as `make bench` measured them before the OpenID Connect provider (2026-12-06 13:03 UTC,
# docs/benchmarks.json at 11a7e85): wall and CPU, as ratios to the prototype.
BEFORE_THE_PROVIDER = {
    "send_otp (email)": (0.68, 0.68),
    "send_otp (SMS)": (0.84, 0.77),
    "verify_otp (right code)": (0.72, 0.73),
}
ONE_WRITE_TWO_SIGNATURES = {"dynamodb.UpdateItem": 1, "kms.Sign": 2}
# What an application's sign-in of a person already signed in to the UI asks, first-party, in order.
APPLICATION_SIGN_IN = (
    "GET /oauth2/authorize",
    "GET /oauth2/login",
    "POST /oauth2/login, first-party client",
    CODE_EXCHANGES[0],
)


def oidc_section(results: dict[str, Any]) -> list[str]:
    steps, cold = results["oidc_aws_calls"], results["cold_start"]
    lines = [
        "## OpenID Connect",
        "",
        "What the provider ([oidc.md](oidc.md)) costs, step by step: the AWS calls of each request, counted as in "
        "the table above (a botocore `before-call` hook on the service's clients, through Chalice's test client "
        "against the embedded AWS), after the same steps once uncounted, so that the RSA key's public key and the "
        "stage's clients are read already. Two applications of the local stage: `local-demo` (public, first-party) "
        "signs a person in, refreshes, reads userinfo and revokes its refresh token; `local-example` (confidential, "
        "third-party) asks for consent, is given it, exchanges its code, introspects its access token, relies on the "
        "consent at the next sign-in, and logs out. Each person is signed in to the sign-in UI first (`send_otp` and "
        "`verify_otp` above), whose session's bearer token accepts the login challenge (`POST /oauth2/login`).",
        "",
        "| step | answer | calls | total |",
        "|---|---|---|---|",
    ]
    lines += [f"| {name} | {row['status']} | {listed(row['calls'])} | {row['total']} |" for name, row in steps.items()]
    sign_in: collections.Counter[str] = collections.Counter()
    for name in APPLICATION_SIGN_IN:
        sign_in.update(steps[name]["calls"])
    token, signed = cold["kinds"][TOKEN_EXCHANGE], sum(n for op, n in sign_in.items() if op == "kms.Sign")
    lines += [
        "",
        claim(steps),
        "",
        f"An application's sign-in of a person already signed in to the UI (a first-party client: "
        f"{', '.join(f'`{name}`' for name in APPLICATION_SIGN_IN)}) makes {sum(sign_in.values())} AWS calls, "
        f"{signed} of them KMS signatures: {listed(dict(sign_in))}.",
        "",
        "### The token endpoint's cold start",
        "",
        "A new container whose first request exchanges a code (`POST /oauth2/token`, `authorization_code`, the "
        "public client `local-demo`), in the rounds of the [cold starts](#cold-start) above, beside a sign-in's "
        "first requests: each code comes from a sign-in that `chalice local` served just before the measured "
        "process started (the person's send and verify, the application's authorization request, the sign-in UI's "
        "acceptance), as an application's container that has not served its redirect yet would meet it. Medians "
        "in milliseconds.",
        "",
        "| first request | AWS calls before the answer | spawn → answer, wall | CPU | wall / CPU vs. the prototype |",
        "|---|---|---|---|---|",
    ]
    for kind in (TOKEN_EXCHANGE, *SERVICE_REQUESTS):
        figures = cold["kinds"][kind]
        lines.append(
            f"| {kind} | {listed(figures['aws_calls'])} | {figures['spawn_to_first_answer_ms']:.0f} | "
            f"{figures['cpu_to_first_answer_ms']:.0f} | {ratio(figures)} |"
        )
    imports = cold["imports_by_package_ms"][TOKEN_EXCHANGE]
    lines += [
        "",
        f"Beyond the exchange's own {sum(steps[CODE_EXCHANGES[0]]['calls'].values())} calls, a new container reads "
        "the hashing key (`secretsmanager.GetSecretValue`, none with the key from the extension) and the public key "
        "of each signing key it signs with, once (`kms.GetPublicKey`: the key id the tokens name; the access token "
        f"and the ID token are signed by two keys, ES256 and RS256, unless both are RS256): "
        f"{sum(token['aws_calls'].values())} calls in all. Its request also imports the provider's modules (at the "
        "first request of its routes) and cryptography's key loading (the RSA key's public key is read from its "
        f"DER with it): `chalicelib` {imports.get('chalicelib', 0.0):.0f} ms and `cryptography` "
        f"{imports.get('cryptography', 0.0):.0f} ms of the process's {sum(imports.values()):.0f} ms of imports "
        "(`python -X importtime`, as above).",
        "",
        "### A sign-in's cold start, with the provider in",
        "",
        "The provider's code is imported at the first request of its routes (`LazyRoutes` in app.py, "
        "`wiring.get_oauth()`): a sign-in loads only `chalicelib.oauth.clients`, with which the settings check the "
        "stage's clients once per container (tests/test_oauth_lazy.py holds both). Against this benchmark's "
        "figures from before the provider (2026-12-06 13:03 UTC, docs/benchmarks.json at 11a7e85):",
        "",
        "| first request | wall / CPU vs. the prototype, before the provider | with it, in this run |",
        "|---|---|---|",
    ]
    for kind, (wall, cpu) in BEFORE_THE_PROVIDER.items():
        lines.append(f"| {kind} | {wall:.2f}x / {cpu:.2f}x | {ratio(cold['kinds'][kind])} |")
    lines += ["", *PROVIDER_AGAINST_BEFORE]
    return lines


# Measured once, when the provider was benchmarked (2026-12-06): the code before it is not in this tree to measure.
PROVIDER_AGAINST_BEFORE = [
    "Ratios to the prototype move by several hundredths from run to run on this shared machine (the prototype's own "
    "wall time most: 394 ms in the run before the provider, 238 to 338 ms in the runs after), so the code just "
    "before the provider (a20d39a's app.py and chalicelib) was also measured against the provider's, interleaved "
    "in the same rounds on one stack (`bench.run.cold_process` with the old tree first on `PYTHONPATH`, three runs "
    "of 16, 24 and 24 rounds on 2026-12-06): with the provider a sign-in's first request took 0.96x to 1.04x the "
    "wall time and 0.97x to 1.01x the CPU time it took without it, the last run 1.01x / 1.01x to send by mail, "
    "1.00x / 1.00x by text and 1.01x / 1.01x to verify, with the same AWS calls: no difference beyond the noise. "
    "What the provider adds to a sign-in's container is `chalicelib.oauth.clients` at import (0.6 ms: all it "
    "imports is loaded already) and the check of the stage's clients at the first request (0.1 ms for the local "
    "stage's two).",
]


def passkey_section(results: dict[str, Any]) -> list[str]:
    steps, cold = results["passkey_aws_calls"], results["cold_start"]
    lines = [
        "## Passkeys",
        "",
        "What a passkey costs, request by request: the AWS calls of each, counted as in the tables above (a botocore "
        "`before-call` hook on the service's clients, through Chalice's test client against the embedded AWS), "
        "after the same requests once uncounted. A person signed in by a code (`send_otp` and `verify_otp` above) "
        "registers a passkey, signs in with it usernameless, and steps up with it; the browser and its "
        "authenticator are the suite's software one (tests/webauthn_authenticator.py, an ES256 device-bound "
        "passkey with user verification), the one tests/test_passkeys.py holds to each rule of WebAuthn Level 3.",
        "",
        "| request | answer | calls | total |",
        "|---|---|---|---|",
    ]
    lines += [f"| {name} | {row['status']} | {listed(row['calls'])} | {row['total']} |" for name, row in steps.items()]
    first = cold["kinds"][PASSKEY_SIGN_IN]
    once = collections.Counter(first["aws_calls"]) - collections.Counter(steps[SIGN_IN]["calls"])
    imports = cold["imports_by_package_ms"][PASSKEY_SIGN_IN]
    lines += [
        "",
        passkey_claim(steps[SIGN_IN]["calls"]),
        "",
        "### A passkey sign-in's cold start",
        "",
        f"A new container whose first request is `{SIGN_IN}`, in the rounds of the [cold starts](#cold-start) "
        "above: each time a new account's passkey registered and a sign-in ceremony begun through `chalice local` "
        "just before the measured process started, as a container that has not served the ceremony's options "
        "would meet it. Medians in milliseconds.",
        "",
        "| first request | AWS calls before the answer | spawn → answer, wall | CPU | wall / CPU vs. the prototype |",
        "|---|---|---|---|---|",
    ]
    for kind in (PASSKEY_SIGN_IN, "verify_otp (right code)"):
        figures = cold["kinds"][kind]
        lines.append(
            f"| {kind} | {listed(figures['aws_calls'])} | {figures['spawn_to_first_answer_ms']:.0f} | "
            f"{figures['cpu_to_first_answer_ms']:.0f} | {ratio(figures)} |"
        )
    lines += [
        "",
        f"Beyond the sign-in's own {sum(steps[SIGN_IN]['calls'].values())} calls, a new container makes what it "
        f"makes once in its life: {listed(dict(once))}; {sum(first['aws_calls'].values())} calls in all. Its "
        f"imports (`python -X importtime`, as above) come to {sum(imports.values()):.0f} ms, of which `webauthn` "
        f"{imports.get('webauthn', 0.0):.0f} ms, `cbor2` {imports.get('cbor2', 0.0):.0f} ms and `cryptography` "
        f"{imports.get('cryptography', 0.0):.0f} ms.",
    ]
    return lines


PASSKEYS_LAYOUT = (
    "[item-layout.md](item-layout.md#passkeys-passkeydigest-of-the-credential-id-ceremonydigest-of-the-challenge)"
)


def passkey_claim(made: dict[str, int]) -> str:
    """Whether a passkey's sign-in is what docs/item-layout.md says it is: one read, one transaction, a signature."""
    if made == ONE_READ_ONE_WRITE_ONE_SIGNATURE:
        return (
            "A passkey's sign-in is one `dynamodb.BatchGetItem` (the credential, the account's home and the "
            "network's failure counter) and one `dynamodb.TransactWriteItems` (the ceremony spent, the sign count "
            "and last use, the session opened) plus the access token's signature (`kms.Sign`), as "
            f"{PASSKEYS_LAYOUT} says."
        )
    return (
        "A passkey's sign-in is **not** the one `BatchGetItem` and one `TransactWriteItems` plus the signature "
        f"{PASSKEYS_LAYOUT} says: {listed(made)}."
    )


def claim(steps: dict[str, Any]) -> str:
    """Whether exchanging a code is what docs/oidc.md says it is: one conditional write plus two signatures."""
    made = {name: steps[name]["calls"] for name in CODE_EXCHANGES}
    if all(calls == ONE_WRITE_TWO_SIGNATURES for calls in made.values()):
        return (
            "Exchanging a code is one conditional write (`dynamodb.UpdateItem` on the client session's entry, "
            "which returns the account as it was) plus the signatures of the access token and the ID token "
            "(`kms.Sign` x 2), for a public and a confidential client alike, as [oidc.md](oidc.md#the-flow) says."
        )
    return (
        "Exchanging a code is **not** the one conditional write plus two signatures [oidc.md](oidc.md#the-flow) "
        "says: " + "; ".join(f"{name}: {listed(calls)}" for name, calls in made.items()) + "."
    )


def zip_row(from_zip: dict[str, Any] | None) -> str:
    if not from_zip:
        return "| Cold start from the deployment zip | not measured (no zip: see below) | |"
    built, sources = from_zip["kinds"][AS_BUILT], from_zip["kinds"][SOURCES_ONLY]
    return (
        f"| Cold start of `send_otp` (email) from the deployment zip, as Lambda loads it, vs. the prototype | "
        f"**{ratio(built)}** with the zip's bytecode (`make package`), {ratio(sources)} from its sources only | "
        f"{from_zip['runs']} interleaved rounds; the zip unpacked and nothing written (Lambda's /var/task is "
        "read-only), botocore compiled as in the runtime; see below |"
    )


def zip_section(from_zip: dict[str, Any] | None) -> list[str]:
    if not from_zip:
        return []
    kinds = from_zip["kinds"]
    lines = [
        "### From the deployment zip",
        "",
        "Lambda unpacks the zip into a read-only /var/task: Python cannot cache the bytecode of what it imports "
        "from there, so a zip of sources alone (as `chalice package` and `chalice deploy` build it) has every "
        "cold start compile app.py, chalicelib, Chalice's runtime, PyJWT, email-validator, phonenumbers and "
        "cryptography's Python half anew; the runtime's boto3 comes compiled. `make package` adds the modules' "
        "bytecode (`tools/precompile.py`, unchecked-hash: used whatever the unpacked files' times). Here the "
        f"`{PROTOTYPE}`'s process runs as above, and `send_otp` (email) from the `make package` zip unpacked "
        f"({from_zip['zipped_bytes'] / 2**20:.2f} MiB), as built and with its bytecode removed, with "
        f"`PYTHONDONTWRITEBYTECODE`; {from_zip['runs']} interleaved rounds, medians in milliseconds.",
        "",
        "| process | spawn → answer, wall | CPU | wall / CPU vs. the prototype |",
        "|---|---|---|---|",
    ]
    for kind, figures in kinds.items():
        lines.append(
            f"| {kind} | {figures['spawn_to_first_answer_ms']:.0f} | "
            f"{figures['cpu_to_first_answer_ms']:.0f} | {ratio(figures)} |"
        )
    return lines
