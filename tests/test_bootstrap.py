"""tools.bootstrap against moto's in-process AWS: creates what is missing, changes nothing on a rerun."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from chalicelib import config
from tools import bootstrap
from tools.bootstrap import BootstrapError, Clients, Settings, Step

REGION = "us-east-1"
SETTINGS = Settings(
    table="otp_users",
    sender="no-reply@signin.localhost.dev",
    secret_id="otp/test/key",
    signing_key="alias/otp-test",
    rsa_signing_key="alias/otp-test-rsa",
)


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clients]:
    # A developer's AWS_ENDPOINT_URL would send the clients past moto's in-process mock.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield Clients.create(boto3.Session(region_name=REGION))


def actions(steps: list[Step]) -> dict[str, str]:
    return {step.resource: step.action for step in steps}


def secret_value(clients: Clients) -> str:
    return clients.secretsmanager.get_secret_value(SecretId=SETTINGS.secret_id)["SecretString"]


def test_first_run_creates_every_resource(clients: Clients) -> None:
    steps = bootstrap.bootstrap(clients, SETTINGS)

    assert actions(steps) == {
        "table": "created",
        "ttl": "enabled",
        "index": "created",
        "ses identity": "created",
        "secret": "created",
        "signing key": "created",
    }
    assert [step.name for step in steps if step.resource == "index"] == ["otp_users/account", "otp_users/audit"]
    table = clients.dynamodb.describe_table(TableName="otp_users")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert {(a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]} == {
        ("pk", "S"),
        ("account", "S"),
        ("audit_month", "S"),
        ("audit_at", "S"),
    }
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert indexes["account"]["KeySchema"] == [{"AttributeName": "account", "KeyType": "HASH"}]
    assert indexes["account"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}  # a lookup reads the home itself
    assert [key["AttributeName"] for key in indexes["audit"]["KeySchema"]] == ["audit_month", "audit_at"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TableStatus"] == "ACTIVE"
    ttl = clients.dynamodb.describe_time_to_live(TableName="otp_users")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    identity = clients.sesv2.get_email_identity(EmailIdentity=SETTINGS.sender)
    assert identity["VerificationStatus"] == "SUCCESS"
    assert len(bytes.fromhex(secret_value(clients))) == 32
    key = clients.kms.describe_key(KeyId=SETTINGS.signing_key)["KeyMetadata"]
    assert (key["KeyUsage"], key["KeyState"]) == ("SIGN_VERIFY", "Enabled")
    assert "ECC_NIST_P256" in (key.get("KeySpec"), key.get("CustomerMasterKeySpec"))


def test_second_run_changes_nothing(clients: Clients) -> None:
    bootstrap.bootstrap(clients, SETTINGS)
    key = secret_value(clients)

    steps = bootstrap.bootstrap(clients, SETTINGS)

    assert {step.action for step in steps} == {"unchanged"}
    assert secret_value(clients) == key
    versions = clients.secretsmanager.list_secret_version_ids(SecretId=SETTINGS.secret_id)["Versions"]
    assert len(versions) == 1


def test_created_sender_can_send_mail(clients: Clients) -> None:
    bootstrap.bootstrap(clients, SETTINGS)

    clients.sesv2.send_email(
        FromEmailAddress=SETTINGS.sender,
        Destination={"ToAddresses": ["newcomer@example.com"]},
        Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}},
    )


def test_dry_run_on_empty_account_changes_nothing(clients: Clients) -> None:
    steps = bootstrap.bootstrap(clients, SETTINGS, dry_run=True)

    assert {step.action for step in steps} == {"would be created", "would be enabled"}
    assert clients.dynamodb.list_tables()["TableNames"] == []
    assert clients.sesv2.list_email_identities()["EmailIdentities"] == []
    assert clients.secretsmanager.list_secrets()["SecretList"] == []
    assert clients.kms.list_keys()["Keys"] == []


def test_dry_run_reports_missing_ttl_without_enabling_it(clients: Clients) -> None:
    bootstrap.ensure_table(clients.dynamodb, SETTINGS.table)

    step = bootstrap.ensure_ttl(clients.dynamodb, SETTINGS.table, dry_run=True)

    assert step.action == "would be enabled"
    ttl = clients.dynamodb.describe_time_to_live(TableName="otp_users")["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "DISABLED"


def test_provisioned_table_is_switched_to_on_demand(clients: Clients) -> None:
    clients.dynamodb.create_table(
        TableName="otp_users",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
    )

    step = bootstrap.ensure_table(clients.dynamodb, "otp_users")

    assert step.action == "updated"
    table = clients.dynamodb.describe_table(TableName="otp_users")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_table_with_other_key_schema_is_an_error_not_a_repair(clients: Clients) -> None:
    clients.dynamodb.create_table(
        TableName="otp_users",
        KeySchema=[{"AttributeName": "email", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "email", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    with pytest.raises(BootstrapError, match="key schema"):
        bootstrap.ensure_table(clients.dynamodb, "otp_users")


def test_verified_domain_covers_the_sender(clients: Clients) -> None:
    clients.sesv2.create_email_identity(EmailIdentity="signin.localhost.dev")

    step = bootstrap.ensure_sender(clients.sesv2, SETTINGS.sender)

    assert (step.name, step.action) == ("signin.localhost.dev", "unchanged")
    identities = clients.sesv2.list_email_identities()["EmailIdentities"]
    assert [i["IdentityName"] for i in identities] == ["signin.localhost.dev"]


def test_stage_env_is_merged_over_top_level_like_chalice(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "environment_variables": {"OTP_TABLE": "top", "LOG_LEVEL": "INFO"},
                "stages": {"local": {"environment_variables": {"LOG_LEVEL": "DEBUG", "OTP_SENDER": "a@b.dev"}}},
            }
        )
    )

    env = bootstrap.load_stage_env("local", config)

    assert env == {"OTP_TABLE": "top", "LOG_LEVEL": "DEBUG", "OTP_SENDER": "a@b.dev"}
    with pytest.raises(BootstrapError, match="'prod'"):
        bootstrap.load_stage_env("prod", config)


def test_local_stage_of_the_repository_names_all_resources() -> None:
    settings = Settings.from_env(bootstrap.load_stage_env("local"))

    assert settings == Settings(
        table="otp_users",
        sender="no-reply@signin.localhost.dev",
        secret_id="otp-signin/local/code-hash-key",
        signing_key="alias/otp-signin-local",
        rsa_signing_key="alias/otp-signin-local-rsa",
    )


NAMED = {
    "OTP_TABLE": "otp_users",
    "OTP_SENDER": "no-reply@signin.localhost.dev",
    "OTP_HASH_SECRET_ID": "otp/test/key",
    "OTP_SIGNING_KEY_ID": "alias/otp-test",
    "OTP_RSA_SIGNING_KEY_ID": "alias/otp-test-rsa",
}
DECLARED = {declaration.name: declaration for declaration in config.SETTINGS}


@pytest.mark.parametrize("value", [None, "", "   ", " otp-padded "])
@pytest.mark.parametrize("field", bootstrap.RESOURCE_SETTINGS)
def test_each_resource_name_is_read_by_the_services_own_declaration(field: str, value: str | None) -> None:
    # Unset, blank, padded: bootstrap takes what the function would take, or refuses with the config's message.
    variable = bootstrap.RESOURCE_SETTINGS[field]
    env = {name: given for name, given in NAMED.items() if name != variable}
    if value is not None:
        env[variable] = value
    try:
        expected = DECLARED[variable].read(env)
    except config.ConfigError as error:
        with pytest.raises(BootstrapError, match=re.escape(str(error))):
            Settings.from_env(env)
        return
    if expected is None:  # the function may do without it, bootstrap cannot
        with pytest.raises(BootstrapError, match=f"{variable} is not set: bootstrap provisions what it names"):
            Settings.from_env(env)
    else:
        assert getattr(Settings.from_env(env), field) == expected


def test_an_unset_table_is_the_services_default_and_a_blank_sender_is_refused() -> None:
    # Bootstrap once refused the first and provisioned the second, a table named "   " or a sender of blanks.
    assert Settings.from_env({name: value for name, value in NAMED.items() if name != "OTP_TABLE"}).table == (
        DECLARED["OTP_TABLE"].default
    )
    with pytest.raises(BootstrapError, match=r"^OTP_SENDER is not set$"):
        Settings.from_env({**NAMED, "OTP_SENDER": "   "})


def test_every_missing_name_is_named_at_once() -> None:
    with pytest.raises(BootstrapError) as refused:
        Settings.from_env({"OTP_HASH_SECRET": "k" * 32})  # enough for the function in a test, not for bootstrap

    assert str(refused.value) == (
        "OTP_SENDER is not set; OTP_HASH_SECRET_ID is not set: bootstrap provisions what it names; "
        "OTP_SIGNING_KEY_ID is not set; OTP_RSA_SIGNING_KEY_ID is not set"
    )


def test_main_dry_run_prints_plan_and_changes_nothing(clients: Clients, capsys: pytest.CaptureFixture[str]) -> None:
    assert bootstrap.main(["--stage", "local", "--dry-run"]) == 0

    out = capsys.readouterr().out
    assert "table otp_users: would be created" in out
    assert "secret otp-signin/local/code-hash-key: would be created" in out
    assert clients.dynamodb.list_tables()["TableNames"] == []
    assert clients.secretsmanager.list_secrets()["SecretList"] == []
    assert clients.kms.list_keys()["Keys"] == []


def test_an_index_of_another_shape_stops_bootstrap(clients: Clients) -> None:
    clients.dynamodb.create_table(
        TableName="otp_users",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "x", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "account",
                "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    with pytest.raises(bootstrap.BootstrapError, match="index 'account'"):
        bootstrap.bootstrap(clients, SETTINGS)


def test_main_twice_reports_unchanged(clients: Clients, capsys: pytest.CaptureFixture[str]) -> None:
    assert bootstrap.main(["--stage", "local"]) == 0
    first = capsys.readouterr().out
    assert bootstrap.main(["--stage", "local"]) == 0
    second = capsys.readouterr().out

    assert "table otp_users: created" in first
    assert second.count(": unchanged") == 8, second


def test_main_reports_errors_on_one_line(clients: Clients, capsys: pytest.CaptureFixture[str]) -> None:
    assert bootstrap.main(["--stage", "nope"]) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: stage 'nope' is not in")
    assert captured.err.count("\n") == 1


def test_signing_key_of_the_wrong_kind_is_an_error(clients: Clients) -> None:
    key_id = clients.kms.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    clients.kms.create_alias(AliasName=SETTINGS.signing_key, TargetKeyId=key_id)

    with pytest.raises(BootstrapError, match="ECC_NIST_P256"):
        bootstrap.ensure_signing_key(clients.kms, SETTINGS.signing_key)


def test_second_run_keeps_the_signing_key(clients: Clients) -> None:
    bootstrap.bootstrap(clients, SETTINGS)
    first = clients.kms.describe_key(KeyId=SETTINGS.signing_key)["KeyMetadata"]["KeyId"]

    bootstrap.bootstrap(clients, SETTINGS)

    assert clients.kms.describe_key(KeyId=SETTINGS.signing_key)["KeyMetadata"]["KeyId"] == first
    assert len(clients.kms.list_keys()["Keys"]) == 2  # the P-256 key and the RSA key
