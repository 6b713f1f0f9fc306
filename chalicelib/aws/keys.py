"""The code-hashing key: fetched once per container from Secrets Manager or SSM, never from the repository.

Either with the SDK, or from the AWS Parameters and Secrets Lambda Extension (``OTP_SECRETS_EXTENSION_PORT``):
a process of the Lambda environment that makes the same call with the function's role and keeps the answer in
its cache, so that the function itself builds no Secrets Manager client and makes no call to AWS for the key.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.parse
from collections.abc import Callable
from typing import Any

from chalicelib.aws.dependencies import DependencyError, guarded
from chalicelib.config import Settings

SSM_PREFIX = "ssm:"
EXTENSION_HOST = "localhost"
EXTENSION_TIMEOUT_SECONDS = 3.0  # the extension's own call to AWS, plus its start when the container is new


def load_hash_key(settings: Settings, client_for: Callable[[str], Any]) -> bytes:
    """The key bytes: ``OTP_HASH_SECRET`` as given (local runs and tests), else the secret it names.

    ``OTP_HASH_SECRET_ID`` is a Secrets Manager name or ARN, or ``ssm:/parameter/name`` for an SSM
    SecureString parameter.
    """
    if settings.hash_secret:
        return settings.hash_secret.encode()
    secret_id = settings.hash_secret_id or ""
    if secret_id.startswith(SSM_PREFIX):
        name = secret_id[len(SSM_PREFIX) :]
        if settings.secrets_extension_port:
            query = urllib.parse.urlencode({"name": name, "withDecryption": "true"})
            answer = from_extension(settings.secrets_extension_port, "ssm", f"/systemsmanager/parameters/get?{query}")
        else:
            with guarded("ssm"):
                answer = client_for("ssm").get_parameter(Name=name, WithDecryption=True)
        return str(answer["Parameter"]["Value"]).encode()
    if settings.secrets_extension_port:
        query = urllib.parse.urlencode({"secretId": secret_id})
        answer = from_extension(settings.secrets_extension_port, "secretsmanager", f"/secretsmanager/get?{query}")
    else:
        with guarded("secretsmanager"):
            answer = client_for("secretsmanager").get_secret_value(SecretId=secret_id)
    return str(answer["SecretString"]).encode()


def from_extension(port: int, service: str, path: str) -> dict[str, Any]:
    """The extension's answer to ``GET path`` (the AWS call's own answer, as JSON); :class:`DependencyError`
    naming ``service`` when it does not answer, or answers with a failure (5xx: worth a retry)."""
    connection = http.client.HTTPConnection(EXTENSION_HOST, port, timeout=EXTENSION_TIMEOUT_SECONDS)
    try:
        # The extension answers only callers that show the function's session token.
        connection.request(
            "GET", path, headers={"X-Aws-Parameters-Secrets-Token": os.environ.get("AWS_SESSION_TOKEN", "")}
        )
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as error:
        raise DependencyError(service, True, f"the secrets extension: {type(error).__name__}") from None
    finally:
        connection.close()
    if response.status != 200:
        raise DependencyError(service, response.status >= 500, f"the secrets extension answered {response.status}")
    try:
        answer = json.loads(body)
    except ValueError:
        raise DependencyError(service, False, "the secrets extension answered no JSON") from None
    if not isinstance(answer, dict):
        raise DependencyError(service, False, "the secrets extension answered no JSON object")
    return answer
