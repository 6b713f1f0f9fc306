"""The deployed stages' IAM policies grant exactly what the runtime code was seen calling in this test run.

``tests/aws_calls.py`` records every AWS call made from ``chalicelib/`` during the whole session; these tests
run after all others (marker ``after_all``, and the file name sorts last) and evaluate each deployed stage's
``.chalice/policy-<stage>.json`` against those calls, translated to the requests the stage's function would
make: same operations, the stage's table, key aliases, secret and sender. Evaluation is a small model of IAM
(Allow/Deny, ``*``/``?`` wildcards, ``StringEquals``/``StringLike`` conditions; any other operator fails the
test rather than being guessed at), so the policies are proven offline, without an AWS account.

One grant cannot name its resource: SNS authorises a text against the phone number itself, not an ARN
(AccessDenied reads "not authorized to perform: SNS:Publish on resource: +1..."), so ``sns:Publish`` is allowed
on ``"*"`` and a Deny takes back every SNS ARN: the function can text a number, never publish to a topic or a
mobile endpoint. Those tests do not depend on the recorded calls, and cover the CloudFormation template's role.

A policy can only be checked against calls that happened. Run alone, or on part of the suite (some test files,
``-k``, ``-m``, as ``make test-fast`` does: ``conftest.partial_run`` says), the checks that need every call skip
with the reason instead of failing; those that hold for any calls (every recorded call is granted) still run.
In the whole suite a missing call fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import pytest

from chalicelib.aws.keys import SSM_PREFIX
from chalicelib.aws.models import OPERATIONS
from chalicelib.config import Settings
from tests.aws_calls import PRESENT, RECORDER, AwsCall
from tests.conftest import REPO_ROOT, partial_run
from tools.bootstrap import load_stage_env

pytestmark = pytest.mark.after_all

CHALICE_DIR = REPO_ROOT / ".chalice"
MERGE_TEMPLATE = REPO_ROOT / "deploy" / "resources.json"
CONFIG = json.loads((CHALICE_DIR / "config.json").read_text())
DEPLOYED_STAGES = sorted(stage for stage in CONFIG["stages"] if stage != "local")  # local runs on moto only
REGION, ACCOUNT = "us-east-1", "123456789012"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0b6e3c5a-8f0e-4a51-9d43-6f1f2d7c9e10"
# The Lambda service, not our code, writes the function's logs; these are never recorded, always needed.
LOG_ACTIONS = frozenset({"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"})
# Every number is authorised alike, and a call records only that it passed one: this one stands for all.
SAMPLE_NUMBER = "+14155550123"
# Actions whose target need not be an ARN, so that only "*" can grant them, and the ARNs a Deny must then take
# back: topics (standard and FIFO, this account's and another's) and mobile push endpoints (TargetArn).
NON_ARN_TARGETS = {
    "sns:Publish": (
        f"arn:aws:sns:{REGION}:{ACCOUNT}:otp-signin-alerts",
        f"arn:aws:sns:{REGION}:{ACCOUNT}:orders.fifo",
        "arn:aws:sns:eu-west-1:210987654321:someone-elses-topic",
        f"arn:aws:sns:{REGION}:{ACCOUNT}:endpoint/APNS/otp-app/5e3c9b2a-0c1d-4f5e-8a7b-6c5d4e3f2a1b",
    ),
}
# Actions that take no resource at all (IAM's service authorization reference lists no resource type for them):
# only "*" grants them. GetMetricData reads any metric of the account and region; its answers carry only
# counts of this service's namespace that the admin routes ask for.
NO_RESOURCE_ACTIONS = frozenset({"cloudwatch:GetMetricData"})
# IAM authorises each item of a transaction as the single-item action it stands for; there is no
# dynamodb:TransactWriteItems action (DynamoDB developer guide, "Using IAM with DynamoDB transactions").
TRANSACTION_ITEM_ACTIONS = {
    "Update": "dynamodb:UpdateItem",
    "Put": "dynamodb:PutItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


# -- a small IAM model ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One authorisation IAM makes: ``action`` on ``resource`` with the request's condition keys."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)
    because: str = ""

    def elsewhere(self) -> Request:
        """The same request aimed at another resource, with other condition values: a scoped policy denies it."""
        return replace(
            self,
            resource=self.resource + "-other",
            context={key: value + "-other" for key, value in self.context.items()},
        )


def _listed(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def _like(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM wildcard matching: ``*`` any run of characters (``/`` and ``:`` included), ``?`` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


CONDITION_OPERATORS = {
    "StringEquals": lambda expected, actual: expected == actual,
    "StringLike": _like,
}


def _condition_holds(statement: Mapping[str, Any], request: Request) -> bool:
    context = {key.lower(): value for key, value in request.context.items()}  # condition key names ignore case
    for operator, tests in statement.get("Condition", {}).items():
        assert operator in CONDITION_OPERATORS, f"the IAM model here does not know {operator!r}: extend it"
        for key, expected in tests.items():
            actual = context.get(key.lower())
            # As in IAM: a condition on a key the request does not carry is not met.
            if actual is None or not any(CONDITION_OPERATORS[operator](e, actual) for e in _listed(expected)):
                return False
    return True


def _applies(statement: Mapping[str, Any], request: Request) -> bool:
    return (
        any(_like(action, request.action, ignore_case=True) for action in _listed(statement["Action"]))
        and any(_like(resource, request.resource) for resource in _listed(statement["Resource"]))
        and _condition_holds(statement, request)
    )


def allows(policy: Mapping[str, Any], request: Request) -> bool:
    """Whether the identity policy alone allows ``request`` (an explicit Deny wins, nothing is allowed by default)."""
    statements = policy["Statement"]
    if any(s["Effect"] == "Deny" and _applies(s, request) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and _applies(s, request) for s in statements)


# -- what a deployed stage's function asks for ----------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    name: str
    settings: Settings
    function_name: str
    policy: Mapping[str, Any]

    @property
    def table_arn(self) -> str:
        return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{self.settings.table_name}"

    @property
    def reads_key_from_ssm(self) -> bool:
        return (self.settings.hash_secret_id or "").startswith(SSM_PREFIX)

    @property
    def log_group_arn(self) -> str:
        # CloudWatch Logs authorises CreateLogGroup and the stream actions against this form, trailing ":*"
        # included (the bare form is only for the tagging actions).
        return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{self.function_name}:*"


@cache
def stage(name: str) -> Stage:
    config = CONFIG["stages"][name]
    policy = json.loads((CHALICE_DIR / config["iam_policy_file"]).read_text())
    # Chalice names the API handler function <app>-<stage>; the Lambda service logs to /aws/lambda/<function>.
    return Stage(name, Settings.from_environ(load_stage_env(name)), f"{CONFIG['app_name']}-{name}", policy)


def requests_for(call: AwsCall, target: Stage) -> list[Request]:
    """The authorisations ``call`` needs when the function of ``target`` makes it with that stage's settings.

    Raises AssertionError for an operation this mapping does not know: add it here and to the policies.
    """
    settings, why = target.settings, f"{call.service}.{call.operation} from {call.caller}"
    match call.service, call.operation:
        case "dynamodb", "TransactWriteItems" | "TransactGetItems":
            return [Request(TRANSACTION_ITEM_ACTIONS[kind], target.table_arn, because=why) for kind, _ in call.items]
        case "dynamodb", "Query":
            # A query of an index is authorised against the index's ARN only.
            index = call.name("IndexName")
            arn = f"{target.table_arn}/index/{index}" if index else target.table_arn
            return [Request("dynamodb:Query", arn, because=why)]
        case "dynamodb", ("GetItem" | "BatchGetItem" | "UpdateItem" | "PutItem" | "DeleteItem") as operation:
            return [Request(f"dynamodb:{operation}", target.table_arn, because=why)]
        case "cloudwatch", "GetMetricData":
            return [Request("cloudwatch:GetMetricData", "*", because=why)]
        case "sesv2", "SendEmail":
            assert call.name("ConfigurationSetName") is None, f"{why}: a configuration set needs its own grant"
            sender = settings.sender
            # SES authorises the identity that verified the sender: the address itself, or its domain.
            return [
                Request(
                    "ses:SendEmail",
                    f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{identity}",
                    {"ses:FromAddress": sender},
                    why,
                )
                for identity in (sender, sender.rpartition("@")[2])
            ]
        case "kms", "Sign":
            current, _ = _stage_keys(call, settings)
            return [Request("kms:Sign", KEY_ARN, {"kms:RequestAlias": current}, why)]
        case "kms", "GetPublicKey":
            # The key set publishes the current key of each kind and every previous one still accepted.
            current, previous = _stage_keys(call, settings)
            return [Request("kms:GetPublicKey", KEY_ARN, {"kms:RequestAlias": a}, why) for a in (current, *previous)]
        case "secretsmanager", "GetSecretValue":
            if target.reads_key_from_ssm:
                return []  # this stage reads its hashing key from SSM instead
            secret = settings.hash_secret_id or ""
            # Secrets Manager appends a hyphen and six random characters to the name in a secret's ARN.
            suffixed = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{secret}-Ab12Cd"
            arn = secret if secret.startswith("arn:") else suffixed
            return [Request("secretsmanager:GetSecretValue", arn, because=why)]
        case "sns", "Publish":
            # A publish is authorised against its target: a topic's or an endpoint's ARN, or a text's number.
            arn = call.name("TopicArn") or call.name("TargetArn")
            if arn is not None:
                return [Request("sns:Publish", arn, because=why)]
            assert call.name("PhoneNumber") == PRESENT, f"{why}: a publish names a topic, an endpoint or a number"
            return [Request("sns:Publish", SAMPLE_NUMBER, because=why)]
        case "ssm", "GetParameter":
            if not target.reads_key_from_ssm:
                return []
            name = (settings.hash_secret_id or "")[len(SSM_PREFIX) :].lstrip("/")
            return [Request("ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{name}", because=why)]
    raise AssertionError(f"{why}: no IAM mapping for this operation; add one to requests_for and to the policies")


# The suite's calls name the local stage's keys (tests/conftest.py's stage_env), or a test's own aliases.
SUITE_SETTINGS = Settings.from_environ(load_stage_env("local"))


def _stage_keys(call: AwsCall, settings: Settings) -> tuple[str, tuple[str, ...]]:
    """The stage's current and previous aliases of the kind of key a KMS ``call`` used: P-256 or RSA.

    A signature says which by its algorithm. A public-key read says only the alias: the RSA kind when it is one of
    the suite's RSA aliases. A read of a test's own alias counts as P-256, so it proves nothing of the RSA grants;
    the reads of the suite's RSA alias do.
    """
    algorithm = call.name("SigningAlgorithm")
    suite_rsa = (SUITE_SETTINGS.rsa_signing_key_id, *SUITE_SETTINGS.previous_rsa_signing_key_ids)
    rsa = algorithm.startswith("RSASSA_") if algorithm is not None else call.name("KeyId") in suite_rsa
    if rsa:
        return settings.rsa_signing_key_id, settings.previous_rsa_signing_key_ids
    return settings.signing_key_id, settings.previous_signing_key_ids


def log_requests(target: Stage) -> list[Request]:
    stream = f"{target.log_group_arn.removesuffix(':*')}:log-stream:2026/01/01/[$LATEST]0123456789abcdef"
    why = "the Lambda service writing the function's logs"
    return [
        Request("logs:CreateLogGroup", target.log_group_arn, because=why),
        Request("logs:CreateLogStream", stream, because=why),
        Request("logs:PutLogEvents", stream, because=why),
    ]


def required_requests(target: Stage, calls: Iterable[AwsCall]) -> list[Request]:
    """Every distinct authorisation the stage's function needs, each with the first call that needs it."""
    required: dict[tuple[str, str, tuple[tuple[str, str], ...]], Request] = {}
    for call in sorted(calls, key=lambda c: (c.service, c.operation, c.caller)):
        for request in requests_for(call, target):
            required.setdefault((request.action, request.resource, tuple(sorted(request.context.items()))), request)
    return [required[key] for key in sorted(required)] + log_requests(target)


