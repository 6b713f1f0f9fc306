"""The trimmed botocore data (chalicelib/aws/models.py) is current, and its clients make the requests botocore's do.

Each declared operation is called, with the same parameters, on the client ``chalicelib.wiring`` builds and on
one from a stock botocore session; the request each would send is caught before it leaves, and the two must be
the same request: URL, method, headers, body, and the region and service it is signed for. That proves the
trimmed model serialises as the full one does, and that endpoint resolution is unchanged: in several partitions,
with FIPS endpoints, with ``AWS_ENDPOINT_URL``, and for credentials that name their account, whose DynamoDB
endpoint a loader that did not count the shipped endpoints.json as botocore's own would lose (see
``TrimmedDataLoader.is_builtin_path``). That every call the runtime makes
is declared, and every declaration is called, is checked against the whole suite's record in
tests/test_zz_iam_policy.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import Loader

from chalicelib import wiring
from chalicelib.aws.models import DATA_DIR, OPERATIONS
from tools.slim_models import generate

TABLE, KEY = "otp", {"pk": {"S": "k"}}
# One valid set of parameters for each declared operation: a new declaration needs its own here.
PARAMETERS: dict[tuple[str, str], dict[str, Any]] = {
    ("cloudwatch", "GetMetricData"): {
        "MetricDataQueries": [{"Id": "q", "Expression": "SUM(METRICS())"}],
        "StartTime": datetime(2026, 1, 1, tzinfo=UTC),
        "EndTime": datetime(2026, 1, 2, tzinfo=UTC),
    },
    ("dynamodb", "BatchGetItem"): {"RequestItems": {TABLE: {"Keys": [KEY]}}},
    ("dynamodb", "GetItem"): {"TableName": TABLE, "Key": KEY, "ConsistentRead": True},
    ("dynamodb", "Query"): {
        "TableName": TABLE,
        "IndexName": "by-user",
        "KeyConditionExpression": "#n = :v",
        "ExpressionAttributeNames": {"#n": "pk"},
        "ExpressionAttributeValues": {":v": {"S": "k"}},
    },
    ("dynamodb", "TransactWriteItems"): {
        # The token is generated when absent, and would differ between the two requests.
        "TransactItems": [
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": KEY,
                    "UpdateExpression": "SET #n = :v",
                    "ExpressionAttributeNames": {"#n": "a"},
                    "ExpressionAttributeValues": {":v": {"N": "1"}},
                }
            }
        ],
        "ClientRequestToken": "token",
    },
    ("dynamodb", "UpdateItem"): {
        "TableName": TABLE,
        "Key": KEY,
        "UpdateExpression": "SET #n = :v",
        "ExpressionAttributeNames": {"#n": "a"},
        "ExpressionAttributeValues": {":v": {"N": "1"}},
        "ReturnValues": "ALL_OLD",
    },
    ("kms", "GetPublicKey"): {"KeyId": "alias/k"},
    ("kms", "Sign"): {"KeyId": "alias/k", "Message": b"m", "MessageType": "RAW", "SigningAlgorithm": "ECDSA_SHA_256"},
    ("secretsmanager", "GetSecretValue"): {"SecretId": "s"},
    ("sesv2", "SendEmail"): {
        "FromEmailAddress": "a@example.com",
        "Destination": {"ToAddresses": ["b@example.com"]},
        "Content": {"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}},
    },
    ("sns", "Publish"): {
        "PhoneNumber": "+14155550123",
        "Message": "m",
        "MessageAttributes": {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}},
    },
    ("ssm", "GetParameter"): {"Name": "/n", "WithDecryption": True},
}
# Where the clients are built: one region in each of three of the commercial partition's geographies, the China
# and GovCloud partitions, FIPS endpoints, credentials that name their account (DynamoDB's rule set then routes to
# an endpoint of the account's), and a local AWS.
PLACES = {
    "us-east-1": {"AWS_DEFAULT_REGION": "us-east-1"},
    "eu-west-2": {"AWS_DEFAULT_REGION": "eu-west-2"},
    "ap-southeast-2": {"AWS_DEFAULT_REGION": "ap-southeast-2"},
    "cn-north-1": {"AWS_DEFAULT_REGION": "cn-north-1"},
    "us-gov-west-1": {"AWS_DEFAULT_REGION": "us-gov-west-1"},
    "us-east-1 FIPS": {"AWS_DEFAULT_REGION": "us-east-1", "AWS_USE_FIPS_ENDPOINT": "true"},
    "us-east-1 account": {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCOUNT_ID": "123456789012"},
    "local AWS": {"AWS_DEFAULT_REGION": "eu-west-2", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"},
}
# Headers that differ between any two requests: the time, the signature over it, per-call ids.
VOLATILE_HEADERS = frozenset({"x-amz-date", "authorization", "amz-sdk-invocation-id", "amz-sdk-request"})
# The user agent's feature metrics ("m/g,E,b"): they include how the session found its credentials, which a
# session reports on its first request only.
FEATURES = re.compile(rb" m/\S+")


class Caught(Exception):
    """Raised by a ``before-send`` handler to stop a request before it is sent, carrying it."""

    def __init__(self, request: AWSPreparedRequest) -> None:
        super().__init__(request.url)
        self.request = request


def _catch(request: AWSPreparedRequest, **_: Any) -> None:
    raise Caught(request)


def sent(client: Any, operation: str) -> dict[str, Any]:
    """What ``client`` would send for ``operation``: the request's parts and the credential scope it is signed in."""
    model = client.meta.service_model
    client.meta.events.register(f"before-send.{model.service_id.hyphenize()}.{operation}", _catch)
    with pytest.raises(Caught) as caught:
        getattr(client, _python_name(client, operation))(**PARAMETERS[model.service_name, operation])
    request = caught.value.request
    credential = request.headers["Authorization"].decode().split("Credential=")[1].split(",")[0]
    headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in VOLATILE_HEADERS}
    headers["user-agent"] = FEATURES.sub(b"", headers["user-agent"])
    return {
        "method": request.method,
        "url": request.url,
        "headers": headers,
        "body": request.body,
        "signed for": credential.split("/")[2:4],
    }  # access key / date / region / service / aws4_request


