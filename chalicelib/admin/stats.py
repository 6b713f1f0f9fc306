"""The admin's statistics: the access log's metrics (chalicelib/http/metrics.py) read back hourly.

One ``GetMetricData`` call (paged) reads every series: per channel the codes sent, sign-ins, wrong codes and
refusals by each rate limit's code, second-factor challenges; the second factor's sign-ins and failures; per SMS
country the texts sent and verified (their ratio is the SMS-pumping
signal: bots request texts and never type the codes) and their estimated cost; accounts locked and reused
refresh tokens. Hours without data are zeros.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from chalicelib.aws.dependencies import guarded
from chalicelib.core.metric_names import (
    CHANNEL,
    CHANNEL_METRICS,
    COUNTRY,
    EMAIL_CHANNEL,
    LOCK_ROUTE,
    MFA_VERIFY_ROUTE,
    OUTCOME,
    REFRESH_ROUTE,
    ROUTE,
    SMS_CHANNEL,
    SMS_METRICS,
)

HOUR = 3_600
CHANNELS = (EMAIL_CHANNEL, SMS_CHANNEL)
SECOND_FACTOR = {"sign_ins": "SecondFactorSignIns", "failures": "SecondFactorFailures"}


class Query(NamedTuple):
    """One series: a metric with one set of dimension values, summed per hour."""

    metric: str
    dimensions: tuple[tuple[str, str], ...]

    @property
    def id(self) -> str:
        # GetMetricData ids: a lower-case letter, then letters, digits and underscores.
        parts = [self.metric, *(value for _, value in self.dimensions)]
        return "q_" + "_".join(re.sub(r"\W", "_", part) for part in parts).lower()


class MetricsReader:
    def __init__(self, client: Any, namespace: str, countries: Iterable[str]) -> None:
        self._client = client
        self._namespace = namespace
        self._countries = tuple(countries)

    def hourly(self, hours: int, now: int, refusals: Iterable[str]) -> dict[str, Any]:
        """The last ``hours`` hours (the current one last), oldest first, as ``{"timestamps": [...], <series>}``;
        ``refusals`` are the answer codes the access log counts as ``Refused``."""
        end = (now // HOUR + 1) * HOUR
        start = end - hours * HOUR
        codes = tuple(sorted(refusals))
        queries = self._queries(codes)
        values = self._read(queries, start, end)
        stamps = list(range(start, end, HOUR))

        def series(query: Query) -> list[float]:
            found = values.get(query.id, {})
            return [found.get(stamp, 0.0) for stamp in stamps]

        answer: dict[str, Any] = {"timestamps": stamps, "period": HOUR, "channels": {}, "countries": {}}
        by: tuple[tuple[str, str], ...]
        for channel in CHANNELS:
            by = ((CHANNEL, channel),)
            answer["channels"][channel] = {
                "metrics": {
                    metric: series(Query(metric, by))
                    for metric in (*CHANNEL_METRICS, *SMS_METRICS)
                    if channel == SMS_CHANNEL or metric not in SMS_METRICS
                },
                "refused": {code: series(Query("Refused", ((CHANNEL, channel), (OUTCOME, code)))) for code in codes},
            }
        for country in self._countries:
            by = ((CHANNEL, SMS_CHANNEL), (COUNTRY, country))
            answer["countries"][country] = {metric: series(Query(metric, by)) for metric in SMS_METRICS}
        answer["accounts_locked"] = series(Query("AccountsLocked", ((ROUTE, LOCK_ROUTE),)))
        answer["refresh_reuse"] = series(Query("RefreshReuse", ((ROUTE, REFRESH_ROUTE),)))
        answer["second_factor"] = {
            name: series(Query(metric, ((ROUTE, MFA_VERIFY_ROUTE),))) for name, metric in SECOND_FACTOR.items()
        }
        return answer

    def _queries(self, codes: tuple[str, ...]) -> list[Query]:
        queries = []
        for channel in CHANNELS:
            by = ((CHANNEL, channel),)
            queries += [Query(metric, by) for metric in CHANNEL_METRICS]
            queries += [Query("Refused", (*by, (OUTCOME, code))) for code in codes]
        queries += [Query(metric, ((CHANNEL, SMS_CHANNEL),)) for metric in SMS_METRICS]
        queries += [
            Query(metric, ((CHANNEL, SMS_CHANNEL), (COUNTRY, country)))
            for country in self._countries
            for metric in SMS_METRICS
        ]
        queries += [Query("AccountsLocked", ((ROUTE, LOCK_ROUTE),)), Query("RefreshReuse", ((ROUTE, REFRESH_ROUTE),))]
        queries += [Query(metric, ((ROUTE, MFA_VERIFY_ROUTE),)) for metric in SECOND_FACTOR.values()]
        return queries

    def _read(self, queries: list[Query], start: int, end: int) -> dict[str, dict[int, float]]:
        """Each query's values by hour (epoch seconds)."""
        request: dict[str, Any] = {
            "MetricDataQueries": [
                {
                    "Id": query.id,
                    "MetricStat": {
                        "Metric": {
                            "Namespace": self._namespace,
                            "MetricName": query.metric,
                            "Dimensions": [{"Name": name, "Value": value} for name, value in query.dimensions],
                        },
                        "Period": HOUR,
                        "Stat": "Sum",
                    },
                    "ReturnData": True,
                }
                for query in queries
            ],
            "StartTime": datetime.fromtimestamp(start, UTC),
            "EndTime": datetime.fromtimestamp(end, UTC),
            "ScanBy": "TimestampAscending",
        }
        found: dict[str, dict[int, float]] = {}
        while True:
            with guarded("cloudwatch"):
                answer = self._client.get_metric_data(**request)
            for result in answer.get("MetricDataResults", []):
                into = found.setdefault(result["Id"], {})
                for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                    hour = int(stamp.timestamp()) // HOUR * HOUR
                    into[hour] = into.get(hour, 0.0) + float(value)
            token = answer.get("NextToken")
            if not token:
                return found
            request["NextToken"] = token
