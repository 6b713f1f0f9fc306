"""The environment of a child process that must not reach a real AWS account: `offline_aws_env`.

One builder for every process this repository starts against AWS that is not there: `make run`'s stack and the
bench's cold starts (pointed at the embedded AWS), `make package` and the handler-overhead bench (no AWS at all),
and the tests that start them. The rule lives once, so that no caller forgets a variable through which botocore
would find a developer's real credentials.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_REGION = "us-east-1"


def offline_aws_env(environ: Mapping[str, str], endpoint_url: str | None = None) -> dict[str, str]:
    """``environ`` with every AWS_* setting replaced: fake keys, no configuration files, one region (the caller's,
    else us-east-1: Chalice and botocore want one), and the embedded AWS's endpoint when ``endpoint_url`` is given.

    Dropping AWS_PROFILE, AWS_SESSION_TOKEN, AWS_ENDPOINT_URL_<SERVICE> and ~/.aws/* keeps a developer's real
    account out of reach.
    """
    env = {name: value for name, value in environ.items() if not name.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    if endpoint_url is not None:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    return env
