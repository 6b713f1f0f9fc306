"""Idempotent provisioning of the AWS resources the sign-in backend needs.

The same code provisions the embedded local AWS (moto) and a real account: it only talks to the
boto3 clients it is given, creates what is missing, and never overwrites what exists. Each run
returns a plan (one `Step` per resource) so a second run shows that nothing changed.

    python -m tools.bootstrap --stage local --endpoint-url http://127.0.0.1:4566
    python -m tools.bootstrap --stage dev --dry-run
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.config import SETTINGS, ConfigError, Text

REPO_ROOT = Path(__file__).resolve().parents[1]
CHALICE_CONFIG = REPO_ROOT / ".chalice" / "config.json"

PARTITION_KEY = "pk"
TTL_ATTRIBUTE = "expires_at"
ON_DEMAND = "PAY_PER_REQUEST"

# Sparse global secondary indexes (only the items that carry their keys are in them): accounts by id, on the home
# item's `account`; the admin audit trail by month, newest first (chalicelib/admin/store.py).
INDEXES: tuple[dict[str, Any], ...] = (
    {
        "IndexName": "account",
        "KeySchema": [{"AttributeName": "account", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    },
    {
        "IndexName": "audit",
        "KeySchema": [
            {"AttributeName": "audit_month", "KeyType": "HASH"},
            {"AttributeName": "audit_at", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    },
)

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"


class BootstrapError(Exception):
    """A resource exists in a state bootstrap must not repair on its own (e.g. a wrong key schema)."""


# The settings that name what bootstrap provisions, by its field: read by the service's own declarations
# (chalicelib/config.py), so that bootstrap creates what the function will use, under the same defaults and checks.
RESOURCE_SETTINGS = {
    "table": "OTP_TABLE",
    "sender": "OTP_SENDER",
    "secret_id": "OTP_HASH_SECRET_ID",
    "signing_key": "OTP_SIGNING_KEY_ID",
    "rsa_signing_key": "OTP_RSA_SIGNING_KEY_ID",
}
_DECLARED = {declaration.name: declaration for declaration in SETTINGS if isinstance(declaration, Text)}


@dataclass(frozen=True)
class Settings:
    """Names of the resources, as the backend reads them from its environment."""

    table: str
    sender: str
    secret_id: str
    signing_key: str
    rsa_signing_key: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Pick the resource names out of a stage's environment as the service reads them; raise BootstrapError
        with the service's own message for each one it would refuse, or that bootstrap cannot do without."""
        values: dict[str, str] = {}
        problems: list[str] = []
        for field, variable in RESOURCE_SETTINGS.items():
            try:
                value = _DECLARED[variable].read(env)
            except ConfigError as error:
                problems.append(str(error))
                continue
            if value is None:
                # The service may do without it (OTP_HASH_SECRET_ID: tests give the key itself, OTP_HASH_SECRET);
                # bootstrap cannot: it creates the resource this names.
                problems.append(f"{variable} is not set: bootstrap provisions what it names")
            else:
                values[field] = value
        if problems:
            raise BootstrapError("; ".join(problems))
        return cls(**values)


@dataclass(frozen=True)
class Clients:
    """The boto3 clients bootstrap uses; all must point at the same account and region."""

    dynamodb: Any
    sesv2: Any
    secretsmanager: Any
    kms: Any

    @classmethod
    def create(cls, session: boto3.Session, endpoint_url: str | None = None) -> Clients:
        """Build the clients from a session; endpoint_url=None keeps boto3's own (AWS_ENDPOINT_URL or AWS)."""
        return cls(
            dynamodb=session.client("dynamodb", endpoint_url=endpoint_url),
            sesv2=session.client("sesv2", endpoint_url=endpoint_url),
            secretsmanager=session.client("secretsmanager", endpoint_url=endpoint_url),
            kms=session.client("kms", endpoint_url=endpoint_url),
        )


@dataclass(frozen=True)
class Step:
    """What bootstrap did (or, in a dry run, would do) to one resource."""

    resource: str
    name: str
    action: str
    note: str = ""

    def __str__(self) -> str:
        note = f" ({self.note})" if self.note else ""
        return f"{self.resource} {self.name}: {self.action}{note}"


