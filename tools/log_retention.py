"""Give the API function's real log group the stage's ``log_retention_in_days``, before ``chalice deploy``.

Why this exists: Chalice 1.34's ``chalice deploy`` creates the retention-bearing log group under the name
``/aws/lambda/<app>-<stage>-api_handler``, but names the API handler function ``<app>-<stage>``, and the
Lambda service writes to ``/aws/lambda/<function name>``. Left alone, the real log group would be created on the
first invocation with no retention (logs kept forever, billed forever). ``chalice package`` has the same setting
right apart from a wrong logical id, which ``deploy/resources.json`` corrects.

Creating the group before the first deployment also means the function never needs to create it.

    python -m tools.log_retention --stage prod [--dry-run] [--region R] [--endpoint-url URL]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from tools.bootstrap import CHALICE_CONFIG, CREATED, UNCHANGED, UPDATED, BootstrapError, Step


def _planned(action: str, dry_run: bool) -> str:
    return f"would be {action}" if dry_run else action


def function_log_group(config: Mapping[str, Any], stage: str) -> str:
    """The group the stage's API handler logs to: Chalice names that function ``<app_name>-<stage>``."""
    return f"/aws/lambda/{config['app_name']}-{stage}"


def retention_days(config: Mapping[str, Any], stage: str) -> int | None:
    """The stage's ``log_retention_in_days`` (the stage's own value first, as Chalice looks it up), or None.

    Raises BootstrapError if the stage is not in the config.
    """
    stages = config.get("stages", {})
    if stage not in stages:
        raise BootstrapError(f"stage {stage!r} is not in the Chalice config (known: {', '.join(stages)})")
    value = stages[stage].get("log_retention_in_days", config.get("log_retention_in_days"))
    return None if value is None else int(value)


def ensure_log_group(logs: Any, name: str, days: int, *, dry_run: bool = False) -> Step:
    """Make sure log group ``name`` exists and keeps events for ``days`` days; never deletes anything.

    A group with another retention (or none) is updated to ``days``; with ``dry_run`` nothing is changed.
    """
    groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    group = next((g for g in groups if g["logGroupName"] == name), None)
    if group is None:
        if not dry_run:
            logs.create_log_group(logGroupName=name)
            logs.put_retention_policy(logGroupName=name, retentionInDays=days)
        return Step("log group", name, _planned(CREATED, dry_run), f"{days} days")
    current = group.get("retentionInDays")
    if current == days:
        return Step("log group", name, UNCHANGED, f"{days} days")
    if not dry_run:
        logs.put_retention_policy(logGroupName=name, retentionInDays=days)
    before = "never expire" if current is None else f"{current} days"
    return Step("log group", name, _planned(UPDATED, dry_run), f"{before} -> {days} days")


def main(argv: Sequence[str] | None = None) -> int:
    """Apply the stage's retention and print the step; return 0, or 1 with a one-line error."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.log_retention", description="Apply a stage's log retention to its function's log group."
    )
    parser.add_argument("--stage", required=True, help="Chalice stage, e.g. dev or prod")
    parser.add_argument("--endpoint-url", help="AWS endpoint, e.g. a local moto server")
    parser.add_argument("--region", help="AWS region (default: boto3's)")
    parser.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    parser.add_argument("--config", type=Path, default=CHALICE_CONFIG, help="Chalice config file")
    args = parser.parse_args(argv)
    try:
        config = json.loads(args.config.read_text())
        days = retention_days(config, args.stage)
        if days is None:
            print(f"stage {args.stage} sets no log_retention_in_days: nothing to do")
            return 0
        logs = boto3.Session(region_name=args.region).client("logs", endpoint_url=args.endpoint_url)
        step = ensure_log_group(logs, function_log_group(config, args.stage), days, dry_run=args.dry_run)
    except (BootstrapError, BotoCoreError, ClientError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(step)
    return 0


if __name__ == "__main__":
    sys.exit(main())