def recorded_calls(config: pytest.Config) -> list[AwsCall]:
    calls = list(RECORDER.calls)
    if not calls:
        skip_if_partial(config, "no AWS call from chalicelib/ was recorded")
        pytest.fail("no AWS call from chalicelib/ was recorded, in the whole suite: the recorder is broken")
    return calls


def skip_if_partial(config: pytest.Config, finding: str) -> None:
    """Skip, saying why, when this session ran only part of the suite; ``finding`` is what a whole run fails on."""
    partial = partial_run(config)
    if partial is not None:
        pytest.skip(f"part of the suite ran ({partial}), so {finding}: `make test` checks it")


# -- the tests ----------------------------------------------------------------------------------------


def test_the_suite_recorded_what_the_runtime_calls(pytestconfig: pytest.Config) -> None:
    calls = recorded_calls(pytestconfig)
    print("\nAWS operations made from chalicelib/ during this test run:")
    for service, operation in sorted(RECORDER.operations()):
        callers = sorted({call.caller for call in calls if (call.service, call.operation) == (service, operation)})
        count = sum(n for call, n in RECORDER.calls.items() if (call.service, call.operation) == (service, operation))
        print(f"  {service}.{operation}: {count} calls from {', '.join(callers)}")
    # Fixtures and tools/bootstrap make their own calls (CreateTable, CreateKey, ...): none may count as runtime.
    assert not {operation for _, operation in RECORDER.operations()} & {"CreateTable", "CreateKey", "CreateSecret"}