def load_stage_env(stage: str, config_path: Path = CHALICE_CONFIG) -> dict[str, str]:
    """Return a stage's environment variables merged over the top-level ones, as Chalice merges them.

    Raises BootstrapError if the stage is not defined in the config file.
    """
    config = json.loads(config_path.read_text())
    stages = config.get("stages", {})
    if stage not in stages:
        raise BootstrapError(f"stage {stage!r} is not in {config_path} (known: {', '.join(stages)})")
    return {**config.get("environment_variables", {}), **stages[stage].get("environment_variables", {})}


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _planned(action: str, dry_run: bool) -> str:
    """Word an action for the plan: a dry run only announces it."""
    return f"would be {action}" if dry_run else action


def _describe_table(dynamodb: Any, name: str) -> dict[str, Any] | None:
    """Return the table description, or None if there is no such table."""
    try:
        return dynamodb.describe_table(TableName=name)["Table"]
    except ClientError as error:
        if _error_code(error) == "ResourceNotFoundException":
            return None
        raise


def _check_key_schema(table: Mapping[str, Any]) -> None:
    """Raise BootstrapError unless the table's only key is the string partition key `pk`."""
    keys = [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]]
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    if keys != [(PARTITION_KEY, "HASH")] or types.get(PARTITION_KEY) != "S":
        # A key schema cannot be altered in place; replacing the table would lose its data.
        raise BootstrapError(
            f"table {table['TableName']} has key schema {keys} (attribute types {types}); "
            f"the backend needs only a string partition key {PARTITION_KEY!r}"
        )


def ensure_table(dynamodb: Any, name: str, *, dry_run: bool = False) -> Step:
    """Make sure table `name` exists with key `pk` (S), on-demand billing, and is ACTIVE.

    Creates a missing table, switches a provisioned one to on-demand, and raises BootstrapError
    for a table with another key schema. Waits for ACTIVE unless dry_run.
    """
    table = _describe_table(dynamodb, name)
    if table is None:
        if not dry_run:
            dynamodb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": PARTITION_KEY, "AttributeType": "S"}],
                BillingMode=ON_DEMAND,
            )
            dynamodb.get_waiter("table_exists").wait(TableName=name)
        return Step("table", name, _planned(CREATED, dry_run))

    _check_key_schema(table)
    wait_active = dynamodb.get_waiter("table_exists")
    billing = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    if billing == ON_DEMAND:
        if not dry_run and table["TableStatus"] != "ACTIVE":
            wait_active.wait(TableName=name)
        return Step("table", name, UNCHANGED)
    if not dry_run:
        # The billing mode can only be changed on an ACTIVE table, and applies once it is ACTIVE again.
        wait_active.wait(TableName=name)
        dynamodb.update_table(TableName=name, BillingMode=ON_DEMAND)
        wait_active.wait(TableName=name)
    return Step("table", name, _planned(UPDATED, dry_run), f"billing {billing} -> {ON_DEMAND}")


def ensure_ttl(dynamodb: Any, table: str, *, dry_run: bool = False) -> Step:
    """Make sure TTL is enabled on `expires_at` for `table`, which must exist unless dry_run.

    Raises BootstrapError if TTL is enabled on another attribute (AWS has to disable it first,
    which takes up to an hour, so that is left to a human).
    """
    if dry_run and _describe_table(dynamodb, table) is None:
        return Step("ttl", f"{table}.{TTL_ATTRIBUTE}", _planned("enabled", dry_run))
    description = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    status = description.get("TimeToLiveStatus", "DISABLED")
    attribute = description.get("AttributeName")
    if status in ("ENABLED", "ENABLING"):
        if attribute != TTL_ATTRIBUTE:
            raise BootstrapError(f"table {table} has TTL on {attribute!r}, the backend expects {TTL_ATTRIBUTE!r}")
        return Step("ttl", f"{table}.{TTL_ATTRIBUTE}", UNCHANGED)
    if status == "DISABLING":
        raise BootstrapError(f"TTL on table {table} is being disabled; run bootstrap again once it is DISABLED")
    if not dry_run:
        dynamodb.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
        )
    return Step("ttl", f"{table}.{TTL_ATTRIBUTE}", _planned("enabled", dry_run))


