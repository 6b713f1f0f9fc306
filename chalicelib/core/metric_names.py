"""The metrics the access log records (:mod:`chalicelib.http.metrics`) and the admin's statistics read back
(:mod:`chalicelib.admin.stats`): names, units and dimension sets, declared once for both.

Dimensions are bounded: ``route`` (a route template), ``outcome`` (an answer code of the catalogue), ``channel``
(``email`` or ``sms``) and ``country`` (an ISO code of the stage's SMS countries); never an address, a number or
an id.
"""

from __future__ import annotations

EMAIL_CHANNEL, SMS_CHANNEL = "email", "sms"
CHANNEL, COUNTRY, OUTCOME, ROUTE = "channel", "country", "outcome", "route"
BY_CHANNEL: tuple[tuple[str, ...], ...] = ((CHANNEL,),)
BY_COUNTRY: tuple[tuple[str, ...], ...] = ((CHANNEL,), (CHANNEL, COUNTRY))
BY_ROUTE: tuple[tuple[str, ...], ...] = ((ROUTE,),)
# name -> (unit, dimension sets)
METRICS: dict[str, tuple[str, tuple[tuple[str, ...], ...]]] = {
    "CodesSent": ("Count", BY_CHANNEL),
    "SignIns": ("Count", BY_CHANNEL),
    "WrongCodes": ("Count", BY_CHANNEL),
    "Refused": ("Count", ((CHANNEL, OUTCOME),)),
    "SmsSent": ("Count", BY_COUNTRY),
    "SmsCost": ("None", BY_COUNTRY),  # US dollars: CloudWatch has no currency unit
    "SmsVerified": ("Count", BY_COUNTRY),
    "SecondFactorChallenges": ("Count", BY_CHANNEL),  # a right first code whose account owes its second factor
    "SecondFactorSignIns": ("Count", BY_ROUTE),
    "SecondFactorFailures": ("Count", BY_ROUTE),  # wrong, replayed or out-of-budget codes; spent mfa_tokens
    "AccountsLocked": ("Count", BY_ROUTE),
    "RefreshReuse": ("Count", BY_ROUTE),
}
CHANNEL_METRICS = ("CodesSent", "SignIns", "WrongCodes", "SecondFactorChallenges")
SMS_METRICS = ("SmsSent", "SmsCost", "SmsVerified")
MFA_VERIFY_ROUTE = "/mfa/verify"
LOCK_ROUTE = "/admin/users/{id}/lock"
REFRESH_ROUTE = "/token/refresh"
