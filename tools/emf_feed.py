"""The local stack's CloudWatch metrics: the API's access lines in embedded metric format, put into the
embedded AWS as CloudWatch Logs would turn them into metrics in a deployed stage.

`chalice local` prints each request's access line on stdout; `tools.run_local` hands every line of it to a
:class:`MetricsFeed`, which puts the metrics of those that carry an ``_aws`` block (chalicelib/http/metrics.py)
with ``PutMetricData``, on a thread of its own, so the admin dashboard's charts move under `make run`.
"""

from __future__ import annotations

import json
import queue
import threading
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

MAX_DATA_PER_CALL = 1000  # PutMetricData's limit of metric data per request


def metric_data(line: str) -> list[tuple[str, dict[str, Any]]]:
    """``(namespace, MetricDatum)`` for every metric and dimension set an EMF line declares; none for any other
    line. As CloudWatch does, a dimension set whose keys the line lacks is skipped."""
    try:
        document = json.loads(line)
    except ValueError:
        return []
    block = document.get("_aws") if isinstance(document, dict) else None
    if not isinstance(block, dict):
        return []
    when = datetime.fromtimestamp(block.get("Timestamp", 0) / 1000, UTC)
    data = []
    for directive in block.get("CloudWatchMetrics", []):
        for dimensions in directive.get("Dimensions", []):
            if not all(name in document for name in dimensions):
                continue
            for metric in directive.get("Metrics", []):
                data.append(
                    (
                        directive["Namespace"],
                        {
                            "MetricName": metric["Name"],
                            "Dimensions": [{"Name": name, "Value": str(document[name])} for name in dimensions],
                            "Value": float(document[metric["Name"]]),
                            "Unit": metric.get("Unit", "None"),
                            "Timestamp": when,
                        },
                    )
                )
    return data


class MetricsFeed:
    """Puts the metrics of the lines it is offered into CloudWatch, in order, on a daemon thread."""

    def __init__(self, cloudwatch: Any, say: Any = print) -> None:
        self._cloudwatch = cloudwatch
        self._say = say
        self._lines: queue.Queue[str | threading.Event] = queue.Queue()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emf-feed", daemon=True)
        self._thread.start()

    def offer(self, line: str) -> None:
        """Called with every line the API prints; only EMF lines are kept (a cheap test before any parsing)."""
        if '"_aws"' in line and not self._closed.is_set():
            self._lines.put(line)

    def close(self) -> None:
        """Put nothing more, whatever is still queued: the stack is stopping, and the embedded AWS with it."""
        self._closed.set()

    def drain(self, timeout: float = 10) -> None:
        """Wait until every line offered so far is put (tests)."""
        done = threading.Event()
        self._lines.put(done)
        done.wait(timeout)

    def _run(self) -> None:
        while True:
            line = self._lines.get()
            if isinstance(line, threading.Event):
                line.set()
                continue
            if self._closed.is_set():
                continue
            by_namespace: dict[str, list[dict[str, Any]]] = {}
            for namespace, datum in metric_data(line):
                by_namespace.setdefault(namespace, []).append(datum)
            for namespace, data in by_namespace.items():
                try:
                    for start in range(0, len(data), MAX_DATA_PER_CALL):
                        self._cloudwatch.put_metric_data(
                            Namespace=namespace, MetricData=data[start : start + MAX_DATA_PER_CALL]
                        )
                except (BotoCoreError, ClientError) as error:
                    # The stack goes on without this line's metrics; the dashboard then shows fewer.
                    self._say(f"[stack] metrics of an access line were not put: {error}")
