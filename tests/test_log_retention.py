"""tools/log_retention: the stage's retention lands on the log group the API function really writes to."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tools.bootstrap import CHALICE_CONFIG, CREATED, UNCHANGED, UPDATED, BootstrapError
from tools.log_retention import ensure_log_group, function_log_group, main, retention_days

CONFIG = json.loads(CHALICE_CONFIG.read_text())
GROUP = "/aws/lambda/otp-signin-prod"


def retention(logs: Any, name: str = GROUP) -> int | None:
    groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    return next(g.get("retentionInDays") for g in groups if g["logGroupName"] == name)


def test_the_group_is_the_one_chalice_names_the_api_function_after() -> None:
    # chalice deploy names the API handler <app>-<stage>; its own log group resource says ...-api_handler.
    assert function_log_group(CONFIG, "prod") == GROUP


def test_deployed_stages_keep_logs_for_a_bounded_time() -> None:
    assert retention_days(CONFIG, "prod") == 90
    assert retention_days(CONFIG, "dev") == 14
    assert retention_days(CONFIG, "local") is None
    with pytest.raises(BootstrapError, match="qa"):
        retention_days(CONFIG, "qa")


def test_creates_then_leaves_alone_then_corrects(aws: None) -> None:
    logs = boto3.client("logs")
    dry = ensure_log_group(logs, GROUP, 90, dry_run=True)
    assert dry.action == f"would be {CREATED}" and not logs.describe_log_groups()["logGroups"]
    assert ensure_log_group(logs, GROUP, 90).action == CREATED
    assert retention(logs) == 90
    assert ensure_log_group(logs, GROUP, 90).action == UNCHANGED
    logs.delete_retention_policy(logGroupName=GROUP)  # as Lambda leaves a group it created itself
    step = ensure_log_group(logs, GROUP, 90)
    assert (step.action, step.note) == (UPDATED, "never expire -> 90 days")
    assert retention(logs) == 90


def test_a_prefix_match_is_not_the_group(aws: None) -> None:
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName=f"{GROUP}-api_handler")  # the group chalice deploy itself creates
    assert ensure_log_group(logs, GROUP, 90).action == CREATED
    assert retention(logs, f"{GROUP}-api_handler") is None


def test_main_prints_the_step(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stage", "prod"]) == 0
    assert capsys.readouterr().out.strip() == f"log group {GROUP}: {CREATED} (90 days)"
    assert main(["--stage", "local"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert main(["--stage", "qa"]) == 1
    assert "qa" in capsys.readouterr().err