def ensure_indexes(dynamodb: Any, table: str, *, dry_run: bool = False) -> list[Step]:
    """Make sure `table` has the service's global secondary indexes; add the missing ones, one at a time.

    A new table gets them here too, so that one path provisions a new table and an existing one alike.
    DynamoDB builds an index added to a table that holds items in the background (the existing homes are
    indexed too) and takes one index creation per UpdateTable; each is waited for. Raises BootstrapError for
    an index of that name with another key schema.
    """
    description = _describe_table(dynamodb, table)
    existing = {index["IndexName"]: index for index in (description or {}).get("GlobalSecondaryIndexes", [])}
    steps = []
    for index in INDEXES:
        name = index["IndexName"]
        found = existing.get(name)
        if found is not None:
            if found["KeySchema"] != index["KeySchema"]:
                raise BootstrapError(f"table {table} has an index {name!r} with key schema {found['KeySchema']}")
            steps.append(Step("index", f"{table}/{name}", UNCHANGED))
            continue
        if not dry_run:
            # Every definition the table has with the new ones (DynamoDB merges them; moto replaces them).
            # The table exists: ensure_table made it, unless this is a dry run.
            defined = {
                a["AttributeName"]: a["AttributeType"]
                for a in dynamodb.describe_table(TableName=table)["Table"]["AttributeDefinitions"]
            }
            defined.update({key["AttributeName"]: "S" for key in index["KeySchema"]})
            attributes = [{"AttributeName": name, "AttributeType": kind} for name, kind in defined.items()]
            dynamodb.update_table(
                TableName=table, AttributeDefinitions=attributes, GlobalSecondaryIndexUpdates=[{"Create": index}]
            )
            _wait_index_active(dynamodb, table, name)
        steps.append(Step("index", f"{table}/{name}", _planned(CREATED, dry_run)))
    return steps