def _python_name(client: Any, operation: str) -> str:
    (name,) = [name for name, api in client.meta.method_to_api_mapping.items() if api == operation]
    return name


@cache
def stock_loader() -> Loader:
    """botocore's own loader, shared by the stock sessions so that each full model is parsed once."""
    return Loader()


def stock_session() -> botocore.session.Session:
    """A session with botocore's full data, new for each case: a session keeps the credentials it first found."""
    session = botocore.session.get_session()
    session.register_component("data_loader", stock_loader())
    return session


@pytest.fixture
def place(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An environment with fake credentials and no configuration files, then the place's variables."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    for name, value in PLACES[request.param].items():
        monkeypatch.setenv(name, value)
    wiring.reset()
    yield request.param
    wiring.reset()


def test_the_shipped_data_is_what_tools_slim_models_writes() -> None:
    expected = generate()
    shipped = {
        path.relative_to(DATA_DIR).as_posix(): path.read_bytes() for path in DATA_DIR.rglob("*") if path.is_file()
    }
    stale = sorted(name for name in expected.keys() | shipped.keys() if expected.get(name) != shipped.get(name))
    assert not stale, f"chalicelib/aws/botocore_data/ is not this botocore's: run python -m tools.slim_models ({stale})"


def test_every_declared_operation_has_parameters_here() -> None:
    assert set(PARAMETERS) == {(service, op) for service, ops in OPERATIONS.items() for op in ops}


@pytest.mark.parametrize("place", ["us-east-1"], indirect=True)
@pytest.mark.parametrize("service", sorted(OPERATIONS))
def test_a_client_has_the_declared_operations_only(place: str, service: str) -> None:
    client = wiring.get_client(service)
    assert client.meta.service_model.operation_names == sorted(OPERATIONS[service])
    assert sorted(client.meta.method_to_api_mapping.values()) == sorted(OPERATIONS[service])
    for operation in OPERATIONS[service]:
        assert callable(getattr(client, _python_name(client, operation)))
    stock = stock_session().create_client(service)
    assert set(stock.meta.method_to_api_mapping) > set(client.meta.method_to_api_mapping)  # it did trim


@pytest.mark.parametrize("place", sorted(PLACES), indirect=True)
@pytest.mark.parametrize("service", sorted(OPERATIONS))
def test_a_client_sends_what_botocore_s_own_sends(place: str, service: str) -> None:
    ours = wiring.get_client(service)
    stock = stock_session().create_client(service, config=wiring.CLIENT_CONFIG)
    for operation in OPERATIONS[service]:
        expected = sent(stock, operation)
        assert sent(ours, operation) == expected, f"{service}.{operation} in {place}"
    # The cases test what they mean to.
    if place == "us-east-1 FIPS":
        assert "fips" in expected["url"], expected["url"]
    if place == "us-east-1 account" and service == "dynamodb":
        assert expected["url"].startswith("https://123456789012.ddb."), expected["url"]


def test_a_service_not_declared_is_unknown() -> None:
    with pytest.raises(UnknownServiceError):
        wiring.get_aws_session().create_client("s3", region_name="us-east-1")
