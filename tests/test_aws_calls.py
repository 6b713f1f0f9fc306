"""The suite's record of AWS calls (tests/aws_calls.py) validates what the service's clients no longer do."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ParamValidationError

from chalicelib import wiring
from tests.aws_calls import Recorder


def test_the_service_clients_skip_botocore_validation_and_the_recorder_does_it_instead(
    aws: None, stage_env: dict[str, str]
) -> None:
    client = wiring.get_client("dynamodb")
    # A recorder that takes this file's frames for the runtime's, on this client only.
    recorder = Recorder(Path(__file__).resolve().parent)
    client.meta.events.register("before-parameter-build", recorder)
    try:
        with pytest.raises(ParamValidationError, match="TableName"):
            client.get_item(TableName=7, Key={"pk": {"S": "x"}})
        with pytest.raises(ParamValidationError, match="Unknown parameter"):
            client.get_item(TableName=stage_env["OTP_TABLE"], Key={"pk": {"S": "x"}}, Bogus=True)
        assert client.get_item(TableName=stage_env["OTP_TABLE"], Key={"pk": {"S": "x"}})["ResponseMetadata"]
    finally:
        client.meta.events.unregister("before-parameter-build", recorder)
    # Without the recorder, the same bad call goes out unchecked: the client really does not validate.
    with pytest.raises(Exception) as raised:
        client.get_item(TableName=7, Key={"pk": {"S": "x"}})
    assert not isinstance(raised.value, ParamValidationError)
