"""The code-hashing key read from the Parameters and Secrets Lambda Extension (``OTP_SECRETS_EXTENSION_PORT``), and
an SSM parameter read through the service's own client when there is no extension.

The extension is played by the benchmark's stand-in (bench/inbox_aws.py) over real HTTP on loopback, in front of
the in-process moto account the ``aws`` fixture provisions; failures by a server that answers what it is told.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from werkzeug.serving import make_server

from bench.inbox_aws import with_secrets_extension
from chalicelib.aws.dependencies import DependencyError
from chalicelib.aws.keys import load_hash_key
from chalicelib.config import Settings
from tests.conftest import REGION

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@contextmanager
def serving(app: WsgiApp) -> Iterator[int]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join()


def answering(status: str, body: bytes) -> WsgiApp:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response(status, [("Content-Type", "application/json")])
        return [body]

    return app


def no_client(service: str) -> Any:
    raise AssertionError(f"a {service} client was built although the extension serves the key")


def with_port(stage_env: dict[str, str], port: int, **overrides: str) -> Settings:
    return Settings.from_environ({**stage_env, "OTP_SECRETS_EXTENSION_PORT": str(port), **overrides})


def test_the_key_comes_from_the_extension_and_no_sdk_client_is_built(
    aws: None, stage_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "the-function's-session-token")
    stored = boto3.client("secretsmanager", region_name=REGION).get_secret_value(
        SecretId=stage_env["OTP_HASH_SECRET_ID"]
    )["SecretString"]
    with serving(with_secrets_extension(answering("404 Not Found", b"{}"), REGION)) as port:
        assert load_hash_key(with_port(stage_env, port), no_client) == stored.encode()
        # Without the session token the extension refuses to answer: a refusal a retry would not change.
        monkeypatch.delenv("AWS_SESSION_TOKEN")
        with pytest.raises(DependencyError) as refused:
            load_hash_key(with_port(stage_env, port), no_client)
    assert (refused.value.service, refused.value.transient) == ("secretsmanager", False)


@pytest.mark.parametrize(
    ("status", "body", "transient"),
    [
        ("503 Service Unavailable", b"{}", True),  # the extension's own call to AWS failed: worth a retry
        ("400 Bad Request", b"ResourceNotFoundException", False),
        ("200 OK", b"not json", False),
        ("200 OK", b"[]", False),
    ],
)
def test_a_failing_extension_is_a_key_service_failure(
    stage_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, status: str, body: bytes, transient: bool
) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    with serving(answering(status, body)) as port, pytest.raises(DependencyError) as failed:
        load_hash_key(with_port(stage_env, port), no_client)
    assert (failed.value.service, failed.value.transient) == ("secretsmanager", transient)


def test_an_extension_that_does_not_listen_is_worth_a_retry(stage_env: dict[str, str]) -> None:
    with serving(answering("200 OK", b"{}")) as port:
        pass  # the port is free again: nothing listens on it
    with pytest.raises(DependencyError) as failed:
        load_hash_key(with_port(stage_env, port), no_client)
    assert (failed.value.service, failed.value.transient) == ("secretsmanager", True)


def test_an_ssm_parameter_is_asked_of_the_extension_by_name_and_decrypted(
    stage_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def extension(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        asked.append(f"{environ['PATH_INFO']}?{environ['QUERY_STRING']}")
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"Parameter": {"Value": "' + b"p" * 64 + b'"}}']

    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    with serving(extension) as port:
        key = load_hash_key(with_port(stage_env, port, OTP_HASH_SECRET_ID="ssm:/otp/hash-key"), no_client)
    assert key == b"p" * 64
    assert asked == ["/systemsmanager/parameters/get?name=%2Fotp%2Fhash-key&withDecryption=true"]


def test_an_ssm_parameter_is_read_through_the_service_client_when_there_is_no_extension(
    aws: None, stage_env: dict[str, str]
) -> None:
    from chalicelib import wiring

    boto3.client("ssm", region_name=REGION).put_parameter(Name="/otp/hash-key", Value="s" * 64, Type="SecureString")
    settings = Settings.from_environ({**stage_env, "OTP_HASH_SECRET_ID": "ssm:/otp/hash-key"})
    assert load_hash_key(settings, wiring.get_client) == b"s" * 64
    missing = Settings.from_environ({**stage_env, "OTP_HASH_SECRET_ID": "ssm:/otp/no-such-key"})
    with pytest.raises(DependencyError) as failed:
        load_hash_key(missing, wiring.get_client)
    assert (failed.value.service, failed.value.transient) == ("ssm", False)