def test_the_botocore_data_declares_exactly_what_the_runtime_calls(pytestconfig: pytest.Config) -> None:
    """chalicelib/aws/models.py's OPERATIONS, the only methods the service's clients have, are the calls made."""
    recorded_calls(pytestconfig)
    recorded = RECORDER.operations()
    declared = {(service, operation) for service, operations in OPERATIONS.items() for operation in operations}
    # A call the service's own clients lack fails where it is made; this finds those made on a test's full client.
    assert recorded <= declared, (
        f"chalicelib calls {sorted(recorded - declared)}: declare them in chalicelib/aws/models.py "
        "and run python -m tools.slim_models"
    )
    if declared - recorded:
        skip_if_partial(pytestconfig, f"it did not call {sorted(declared - recorded)}")
    assert declared <= recorded, f"declared in chalicelib/aws/models.py, never called: {sorted(declared - recorded)}"


def test_every_deployed_stage_ships_its_own_committed_policy() -> None:
    assert DEPLOYED_STAGES, "no deployed stage in .chalice/config.json"
    for name in DEPLOYED_STAGES:
        config = CONFIG["stages"][name]
        # Chalice's generator reads only app.py; the AWS calls live in chalicelib/, so it would grant nothing.
        assert config.get("autogen_policy") is False, f"{name}: autogen_policy must be false"
        assert config.get("iam_policy_file") == f"policy-{name}.json"
        assert (CHALICE_DIR / config["iam_policy_file"]).is_file()


