"""What ships: the Lambda zip holds only runtime code, and the CloudFormation path lints clean and is wired right.

``chalice package`` runs once per deployed stage and session (it fetches manylinux wheels from PyPI the first
time and caches them in ``.chalice/deployments/``), offline from AWS (``tools.offline_aws``: fake credentials). The
merged template is checked by ``cfn-lint`` (errors and warnings both fail: no rule is ignored) and then read
for the properties the issue asks for, because a template can lint clean and still provision the wrong thing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chalicelib.aws.models import DATA_DIR
from chalicelib.core.metric_names import METRICS, REFRESH_ROUTE
from chalicelib.http.exchange import EXPOSED_HEADERS
from tests.conftest import REPO_ROOT
from tests.webauthn_authenticator import Authenticator, b64url
from tools.bootstrap import INDEXES, load_stage_env
from tools.offline_aws import offline_aws_env
from tools.precompile import LEFT_OUT_DISTRIBUTIONS, LEFT_OUT_PACKAGES, precompile

CONFIG = json.loads((REPO_ROOT / ".chalice" / "config.json").read_text())
DEPLOYED_STAGES = sorted(stage for stage in CONFIG["stages"] if stage != "local")
MERGE_TEMPLATE = REPO_ROOT / "deploy" / "resources.json"
ZIP_CEILING_BYTES = 10_000_000  # issue 23: "the Lambda zip stays under 10 MB"; 8.86 MB (docs/benchmarks.md)
# What Lambda's python3.11 runtime holds beside the zip (/var/runtime): boto3 and its dependencies.
LAMBDA_RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
# Anything in the zip whose first path part is one of these is not runtime code.
NOT_RUNTIME = {
    "boto3",
    "botocore",
    "s3transfer",
    "moto",
    "pytest",
    "_pytest",
    "hypothesis",
    "streamlit",
    "playwright",
    "ruff",
    "cfnlint",
    "samtranslator",
    "requests",
    "tests",
    "frontend",
    "tools",
    "docs",
    "deploy",
    ".chalice",
    "out",
    ".venv",
    "Makefile",
    "README.md",
    "requirements-dev.txt",
}
TEST_FILE = re.compile(r"(^|/)(tests?/|conftest\.py$|test_[^/]*\.py$|[^/]*_test\.py$)")


@dataclass(frozen=True)
class Package:
    stage: str
    directory: Path
    seconds: float

    @property
    def zip_path(self) -> Path:
        return self.directory / "deployment.zip"

    @property
    def template(self) -> dict[str, Any]:
        return json.loads((self.directory / "sam.json").read_text())


def venv_tool(name: str) -> str:
    """A console script of the interpreter running the tests (the project's venv), else one on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is not installed: make venv"
    return found


@pytest.fixture(scope="session", params=DEPLOYED_STAGES)
def package(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Package]:
    stage = request.param
    out = tmp_path_factory.mktemp(f"package-{stage}") / "out"
    started = time.monotonic()
    result = subprocess.run(
        [venv_tool("chalice"), "package", "--stage", stage, "--merge-template", str(MERGE_TEMPLATE), str(out)],
        cwd=REPO_ROOT,
        env=offline_aws_env(os.environ),  # Chalice wants a region and may look for credentials
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"chalice package failed:\n{result.stdout}\n{result.stderr}"
    precompile(out / "deployment.zip")  # as make package does
    yield Package(stage, out, time.monotonic() - started)


def resources(package: Package, kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in package.template["Resources"].items() if r["Type"] == kind}


# -- the deployment zip -------------------------------------------------------------------------------


def test_the_zip_holds_only_runtime_code(package: Package) -> None:
    with zipfile.ZipFile(package.zip_path) as archive:
        names = archive.namelist()
        unpacked = sum(info.file_size for info in archive.infolist())
        (wheel,) = [n for n in names if re.fullmatch(r"cryptography-[^/]+\.dist-info/WHEEL", n)]
        tags = [line for line in archive.read(wheel).decode().splitlines() if line.startswith("Tag:")]
    size = package.zip_path.stat().st_size
    print(
        f"\n{package.stage}: deployment.zip {size / 1e6:.2f} MB ({unpacked / 1e6:.1f} MB unpacked, "
        f"{len(names)} files), chalice package took {package.seconds:.1f} s"
    )
    tops = {name.split("/")[0] for name in names}
    assert not tops & NOT_RUNTIME, f"not runtime code in the zip: {sorted(tops & NOT_RUNTIME)}"
    assert not [n for n in names if TEST_FILE.search(n)], "test files in the zip"
    # Everything the function imports is there: the routes, every runtime module, the requirements.
    runtime = {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "chalicelib").rglob("*.py")}
    assert {"app.py", *runtime} <= set(names)
    # And the botocore data the clients are built from (chalicelib/aws/models.py): Chalice copies chalicelib/ whole.
    data = {p.relative_to(REPO_ROOT).as_posix() for p in DATA_DIR.rglob("*.json")}
    assert data and data <= set(names), sorted(data - set(names))
    assert {"jwt", "email_validator", "cryptography", "pyotp", "segno", "webauthn", "cbor2"} <= tops
    # Without what the function never reads (tools/precompile.py; the next test runs the function without it).
    assert not tops & LEFT_OUT_PACKAGES
    assert not [n for n in names if n.endswith((".pyi", "/py.typed")) or n.split("/")[0].endswith(".data")]
    assert not [top for top in tops if top.endswith(".dist-info") and top.split("-")[0] in LEFT_OUT_DISTRIBUTIONS]
    # Wheels for Lambda (manylinux, x86_64 as the template's Architectures), whatever machine built the zip.
    assert any("manylinux" in tag and tag.endswith("x86_64") for tag in tags), tags
    assert size < ZIP_CEILING_BYTES, f"deployment.zip is {size / 1e6:.1f} MB"
    # Every module with this Python's bytecode beside it (tools/precompile.py), and no other bytecode.
    sources = {n for n in names if n.endswith(".py")}
    assert {n for n in names if n.endswith(".pyc")} == {importlib.util.cache_from_source(n) for n in sources}


def test_the_zip_alone_loads_every_module_of_the_function_and_verifies_a_passkey(
    package: Package, tmp_path: Path
) -> None:
    """What precompile leaves out no route needs: tests/zip_alone.py, in a Python with nothing on its path but the
    unpacked zip and the runtime's boto3, imports app.py, all of chalicelib and everything chalicelib imports,
    runs the calls whose libraries import more as they run, and verifies a passkey made by the suite's software
    authenticator (fmt none, ES256, as tests/test_passkeys.py registers them) with the zip's webauthn."""
    task, runtime = tmp_path / "task", tmp_path / "runtime"
    with zipfile.ZipFile(package.zip_path) as archive:
        archive.extractall(task)
    runtime.mkdir()
    for name in LAMBDA_RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec and spec.origin, name
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (runtime / source.name).symlink_to(source)
    authenticator = Authenticator(origin="https://auth.example.com", rp_id="auth.example.com")
    registration: dict[str, Any] = {"challenge": b64url(os.urandom(32))}
    registration["credential"] = authenticator.create(
        {
            "rp": {"id": authenticator.rp_id},
            "user": {"id": b64url(os.urandom(16))},
            "challenge": registration["challenge"],
            "authenticatorSelection": {"residentKey": "required"},
        }
    )
    authentication: dict[str, Any] = {"challenge": b64url(os.urandom(32))}
    authentication["credential"] = authenticator.get(
        {"challenge": authentication["challenge"], "rpId": "auth.example.com"}
    )
    ceremony = {
        "origin": authenticator.origin,
        "rp_id": authenticator.rp_id,
        "registration": registration,
        "authentication": authentication,
    }
    ran = subprocess.run(
        [sys.executable, "-I", "-S", str(REPO_ROOT / "tests" / "zip_alone.py"), str(task), str(runtime)],
        input=json.dumps(ceremony),
        cwd=task,
        env={"PATH": "", "PYTHONDONTWRITEBYTECODE": "1"},  # /var/task is read-only
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    loaded = set(json.loads(ran.stdout.splitlines()[-1]))
    assert {"app", "chalicelib", "chalice", "webauthn", "OpenSSL", "pyasn1_modules", "cbor2", "_cffi_backend"} <= loaded
    assert {"email_validator", "idna", "phonenumbers", "segno", "pyotp", "jwt", "cryptography"} <= loaded


# -- the CloudFormation template ----------------------------------------------------------------------


def test_the_merged_template_passes_cfn_lint(package: Package) -> None:
    result = subprocess.run(
        [venv_tool("cfn-lint"), "--format", "parseable", str(package.directory / "sam.json")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # Exit status: 0 clean, 2 errors, 4 warnings, 8 informational; all of them fail here.
    assert result.returncode == 0, f"cfn-lint ({result.returncode}):\n{result.stdout}{result.stderr}"


def test_the_table_is_on_demand_with_ttl_and_recovery(package: Package) -> None:
    (table,) = resources(package, "AWS::DynamoDB::Table").values()
    properties = table["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    # The admin routes' indexes, exactly as bootstrap provisions them for `make deploy`.
    assert properties["GlobalSecondaryIndexes"] == list(INDEXES)
    keys = {key["AttributeName"] for index in INDEXES for key in index["KeySchema"]}
    assert {(a["AttributeName"], a["AttributeType"]) for a in properties["AttributeDefinitions"]} == {
        (name, "S") for name in ("pk", *keys)
    }
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionPolicy"] == "Retain"


def test_the_alarms_watch_the_namespace_the_function_writes(package: Package) -> None:
    template = package.template["Resources"]
    namespace = template["APIHandler"]["Properties"]["Environment"]["Variables"]["OTP_METRICS_NAMESPACE"]
    alarms = resources(package, "AWS::CloudWatch::Alarm")
    assert set(alarms) == {"SmsPumpingAlarm", "RefreshReuseAlarm"}
    reuse = alarms["RefreshReuseAlarm"]["Properties"]
    assert (reuse["Namespace"], reuse["MetricName"], reuse["Threshold"]) == (namespace, "RefreshReuse", 0)
    assert reuse["Dimensions"] == [{"Name": "route", "Value": REFRESH_ROUTE}]
    pumping = {query["Id"]: query for query in alarms["SmsPumpingAlarm"]["Properties"]["Metrics"]}
    for query, metric in (("sent", "SmsSent"), ("verified", "SmsVerified")):
        watched = pumping[query]["MetricStat"]["Metric"]
        assert (watched["Namespace"], watched["MetricName"]) == (namespace, metric)
        assert watched["Dimensions"] == [{"Name": "channel", "Value": "sms"}]
        assert metric in METRICS


# The signing keys: P-256 for ES256 access tokens, RSA for ID tokens and RS256 access tokens (OpenID Connect makes
# RS256 mandatory, and an API Gateway HTTP API JWT authorizer accepts only RSA).
SIGNING_KEYS = {"SigningKey": "ECC_NIST_P256", "RsaSigningKey": "RSA_2048"}


@pytest.mark.parametrize("name", SIGNING_KEYS)
def test_each_signing_key_is_of_its_spec_and_named_by_an_alias(package: Package, name: str) -> None:
    template = package.template["Resources"]
    key = template[name]
    assert (key["Type"], key["Properties"]["KeySpec"], key["Properties"]["KeyUsage"]) == (
        "AWS::KMS::Key",
        SIGNING_KEYS[name],
        "SIGN_VERIFY",
    )
    assert key["Properties"]["KeyPolicy"]["Statement"], "a key needs a key policy"
    assert key["DeletionPolicy"] == "Retain"  # a deleted key would make every token it signed unverifiable
    alias = template[f"{name}Alias"]
    assert alias["Properties"]["TargetKeyId"] == {"Ref": name}
    assert alias["Properties"]["AliasName"]["Fn::Sub"].startswith("alias/")  # the runtime requires an alias


def test_the_secret_is_a_generated_hex_key(package: Package) -> None:
    (secret,) = resources(package, "AWS::SecretsManager::Secret").values()
    spec = secret["Properties"]["GenerateSecretString"]
    assert spec["PasswordLength"] == 64
    assert spec.get("SecretStringTemplate") is None  # the whole SecretString is the key, as the runtime reads it
    # What GenerateSecretString may still pick from: lower case and digits (no punctuation, no upper case,
    # no space), minus the excluded characters, is exactly the hex alphabet: 64 hex characters, 256 bits.
    assert spec["ExcludePunctuation"] and spec["ExcludeUppercase"] and not spec.get("IncludeSpace", False)
    alphabet = set("abcdefghijklmnopqrstuvwxyz0123456789") - set(spec["ExcludeCharacters"])
    assert alphabet == set("0123456789abcdef")


def test_the_function_is_wired_to_the_template_resources(package: Package) -> None:
    function = package.template["Resources"]["APIHandler"]["Properties"]
    variables = function["Environment"]["Variables"]
    assert variables["OTP_TABLE"] == {"Ref": "OtpTable"}
    assert variables["OTP_HASH_SECRET_ID"] == {"Ref": "CodeHashSecret"}  # Ref of a secret is its ARN
    assert variables["OTP_SIGNING_KEY_ID"] == {"Ref": "SigningKeyAlias"}  # Ref of an alias is its name
    assert variables["OTP_RSA_SIGNING_KEY_ID"] == {"Ref": "RsaSigningKeyAlias"}
    assert variables["OTP_SENDER"] == {"Ref": "SenderAddress"}
    stage_env = {**CONFIG["environment_variables"], **CONFIG["stages"][package.stage]["environment_variables"]}
    assert variables["OTP_TOKEN_ISSUER"] == stage_env["OTP_TOKEN_ISSUER"]  # the rest still comes from the stage
    assert (function["MemorySize"], function["Timeout"]) == (CONFIG["lambda_memory_size"], CONFIG["lambda_timeout"])


def test_the_log_group_is_the_function_s_and_expires(package: Package) -> None:
    template = package.template["Resources"]
    group = template["ApiHandlerLogGroup"]["Properties"]
    function_name = template["APIHandler"]["Properties"]["FunctionName"]["Fn::Sub"]
    # Chalice 1.34 names the group after a logical id "ApiHandler" that does not exist (the function is
    # "APIHandler"); the merge template names function and group from the stack instead.
    assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/{function_name}"}
    assert group["RetentionInDays"] == CONFIG["stages"][package.stage]["log_retention_in_days"]


def test_the_role_grants_the_same_actions_as_the_stage_policy_on_template_resources(package: Package) -> None:
    role = package.template["Resources"]["ApiHandlerRole"]["Properties"]
    (policy,) = role["Policies"]
    stage_policy = json.loads((REPO_ROOT / ".chalice" / f"policy-{package.stage}.json").read_text())

    def actions(document: dict[str, Any]) -> set[str]:
        listed = (s["Action"] if isinstance(s["Action"], list) else [s["Action"]] for s in document["Statement"])
        return {action for group in listed for action in group if not action.startswith("logs:")}

    assert actions(policy["PolicyDocument"]) == actions(stage_policy)
    # Every grant names a resource this template creates (or its sender parameter), never a name or "*"; SNS
    # texts are the exception, granted on "*" with every SNS ARN denied, and metric reads, which take no resource.
    expected_target = {
        "dynamodb": {"OtpTable"},
        "secretsmanager": {"CodeHashSecret"},
        "kms": set(SIGNING_KEYS),
        "logs": {"ApiHandlerLogGroup"},
        "ses": {"SenderAddress"},
    }
    for statement in policy["PolicyDocument"]["Statement"]:
        services = {
            a.split(":")[0]
            for a in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        }
        (service,) = services
        if service == "sns":
            continue  # a text's target is the number, not a stack resource: test_zz_iam_policy.py proves these
        if service == "cloudwatch":
            assert statement["Resource"] == "*"  # GetMetricData takes no resource (test_zz_iam_policy.py)
            continue
        targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for target in targets:
            assert expected_target[service] & _references(target), f"{statement['Sid']}: {target}"
        if service == "kms":  # both keys sign (tokens of either algorithm) and both are published
            assert {ref for target in targets for ref in _references(target)} == set(SIGNING_KEYS), statement["Sid"]


def test_the_api_is_throttled(package: Package) -> None:
    api = package.template["Resources"]["RestAPI"]["Properties"]
    (settings,) = api["MethodSettings"]
    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    assert settings["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ThrottlingBurstLimit"}
    parameters = package.template["Parameters"]
    assert parameters["ThrottlingBurstLimit"]["Default"] >= parameters["ThrottlingRateLimit"]["Default"] > 0


@pytest.mark.parametrize("kind", ["DEFAULT_4XX", "DEFAULT_5XX", "THROTTLED", "MISSING_AUTHENTICATION_TOKEN"])
def test_gateway_errors_have_the_api_s_json_shape(package: Package, kind: str) -> None:
    definition = package.template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert definition["paths"], "the merge must extend Chalice's swagger, not replace it"
    response = definition["x-amazon-apigateway-gateway-responses"][kind]
    # API Gateway substitutes $context variables (no VTL); messageString arrives already quoted.
    body = response["responseTemplates"]["application/json"].replace(
        "$context.error.messageString", json.dumps("Missing Authentication Token")
    )
    parsed = json.loads(body)
    assert {"message", "code"} <= set(parsed) and re.fullmatch(r"[a-z_]+", parsed["code"])
    headers = {
        name.removeprefix("gatewayresponse.header."): value for name, value in response["responseParameters"].items()
    }
    assert headers["Cache-Control"] == "'no-store'"
    # A page reads the gateway's own errors too (else fetch() only says "Failed to fetch"). A gateway response
    # cannot check an allow-list per origin, and these bodies hold nothing private: "*", which rules out
    # credentials, as the function's answers never use them either (the bearer token is a header).
    assert headers["Access-Control-Allow-Origin"] == "'*'"
    assert headers["Access-Control-Expose-Headers"] == f"'{EXPOSED_HEADERS}'"
    assert "Access-Control-Allow-Credentials" not in headers


# Lambda holds all of a function's environment variables in 4 KB together (its quotas). Counted here as their JSON,
# which is more than names and values alone, less a margin for the stack's values, which are longer than the names
# they replace (the secret's ARN, the table's generated name).
ENVIRONMENT_BYTES = 4096 - 256


@pytest.mark.parametrize("stage", DEPLOYED_STAGES)
def test_the_stage_s_environment_fits_in_lambda_s_4_kb(stage: str) -> None:
    size = len(json.dumps(load_stage_env(stage)).encode())
    assert size <= ENVIRONMENT_BYTES, f"{stage}: {size} bytes of environment; OTP_OAUTH_CLIENTS is what grows"


# -- make ---------------------------------------------------------------------------------------------


def make_dry_run(*args: str) -> subprocess.CompletedProcess[str]:
    """``make -n``: prints the recipes without running them (the stage guard still stops at expansion)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}  # under make test
    return subprocess.run(
        ["make", "-n", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("stage", ["local", "", "qa", "dev prod"])
def test_make_refuses_anything_but_a_deployed_stage(stage: str) -> None:
    for target in ("deploy", "package"):
        result = make_dry_run(target, f"STAGE={stage}")
        assert result.returncode != 0 and "STAGE must be one of" in result.stderr


@pytest.mark.parametrize("stage", DEPLOYED_STAGES)
def test_make_deploy_provisions_before_deploying(stage: str) -> None:
    result = make_dry_run("deploy", f"STAGE={stage}")
    assert result.returncode == 0, result.stderr
    commands = [line for line in result.stdout.splitlines() if "-m tools." in line or "chalice " in line]
    assert commands == [
        f".venv/bin/python -m tools.bootstrap --stage {stage}",
        f".venv/bin/python -m tools.log_retention --stage {stage}",
        f".venv/bin/chalice deploy --stage {stage}",
    ]
    packaged = make_dry_run("package", f"STAGE={stage}").stdout
    assert f"chalice package --stage {stage} --merge-template deploy/resources.json out/{stage}" in packaged


def _references(value: Any) -> set[str]:
    """Logical ids and parameters a CloudFormation value refers to through Ref, Fn::GetAtt or Fn::Sub."""
    if isinstance(value, dict):
        found: set[str] = set()
        for key, inner in value.items():
            if key == "Ref":
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found |= {name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text)}
                if isinstance(inner, list):
                    found |= _references(inner[1])
            else:
                found |= _references(inner)
        return found
    if isinstance(value, list):
        return {ref for item in value for ref in _references(item)}
    return set()
