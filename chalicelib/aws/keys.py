"""The code-hashing key: fetched once per container from Secrets Manager or SSM, never from the repository."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.aws.dependencies import guarded
from chalicelib.config import Settings

SSM_PREFIX = "ssm:"


def load_hash_key(settings: Settings, client_for: Callable[[str], Any]) -> bytes:
    """The key bytes: ``OTP_HASH_SECRET`` as given (local runs and tests), else the secret it names.

    ``OTP_HASH_SECRET_ID`` is a Secrets Manager name or ARN, or ``ssm:/parameter/name`` for an SSM
    SecureString parameter.
    """
    if settings.hash_secret:
        return settings.hash_secret.encode()
    secret_id = settings.hash_secret_id or ""
    if secret_id.startswith(SSM_PREFIX):
        with guarded("ssm"):
            answer = client_for("ssm").get_parameter(Name=secret_id[len(SSM_PREFIX) :], WithDecryption=True)
        return answer["Parameter"]["Value"].encode()
    with guarded("secretsmanager"):
        answer = client_for("secretsmanager").get_secret_value(SecretId=secret_id)
    return answer["SecretString"].encode()