def _allow_statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [statement for statement in policy["Statement"] if statement["Effect"] == "Allow"]


@pytest.mark.parametrize("name", DEPLOYED_STAGES)
def test_the_policy_is_allow_statements_and_their_fences(name: str) -> None:
    """Plain Allow statements, and Deny statements only to take back part of what an Allow grants."""
    policy = stage(name).policy
    assert policy["Version"] == "2012-10-17"
    allowed = {action for statement in _allow_statements(policy) for action in _listed(statement["Action"])}
    for statement in policy["Statement"]:
        assert statement["Effect"] in ("Allow", "Deny") and {"Action", "Resource"} <= set(statement), statement
        assert not {"NotAction", "NotResource", "Principal", "NotPrincipal"} & set(statement), statement
        assert not any("*" in action for action in _listed(statement["Action"])), f"wildcard action in {statement}"
        if statement["Effect"] == "Deny":
            assert set(_listed(statement["Action"])) <= allowed, f"a Deny of what nothing allows: {statement}"


@pytest.mark.parametrize("name", DEPLOYED_STAGES)
def test_the_policy_grants_every_recorded_call(name: str, pytestconfig: pytest.Config) -> None:
    """Holds for whatever calls were made, so it runs on part of the suite too."""
    target = stage(name)
    missing = [r for r in required_requests(target, recorded_calls(pytestconfig)) if not allows(target.policy, r)]
    assert not missing, f"policy-{name}.json denies:\n" + "\n".join(
        f"  {r.action} on {r.resource} {dict(r.context)} ({r.because})" for r in missing
    )


