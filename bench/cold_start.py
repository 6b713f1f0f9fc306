"""One cold start, in the fresh process that runs this: ``python -m bench.cold_start <module> <address> [<inbox>]``.

Imports ``<module>`` (``app``, or ``bench.minimal_app``), then calls its handler as Lambda would, with API Gateway
proxy events: ``send_otp`` for ``<address>``, then ``verify_otp`` with the code read from ``<inbox>`` (the
embedded AWS's mail, read between the two calls and not timed). Prints one JSON line of milliseconds: the
import, each of the two calls, and from the moment the parent spawned this process (``BENCH_SPAWNED_AT``, a
wall-clock time) to the first answer. The environment (stage settings, the embedded AWS's endpoint) is the
parent's to set.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import urllib.parse
import urllib.request

from bench.events import LambdaContext, answer, proxy_event


def main(argv: list[str]) -> None:
    module_name, address, *rest = argv
    inbox = rest[0] if rest else None
    started = time.perf_counter()
    handler = importlib.import_module(module_name).app
    imported = time.perf_counter()
    context = LambdaContext()
    sent = handler(proxy_event("POST", "/otp", {"action": "send_otp", "email": address}), context)
    first_answer = time.perf_counter()
    first_answer_wall = time.time()
    code = read_code(inbox, address) if inbox else "123456"
    verify_started = time.perf_counter()
    verified = handler(proxy_event("POST", "/otp", {"action": "verify_otp", "email": address, "otp": code}), context)
    second_answer = time.perf_counter()
    statuses = [answer(sent)[0], answer(verified)[0]]
    if statuses != [200, 200]:
        raise SystemExit(f"unexpected answers {statuses}: {sent['body']} {verified['body']}")
    spawned = float(os.environ.get("BENCH_SPAWNED_AT", "nan"))
    print(json.dumps({
        "import_ms": (imported - started) * 1000,
        "first_request_ms": (first_answer - imported) * 1000,
        "second_request_ms": (second_answer - verify_started) * 1000,
        "spawn_to_first_answer_ms": (first_answer_wall - spawned) * 1000,
    }))


def read_code(inbox: str, address: str) -> str:
    with urllib.request.urlopen(f"{inbox}?{urllib.parse.urlencode({'to': address})}", timeout=30) as reply:
        return json.load(reply)["code"]


if __name__ == "__main__":
    main(sys.argv[1:])