def _wait_index_active(dynamodb: Any, table: str, name: str, timeout: float = 1_800, poll: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while True:
        indexes = dynamodb.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", [])
        if any(index["IndexName"] == name and index.get("IndexStatus", "ACTIVE") == "ACTIVE" for index in indexes):
            return
        if time.monotonic() > deadline:
            raise BootstrapError(f"index {name!r} of table {table} is not ACTIVE after {timeout:.0f} s")
        time.sleep(poll)


def _get_identity(sesv2: Any, identity: str) -> dict[str, Any] | None:
    """Return an SES identity's description, or None if it does not exist."""
    try:
        return sesv2.get_email_identity(EmailIdentity=identity)
    except ClientError as error:
        if _error_code(error) == "NotFoundException":
            return None
        raise


def _verification_note(identity: Mapping[str, Any]) -> str:
    # moto reports VerificationStatus SUCCESS but VerifiedForSendingStatus False, so accept either.
    if identity.get("VerifiedForSendingStatus") or identity.get("VerificationStatus") == "SUCCESS":
        return "verified"
    return f"NOT verified yet ({identity.get('VerificationStatus', 'unknown')}): sending fails until it is"


def ensure_sender(sesv2: Any, sender: str, *, dry_run: bool = False) -> Step:
    """Make sure SES may send from `sender`: its address or its domain must be an identity.

    Creates an address identity when neither exists (real SES then mails a verification link,
    moto verifies at once). Never fails on an unverified identity: the note says so instead.
    """
    domain = sender.rpartition("@")[2]
    for name in (sender, domain):
        identity = _get_identity(sesv2, name)
        if identity is not None:
            return Step("ses identity", name, UNCHANGED, _verification_note(identity))
    if dry_run:
        return Step("ses identity", sender, _planned(CREATED, dry_run))
    sesv2.create_email_identity(EmailIdentity=sender)
    identity = _get_identity(sesv2, sender) or {}
    return Step("ses identity", sender, CREATED, _verification_note(identity))


def ensure_secret(secretsmanager: Any, secret_id: str, *, dry_run: bool = False) -> Step:
    """Make sure secret `secret_id` exists, creating it with a fresh 256-bit hex key if missing.

    An existing secret is never read nor overwritten: rotating the key invalidates codes in
    flight, so that is a deliberate act. Raises BootstrapError for a secret pending deletion.
    """
    try:
        description = secretsmanager.describe_secret(SecretId=secret_id)
    except ClientError as error:
        if _error_code(error) != "ResourceNotFoundException":
            raise
    else:
        if description.get("DeletedDate"):
            raise BootstrapError(f"secret {secret_id} is scheduled for deletion; restore it with restore-secret")
        return Step("secret", secret_id, UNCHANGED)
    if not dry_run:
        secretsmanager.create_secret(
            Name=secret_id,
            Description="Key for hashing one-time sign-in codes (otp-signin)",
            SecretString=secrets.token_hex(32),
        )
    return Step("secret", secret_id, _planned(CREATED, dry_run))


class KeyKind(NamedTuple):
    """A kind of signing key the service uses: the setting that names it, its KMS spec and what it signs."""

    setting: str
    spec: str
    signs: str


ES256_KEY = KeyKind("OTP_SIGNING_KEY_ID", "ECC_NIST_P256", "access tokens (ES256)")
RS256_KEY = KeyKind("OTP_RSA_SIGNING_KEY_ID", "RSA_2048", "ID tokens and RSA-signed access tokens (RS256)")


def ensure_signing_key(kms: Any, alias: str, *, dry_run: bool = False, kind: KeyKind = ES256_KEY) -> Step:
    """Make sure `alias` names an enabled sign/verify key of ``kind.spec`` in KMS, creating both if missing.

    The private key is generated inside KMS and never leaves it. An alias pointing at any other kind of
    key raises BootstrapError: tokens signed with it could not be verified with the algorithm they name.
    """
    if not alias.startswith("alias/"):
        raise BootstrapError(f"{kind.setting} must be a KMS alias (alias/...), not {alias!r}")
    try:
        key = kms.describe_key(KeyId=alias)["KeyMetadata"]
    except ClientError as error:
        if _error_code(error) != "NotFoundException":
            raise
    else:
        spec = key.get("KeySpec") or key.get("CustomerMasterKeySpec")
        if spec != kind.spec or key.get("KeyUsage") != "SIGN_VERIFY" or key.get("KeyState") != "Enabled":
            raise BootstrapError(
                f"{alias} is a {spec} {key.get('KeyUsage')} key in state {key.get('KeyState')}; "
                f"{kind.signs} need an enabled {kind.spec} SIGN_VERIFY key"
            )
        return Step("signing key", alias, UNCHANGED, key["KeyId"])
    if not dry_run:
        key_id = kms.create_key(
            KeySpec=kind.spec,
            KeyUsage="SIGN_VERIFY",
            Description=f"Signs otp-signin {kind.signs}",
        )["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    return Step("signing key", alias, _planned(CREATED, dry_run))


def bootstrap(clients: Clients, settings: Settings, *, dry_run: bool = False) -> list[Step]:
    """Provision table, TTL, sender identity, hashing secret and signing key; return one Step per resource.

    Idempotent: a second run returns only UNCHANGED steps and changes nothing.
    With dry_run it only reads, and the steps say what would be done.
    """
    return [
        ensure_table(clients.dynamodb, settings.table, dry_run=dry_run),
        ensure_ttl(clients.dynamodb, settings.table, dry_run=dry_run),
        *ensure_indexes(clients.dynamodb, settings.table, dry_run=dry_run),
        ensure_sender(clients.sesv2, settings.sender, dry_run=dry_run),
        ensure_secret(clients.secretsmanager, settings.secret_id, dry_run=dry_run),
        ensure_signing_key(clients.kms, settings.signing_key, dry_run=dry_run),
        ensure_signing_key(clients.kms, settings.rsa_signing_key, dry_run=dry_run, kind=RS256_KEY),
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line of `python -m tools.bootstrap`."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.bootstrap", description="Provision the AWS resources of a Chalice stage."
    )
    parser.add_argument("--stage", default="local", help="Chalice stage whose environment names the resources")
    parser.add_argument("--endpoint-url", help="AWS endpoint, e.g. a local moto server (default: AWS_ENDPOINT_URL)")
    parser.add_argument("--region", help="AWS region (default: boto3's, i.e. AWS_DEFAULT_REGION or the profile)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument("--config", type=Path, default=CHALICE_CONFIG, help="Chalice config file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run bootstrap for a stage and print its plan; return 0, or 1 with a one-line error."""
    args = parse_args(argv)
    try:
        settings = Settings.from_env(load_stage_env(args.stage, args.config))
        clients = Clients.create(boto3.Session(region_name=args.region), args.endpoint_url)
        steps = bootstrap(clients, settings, dry_run=args.dry_run)
    except (BootstrapError, BotoCoreError, ClientError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for step in steps:
        print(step)
    return 0


if __name__ == "__main__":
    sys.exit(main())