@pytest.mark.parametrize("name", DEPLOYED_STAGES)
def test_the_policy_grants_nothing_the_code_does_not_call(name: str, pytestconfig: pytest.Config) -> None:
    """Every action, resource and condition value of every statement is needed by at least one request."""
    target = stage(name)
    required = required_requests(target, recorded_calls(pytestconfig))
    unused = []
    # A Deny grants nothing; test_texts_go_to_phone_numbers_and_never_to_topics proves what each one refuses.
    for statement in _allow_statements(target.policy):
        sid = statement.get("Sid", "?")
        for action in _listed(statement["Action"]):
            wanted = [r for r in required if _like(action, r.action, ignore_case=True)]
            if not wanted:
                unused.append(f"{sid}: action {action}")
                continue
            for resource in _listed(statement["Resource"]):
                if not any(_like(resource, r.resource) for r in wanted):
                    unused.append(f"{sid}: {action} on {resource}")
            for operator, tests in statement.get("Condition", {}).items():
                for key, values in tests.items():
                    for value in _listed(values):
                        probe = {key.lower(): value}
                        if not any(_condition_holds({"Condition": {operator: probe}}, r) for r in wanted):
                            unused.append(f"{sid}: {action} with {key} {value!r}")
    if unused:
        skip_if_partial(pytestconfig, f"policy-{name}.json grants what no recorded call needed: {unused}")
    assert not unused, (
        f"policy-{name}.json grants what no recorded call needs (remove it, or if the code does call it, "
        "the suite lacks a test that does):\n  " + "\n  ".join(unused)
    )


@pytest.mark.parametrize("name", DEPLOYED_STAGES)
def test_every_grant_is_scoped_to_the_stage_resources(name: str, pytestconfig: pytest.Config) -> None:
    target = stage(name)
    for statement in _allow_statements(target.policy):
        for resource in _listed(statement["Resource"]):
            if resource == "*" and set(_listed(statement["Action"])) <= NO_RESOURCE_ACTIONS:
                continue  # nothing narrower exists to grant them on
            if resource == "*":
                # Only for a target that is not an ARN, and only with every ARN of it taken back by a Deny.
                actions = _listed(statement["Action"])
                assert set(actions) <= set(NON_ARN_TARGETS), f"{statement.get('Sid')}: Resource '*'"
                assert not any(allows(target.policy, Request(a, arn)) for a in actions for arn in NON_ARN_TARGETS[a])
                continue
            resource_part = resource.split(":", 5)[-1]
            if resource_part in ("*", "") or resource_part.endswith("/*"):
                # A wildcard resource name is acceptable only under a condition naming the stage's resource.
                assert statement.get("Condition"), f"{statement.get('Sid')}: {resource} without a condition"
    # And the evaluation can say no: the same requests aimed at anything else are denied (log streams are
    # named by the Lambda service inside the group; test_logs_go_only_to_the_function_log_group covers them).
    # Any other phone number is as allowed as the one texted: which numbers get a code is the service's rule
    # (countries, number types, quotas), not IAM's.
    for request in required_requests(target, recorded_calls(pytestconfig)):
        if request.action in LOG_ACTIONS or not request.resource.startswith("arn:"):
            continue
        assert not allows(target.policy, request.elsewhere()), f"{request.elsewhere()} is allowed"
        if request.context:
            assert not allows(target.policy, replace(request.elsewhere(), resource=request.resource))


