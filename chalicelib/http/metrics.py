"""Metrics in the access log line: CloudWatch embedded metric format (EMF), read from the line itself.

A request's metrics follow from what its access line already says (route, action, answer code, channel, the
SMS country, a rejected session's reason), so they cost the sign-in path no AWS call: CloudWatch Logs turns the
line's one ``_aws`` block into metrics. Dimensions are bounded: ``route`` (the route template), ``outcome`` (an
answer code of the catalogue), ``channel`` (``email`` or ``sms``) and ``country`` (an ISO code of the stage's
SMS countries); never an address, a number or an id.

The metric names, their units and their dimension sets are declared once (:mod:`chalicelib.core.metric_names`);
the admin's statistics read them back by the same names (:mod:`chalicelib.admin.stats`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from chalicelib.core.metric_names import (
    CHANNEL,
    COUNTRY,
    EMAIL_CHANNEL,
    LOCK_ROUTE,
    METRICS,
    MFA_VERIFY_ROUTE,
    OUTCOME,
    REFRESH_ROUTE,
    ROUTE,
    SMS_CHANNEL,
)
from chalicelib.core.refusals import REPLAYED
from chalicelib.http import errors

# Every route that sends a code: each text costs the same, whatever the code is for.
SENT = frozenset(
    {("/otp", errors.CODE_SENT.code), ("/me/phone", errors.CODE_SENT.code), ("/reauthenticate", errors.CODE_SENT.code)}
)
# A code typed back: a sign-in, a sign-in that goes on to the second factor, a phone linked, a re-authentication.
PROVEN = frozenset(
    {
        ("/otp", errors.VERIFIED.code),
        ("/otp", errors.MFA_REQUIRED.code),
        ("/me/phone/verify", errors.PHONE_LINKED.code),
        ("/reauthenticate", errors.REAUTHENTICATED.code),
    }
)
SECOND_FACTOR_FAILED = frozenset(
    {errors.INVALID_CODE.code, errors.INVALID_MFA_TOKEN.code, errors.TOO_MANY_SECOND_FACTOR_FAILURES.code}
)


def observed(log: Mapping[str, Any], refusals: frozenset[str], price: Callable[[str], Decimal]) -> dict[str, float]:
    """The metrics an access line records: name -> value (empty for most requests).

    ``refusals`` are the answer codes of the rate limits (counted as ``Refused`` by their code), ``price`` the
    stage's price of a text to a country.
    """
    route, code, channel = log.get(ROUTE), log.get("code"), log.get(CHANNEL)
    found: dict[str, float] = {}
    if channel in (EMAIL_CHANNEL, SMS_CHANNEL):
        sms = channel == SMS_CHANNEL
        if (route, code) in SENT:
            found["CodesSent"] = 1
            if sms:
                found["SmsSent"] = 1
                found["SmsCost"] = float(price(str(log.get(COUNTRY))))
        if (route, code) in PROVEN:
            if code == errors.VERIFIED.code:
                found["SignIns"] = 1
            if code == errors.MFA_REQUIRED.code:
                found["SecondFactorChallenges"] = 1
            if sms:
                found["SmsVerified"] = 1
        if code == errors.INVALID_CODE.code and log.get("reason") != REPLAYED:
            found["WrongCodes"] = 1  # not the used code presented again (a double submit): no wrong guess
        if code in refusals:
            found["Refused"] = 1
    if route == MFA_VERIFY_ROUTE and code == errors.VERIFIED.code:
        found["SecondFactorSignIns"] = 1
    if route == MFA_VERIFY_ROUTE and code in SECOND_FACTOR_FAILED:
        found["SecondFactorFailures"] = 1
    if route == LOCK_ROUTE and code == errors.USER_LOCKED.code:
        found["AccountsLocked"] = 1
    if route == REFRESH_ROUTE and log.get("reason") == "reused":
        found["RefreshReuse"] = 1
    return found


def embedded(log: Mapping[str, Any], values: Mapping[str, float], namespace: str, now_ms: int) -> dict[str, Any]:
    """The fields that make the access line ``log`` carry ``values`` in EMF: the values and one ``_aws`` block
    with a directive per dimension-set group; the dimension keys are the line's own fields."""
    groups: dict[tuple[tuple[str, ...], ...], list[dict[str, str]]] = {}
    for name in values:
        unit, dimension_sets = METRICS[name]
        if log.get(CHANNEL) != SMS_CHANNEL:
            dimension_sets = tuple(dims for dims in dimension_sets if COUNTRY not in dims)
        groups.setdefault(dimension_sets, []).append({"Name": name, "Unit": unit})
    fields: dict[str, Any] = dict(values)
    if "Refused" in values:
        fields[OUTCOME] = log.get("code")
    fields["_aws"] = {
        "Timestamp": now_ms,
        "CloudWatchMetrics": [
            {"Namespace": namespace, "Dimensions": [list(dims) for dims in sets], "Metrics": metrics}
            for sets, metrics in groups.items()
        ],
    }
    return fields
