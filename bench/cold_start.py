"""One cold start, in the fresh process that runs this: ``python -m bench.cold_start <module> <event>``.

Imports ``<module>`` (``app``, ``bench.prototype`` or ``bench.minimal_app``) and calls its handler once, as Lambda
calls it, with ``<event>``, an API Gateway proxy event in JSON (bench/events.py: ``POST /otp`` with a JSON body, or
a form posted to the token endpoint): the container's first request. Prints one JSON line: the answer's status, the
import and the request in milliseconds, from the moment the parent spawned this process (``BENCH_SPAWNED_AT``, a
wall-clock time) to the answer the wall time and this process's CPU time (user + system, interpreter start-up
included), and the AWS calls made before the answer (a botocore ``before-call`` hook that every session gets: the
import of botocore's handlers counts as import). The environment (stage settings, the embedded AWS's endpoint) is
the parent's to set.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
from typing import Any

from bench.events import LambdaContext


def main(argv: list[str]) -> None:
    module_name, event = argv
    started = time.perf_counter()
    calls: list[str] = []
    from botocore import handlers

    def record(model: Any, **_: Any) -> None:
        calls.append(f"{model.service_model.service_name}.{model.name}")

    handlers.BUILTIN_HANDLERS.append(("before-call.*.*", record))
    handler = importlib.import_module(module_name).app
    imported = time.perf_counter()
    answered = handler(json.loads(event), LambdaContext())
    first_answer = time.perf_counter()
    first_answer_wall = time.time()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    spawned = float(os.environ.get("BENCH_SPAWNED_AT", "nan"))
    print(
        json.dumps(
            {
                "status": answered["statusCode"],
                "import_ms": (imported - started) * 1000,
                "first_request_ms": (first_answer - imported) * 1000,
                "spawn_to_first_answer_ms": (first_answer_wall - spawned) * 1000,
                "cpu_to_first_answer_ms": (cpu.ru_utime + cpu.ru_stime) * 1000,
                "aws_calls": calls,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