@pytest.mark.parametrize("name", DEPLOYED_STAGES)
def test_logs_go_only_to_the_function_log_group(name: str) -> None:
    target = stage(name)
    for statement in target.policy["Statement"]:
        actions = set(_listed(statement["Action"]))
        if any(action.startswith("logs:") for action in actions):
            assert actions <= LOG_ACTIONS, statement
            group = f"arn:aws:logs:*:*:log-group:/aws/lambda/{target.function_name}:*"
            assert _listed(statement["Resource"]) == [group], statement


@pytest.mark.parametrize("name", DEPLOYED_STAGES)
def test_the_stage_names_its_keys_by_alias(name: str) -> None:
    """The KMS grants are conditioned on kms:RequestAlias, which a request by key id or ARN does not carry."""
    settings = stage(name).settings
    for key_id in (
        settings.signing_key_id,
        *settings.previous_signing_key_ids,
        settings.rsa_signing_key_id,
        *settings.previous_rsa_signing_key_ids,
    ):
        assert key_id.startswith("alias/"), f"{name}: {key_id} is not an alias; the policy would deny it"


@pytest.mark.parametrize("name", DEPLOYED_STAGES)
def test_each_kind_of_key_is_used_under_the_stage_alias_of_its_kind(name: str) -> None:
    """A signature or a public-key read of the suite's RSA key needs the stage's RSA alias, one of its P-256 key the
    P-256 alias; the policy grants each (independent of the recorded calls, so that a partial run checks it)."""
    target, suite = stage(name), SUITE_SETTINGS
    for algorithm, key_id, stage_alias in (
        ("ECDSA_SHA_256", suite.signing_key_id, target.settings.signing_key_id),
        ("RSASSA_PKCS1_V1_5_SHA_256", suite.rsa_signing_key_id, target.settings.rsa_signing_key_id),
    ):
        sign = AwsCall("kms", "Sign", (("KeyId", key_id), ("SigningAlgorithm", algorithm)), (), f"{algorithm} sign")
        read = AwsCall("kms", "GetPublicKey", (("KeyId", key_id),), (), f"public key of {key_id}")
        for call in (sign, read):
            requests = requests_for(call, target)
            assert stage_alias in {r.context["kms:RequestAlias"] for r in requests}, call.caller
            assert all(allows(target.policy, r) for r in requests), call.caller


@pytest.mark.parametrize("name", DEPLOYED_STAGES)
def test_the_stage_hash_key_source_was_exercised(name: str, pytestconfig: pytest.Config) -> None:
    """A stage reading its hashing key from SSM needs a test that did so; likewise for Secrets Manager."""
    target = stage(name)
    needed = ("ssm", "GetParameter") if target.reads_key_from_ssm else ("secretsmanager", "GetSecretValue")
    if needed not in RECORDER.operations():
        skip_if_partial(pytestconfig, f"no test read {name}'s key with {needed}")
    assert needed in RECORDER.operations(), f"{name} reads its key with {needed}, which no test exercised"


