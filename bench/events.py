"""API Gateway REST proxy events and a Lambda context, to call a Chalice app's handler the way Lambda does."""

from __future__ import annotations

import json
import uuid
from typing import Any

SOURCE_IP = "198.51.100.7"
FORM = "application/x-www-form-urlencoded"


def proxy_event(
    method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, source_ip: str = SOURCE_IP
) -> dict[str, Any]:
    """The event API Gateway's Lambda proxy integration sends for one request (the fields Chalice reads)."""
    all_headers = {"content-type": "application/json", **(headers or {})}
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/api{path}",
            "stage": "api",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": source_ip},
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def form_event(path: str, form: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A POST of an ``application/x-www-form-urlencoded`` body (RFC 6749's token endpoint), ``form`` as sent."""
    lowered = {name.lower(): value for name, value in (headers or {}).items()}
    event = proxy_event("POST", path, headers={**lowered, "content-type": FORM})
    event["body"] = form
    return event


class LambdaContext:
    """What Chalice keeps of Lambda's context object (it only stores it for the app's own use)."""

    function_name = "otp-signin-bench"
    memory_limit_in_mb = 512
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def answer(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of a Chalice proxy response."""
    return response["statusCode"], json.loads(response["body"] or "{}")
