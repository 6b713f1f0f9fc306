"""docs/benchmarks.md from the raw figures of bench/run.py."""

from __future__ import annotations

import math
from typing import Any


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
    return (f"{timing['difference_ms']:+.2f} ms ({timing['live_code_ms']:.2f} vs {timing['never_asked_ms']:.2f} ms, "
            f"{timing['pairs']} pairs)")


def own_timing_line(results: dict[str, Any]) -> str:
    rows = results["handler_overhead"]
    live, never = rows.get("verify_otp, wrong code"), rows.get("verify_otp, no code requested")
    if not (live and never):
        return "not measured"
    return f"{(live['p50_us'] - never['p50_us']) / 1000:+.2f} ms ({us(live['p50_us'])} vs {us(never['p50_us'])} p50)"


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    cold, calls, load, overhead, package = (results[k] for k in ("cold_start", "aws_calls", "load",
                                                                  "handler_overhead", "package"))
    service, minimal, uncached = cold["service"], cold["minimal_app"], cold["service_no_bytecode_cache"]
    ratio = service["import_plus_first_request_ms"] / minimal["import_plus_first_request_ms"]
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
        f"| Cold start: `import app` | {ms(service['import_ms'])} | median of {cold['runs']} fresh processes "
        "(`bench/cold_start.py`), the stage's settings in the environment, bytecode cached by a warm-up run |",
        f"| Cold start: first request (`send_otp`) | {ms(service['first_request_ms'])} | the same processes: "
        "Lambda's handler called with an API Gateway proxy event, against the embedded AWS on loopback; includes "
        "building the boto3 clients and reading the hashing key from Secrets Manager |",
        f"| Cold start: second request (`verify_otp`) | {ms(service['second_request_ms'])} | the same processes, "
        "with the code just mailed; the first sign-in also fetches the KMS public key |",
        f"| Cold start: import + first request, service vs. one-route Chalice app | "
        f"{ms(service['import_plus_first_request_ms'])} vs. {ms(minimal['import_plus_first_request_ms'])} "
        f"(**{ratio:.1f}x**) | medians of the same interleaved runs; `bench/minimal_app.py` answers a JSON "
        "constant from one route |",
        f"| Cold start without any bytecode cache | {ms(uncached['import_plus_first_request_ms'])} | median of "
        f"{cold['uncached_runs']} runs with `PYTHONDONTWRITEBYTECODE` and an empty `PYTHONPYCACHEPREFIX`: every "
        "module compiled from source, an upper bound (Lambda's runtime ships boto3 compiled) |",
        f"| Process spawn → first answer | {ms(service['spawn_to_first_answer_ms'])} | wall clock from the parent "
        "starting the interpreter to the first answer, interpreter start-up included |",
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
            "bounded by the embedded AWS, see below |")
    floor = overhead["minimal one-route Chalice app"]
    lines += [
        f"| Handler overhead, AWS answering instantly | {overhead_range(overhead)} p50 per request; "
        f"minimal app {us(floor['p50_us'])} | botocore `Stubber` on every client, handler called in-process, "
        f"{floor['calls']} calls per operation; details below |",
        package_row(package),
        "",
        "## Cold start",
        "",
        "Each run is a new `python -m bench.cold_start` process. Medians in milliseconds.",
        "",
        "| | import | first request | second request | import + first request | spawn → first answer |",
        "|---|---|---|---|---|---|",
    ]
    for label, figures in (("service (`app`)", service), ("one-route Chalice app", minimal),
                           ("service, no bytecode cache", uncached)):
        lines.append(f"| {label} | {figures['import_ms']:.1f} | {figures['first_request_ms']:.1f} | "
                     f"{figures['second_request_ms']:.1f} | {figures['import_plus_first_request_ms']:.1f} | "
                     f"{figures['spawn_to_first_answer_ms']:.1f} |")
    by_package = cold["import_by_package_ms"]
    top = list(by_package.items())[:6]
    rest = sum(by_package.values()) - sum(ms_ for _, ms_ in top)
    lines += [
        "",
        "Where `import app` spends its time (`python -X importtime`, each module's own time summed by top-level "
        "package, median of 5 runs): " + ", ".join(f"`{name}` {value:.0f} ms" for name, value in top)
        + f", everything else {rest:.0f} ms. The first request then builds the boto3 clients (botocore loads each "
        "service's model), reads the hashing key from Secrets Manager and makes its own two calls.",
    ]
    lines += [
        "",
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
        made = ", ".join(f"{op} x {n}" if n > 1 else op for op, n in row["calls"].items()) or "none"
        lines.append(f"| {name} | {row['status']} | {made} | {row['total']} |")
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
            f"{cpu['aws']} % / {cpu['api']} % / {cpu['load generator']} % |")
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
        "process): botocore's `Stubber` on every client answers each call from memory after botocore has validated "
        "and serialised it, and KMS is played by a local P-256 key so that `/me` and sign-out check a real token. "
        "What remains is Chalice's routing, input validation, HMACs, JWT verification, DynamoDB expression "
        "building, botocore's client side and the access-log line (written to /dev/null). The Lambda handler is "
        "called with API Gateway proxy events; after 100 warm-up calls.",
        "",
        "| operation | AWS calls answered | p50 | p99 | mean |",
        "|---|---|---|---|---|",
    ]
    for name, row in overhead.items():
        lines.append(f"| {name} | {row['aws_calls_per_request']} | {us(row['p50_us'])} | {us(row['p99_us'])} | "
                     f"{us(row['mean_us'])} |")
    lines += ["", "## Deployment package", "", package_text(package), ""]
    return "\n".join(lines)


def overhead_range(overhead: dict[str, Any]) -> str:
    service = [row["p50_us"] for name, row in overhead.items()
               if name != "minimal one-route Chalice app" and row["aws_calls_per_request"]]
    return f"{us(min(service))} to {us(max(service))}"


def package_row(package: dict[str, Any]) -> str:
    if "error" in package:
        return "| Deployment zip | not measured | see below |"
    return (f"| Deployment zip ({package['stage']}) | {size(package['zipped_bytes'])} zipped, "
            f"{size(package['unzipped_bytes'])} unzipped ({package['files']} files) | built by the deployment's own "
            f"`{package['built_by']}` (chalice package, manylinux wheels from PyPI) |")


def package_text(package: dict[str, Any]) -> str:
    if "error" in package:
        return f"Not measured: {package['error']}"
    note = "" if package["make_status"] == 0 else (
        f" (`make` exited with {package['make_status']} after building the zip: its template lint failed)")
    return (f"`{package['built_by']}` built `out/{package['stage']}/deployment.zip` in {package['seconds']:.0f} s"
            f"{note}: {package['zipped_bytes']:,} bytes zipped ({size(package['zipped_bytes'])}), "
            f"{package['unzipped_bytes']:,} bytes unzipped ({size(package['unzipped_bytes'])}), {package['files']} "
            "files. Lambda's limits are 50 MiB zipped and 250 MiB unzipped; boto3 is not in the zip (the runtime "
            "has it), the zip holds the app, `chalicelib/` and the three runtime requirements.")