def test_the_iam_model_says_no() -> None:
    """The evaluation above is only as good as this model: it must deny what IAM denies."""
    policy = stage(DEPLOYED_STAGES[0]).policy
    table = Request("dynamodb:UpdateItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/other")
    assert not allows(policy, table)
    assert not allows(policy, Request("dynamodb:DeleteTable", stage(DEPLOYED_STAGES[0]).table_arn))
    assert not allows(policy, Request("kms:Sign", KEY_ARN))  # no alias in the request: condition not met
    deny_all = {"Statement": [*policy["Statement"], {"Effect": "Deny", "Action": "*", "Resource": "*"}]}
    assert not any(allows(deny_all, r) for r in log_requests(stage(DEPLOYED_STAGES[0])))
    with pytest.raises(AssertionError, match="does not know"):
        _condition_holds({"Condition": {"ArnLike": {"aws:SourceArn": "x"}}}, table)


# -- texts, never topics: independent of the recorded calls ----------------------------------------------


def assert_texts_phone_numbers_only(policy: Mapping[str, Any], target: Stage) -> None:
    """``policy`` lets the function text any number and publish to no topic or endpoint, by its Deny."""
    text = AwsCall("sns", "Publish", (("PhoneNumber", PRESENT),), (), "a text to a number")
    for request in requests_for(text, target):
        for number in (request.resource, "+447700900123", "+61412345678"):
            assert allows(policy, replace(request, resource=number)), f"a text to {number} is denied"
    allow_only = {"Statement": _allow_statements(policy)}
    for arn in NON_ARN_TARGETS["sns:Publish"]:
        for parameter in ("TopicArn", "TargetArn"):
            publish = AwsCall("sns", "Publish", ((parameter, arn),), (), f"a publish with {parameter} {arn}")
            for request in requests_for(publish, target):
                assert not allows(policy, request), f"{publish.caller} is allowed"
                assert allows(allow_only, request), "the Deny refuses nothing the Allow grants: drop one of them"


@pytest.mark.parametrize("name", DEPLOYED_STAGES)
def test_texts_go_to_phone_numbers_and_never_to_topics(name: str) -> None:
    assert_texts_phone_numbers_only(stage(name).policy, stage(name))


# CloudFormation pseudo parameters, as the stack would resolve them in this test's account and region.
PSEUDO_PARAMETERS = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}


def _resolve_pseudo(value: Any) -> Any:
    """``value`` with each ``Fn::Sub`` that names only pseudo parameters replaced by its string; the rest as is."""
    if isinstance(value, dict):
        text = value.get("Fn::Sub")
        if len(value) == 1 and isinstance(text, str):
            names = re.findall(r"\$\{([^}]+)\}", text)
            if all(name in PSEUDO_PARAMETERS for name in names):
                return re.sub(r"\$\{([^}]+)\}", lambda m: PSEUDO_PARAMETERS[m[1]], text)
        return {key: _resolve_pseudo(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_resolve_pseudo(inner) for inner in value]
    return value


def _sns_statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in document["Statement"] if any(a.startswith("sns:") for a in _listed(s["Action"]))]


def test_the_template_role_texts_phone_numbers_only() -> None:
    """The CloudFormation role (deploy/resources.json) has the stage policies' SNS statements, and they hold."""
    template = json.loads(MERGE_TEMPLATE.read_text())
    (role_policy,) = template["Resources"]["ApiHandlerRole"]["Properties"]["Policies"]
    # Only the SNS statements are evaluated: the others name the stack's resources by Ref and GetAtt, and a
    # statement whose actions are not SNS's neither allows nor denies an SNS request.
    sns = {"Statement": _sns_statements(_resolve_pseudo(role_policy["PolicyDocument"]))}
    assert sns["Statement"], "the template's role cannot send texts"
    assert_texts_phone_numbers_only(sns, stage(DEPLOYED_STAGES[0]))
    for name in DEPLOYED_STAGES:
        assert sns["Statement"] == _sns_statements(stage(name).policy), f"the template and policy-{name}.json differ"
