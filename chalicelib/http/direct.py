"""Events invoked on the function itself, with no API Gateway in front: the earlier prototype's test events.

The prototype was tried with Lambda console test events sent straight to the function: the request object itself,
``{"action": "send_otp", "email": "..."}``, or an object whose ``body`` holds it as a JSON string (base64 if
``isBase64Encoded``). Chalice routes only API Gateway's proxy events and answers any other event with a 500
``{"Code": "InternalServerError", "Message": "Unknown request."}``.

Contract of :class:`App`, the Chalice application that is the Lambda handler (``app.app``):

- an event a gateway made (an object with ``requestContext``, ``httpMethod`` or ``routeKey``: API Gateway's REST
  and HTTP APIs, a load balancer) is Chalice's, unchanged;
- any other event (an object, a list, a string, a number, null) is answered as ``POST /otp`` answers the request
  whose body is the event's ``body`` if the event is an object with one, else the event itself: a string as it is
  (as API Gateway passes a body; base64-decoded if the event has ``"isBase64Encoded": true``), any other value as
  its JSON text. It runs through the route, so its access log, metrics, limits and answers (``invalid_json``,
  ``missing_action``, ...) are the route's;
- the answer is the prototype's shape, ``{"statusCode", "headers", "body"}``, ``body`` the answer's JSON text;
- such a caller has no source address: all of them are one source network, :data:`NETWORK`, whose send quota
  and failure budgets they share (:meth:`chalicelib.http.exchange.Exchange.source_network`). That budget is no
  defence: whoever may invoke the function may as well send it a gateway's event with any ``sourceIp``, so the
  right to invoke it (IAM) is the boundary.
"""

from __future__ import annotations

import json
from typing import Any

from chalice import Chalice

ROUTE = "/otp"
NETWORK = "direct-invoke"  # not an address: no caller through a gateway can be counted as this network
# Set in the request context of the event made for a direct invocation. A gateway writes requestContext itself, so
# no caller through one can set this.
INVOKED_DIRECTLY = "otpInvokedDirectly"
GATEWAY_KEYS = ("requestContext", "httpMethod", "routeKey")  # one of them is in every proxy event of a gateway


class App(Chalice):
    """Chalice, which also answers events invoked directly on the function (see the module's contract)."""

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        if isinstance(event, dict) and any(key in event for key in GATEWAY_KEYS):
            return super().__call__(event, context)
        answer = super().__call__(proxy_event(event), context)
        return {"statusCode": answer["statusCode"], "headers": answer["headers"], "body": answer["body"]}


def proxy_event(event: Any) -> dict[str, Any]:
    """The API Gateway proxy event of the ``POST /otp`` that a directly invoked ``event`` stands for: only what
    Chalice reads, with no headers (so no CORS) and no source address."""
    body = event.get("body", event) if isinstance(event, dict) else event
    encoded = isinstance(body, str) and isinstance(event, dict) and event.get("isBase64Encoded") is True
    return {
        "headers": {},
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": ROUTE, "httpMethod": "POST", INVOKED_DIRECTLY: True},
        "body": body if isinstance(body, str) else json.dumps(body),
        "isBase64Encoded": encoded,
    }
