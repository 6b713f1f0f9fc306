"""A record of every AWS call the runtime code makes while the test suite runs.

The recorder is a botocore event handler for ``before-parameter-build``, which every client emits with the
operation and its parameters just before serialising a request. It is installed once, when ``conftest.py`` is
imported, into botocore's list of built-in handlers, so every session created afterwards carries it: the botocore
session ``chalicelib.wiring`` builds its clients from, boto3's default session, the sessions the tests and
``tools.bootstrap`` create, and those moto works behind.

Only the deployed function's calls matter for its IAM policy, so a call is recorded only when a frame of a file
under ``chalicelib/`` is on the stack: provisioning in fixtures, ``tools/bootstrap.py`` and assertions that read
moto's state directly are left out. The record keeps the parameters that name a resource (table, key, secret,
sender, topic) and, for transactions, the kind of each item, because IAM authorises each item as its own action.
A phone number is personal data and every number is authorised alike, so a call records only that it passed one.

The recorder also validates each runtime call's parameters against the operation's model, raising botocore's own
``ParamValidationError`` from the call: the service's clients skip that check (``chalicelib.wiring``), and the
suite keeps it.
"""

from __future__ import annotations

import re
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore import handlers
from botocore.validate import validate_parameters

RUNTIME_DIR = Path(__file__).resolve().parents[1] / "chalicelib"
EVENT = "before-parameter-build"
# Request parameters that name the resource an operation acts on, for the services the runtime may call.
NAMING_PARAMETERS = (
    "TableName",
    "IndexName",
    "KeyId",
    "SecretId",
    "Name",
    "FromEmailAddress",
    "FromEmailAddressIdentityArn",
    "ConfigurationSetName",
    "TopicArn",
    "TargetArn",
    # Not a name, but it says which kind of key a signature needs (P-256 or RSA), so which alias the grant must name.
    "SigningAlgorithm",
)
# Parameters recorded only as present: their value is personal data and does not change the authorisation.
PRESENT_PARAMETERS = ("PhoneNumber",)
PRESENT = "<present>"


@dataclass(frozen=True)
class AwsCall:
    """One distinct call: ``service`` as botocore names it (``dynamodb``, ``sesv2``, ...) and its ``operation``.

    ``names`` holds the parameters of :data:`NAMING_PARAMETERS` that the call passed, and those of
    :data:`PRESENT_PARAMETERS` it passed with the value :data:`PRESENT`; ``items`` the kind of each
    item of a transaction (``Update``, ``ConditionCheck``, ...) and the table it targets; ``caller`` the innermost
    ``chalicelib`` line that made the call, to say where a missing permission comes from.
    """

    service: str
    operation: str
    names: tuple[tuple[str, str], ...]
    items: tuple[tuple[str, str], ...]
    caller: str

    def name(self, parameter: str) -> str | None:
        return dict(self.names).get(parameter)


class Recorder:
    """Counts the distinct runtime calls; safe to call from the threads the concurrency tests start."""

    def __init__(self, runtime_dir: Path) -> None:
        self.calls: Counter[AwsCall] = Counter()
        self.longest_expression = 0  # characters, over every DynamoDB expression the runtime sent
        self.bare_names: set[str] = set()  # attribute names written into an expression instead of a placeholder
        self._prefix = str(runtime_dir) + "/"
        self._lock = threading.Lock()
        self._installed = False

    def install(self) -> None:
        """Report the calls of every botocore session created from now on (idempotent)."""
        if self._installed:
            return
        handlers.BUILTIN_HANDLERS.append((EVENT, self))
        # A default session made before this point would miss the built-in handler; give it the hook directly.
        if boto3.DEFAULT_SESSION is not None:
            boto3.DEFAULT_SESSION.events.register(EVENT, self)
        self._installed = True

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        caller = self._runtime_caller()
        if caller is None:
            return
        validate_parameters(params, model.input_shape)  # what the service's clients do not (module docstring)
        names = tuple((key, str(params[key])) for key in NAMING_PARAMETERS if key in params) + tuple(
            (key, PRESENT) for key in PRESENT_PARAMETERS if key in params
        )
        items = tuple(
            (kind, str(body.get("TableName", "")))
            for item in params.get("TransactItems", [])
            for kind, body in item.items()
        )
        call = AwsCall(model.service_model.service_name, model.name, names, items, caller)
        expressions = [body for item in params.get("TransactItems", []) for body in item.values()] + [params]
        with self._lock:
            self.calls[call] += 1
            for body in expressions:
                for name in EXPRESSIONS:
                    expression = str(body.get(name, ""))
                    self.longest_expression = max(self.longest_expression, len(expression))
                    self.bare_names.update(set(WORDS.findall(expression)) - EXPRESSION_WORDS)

    def _runtime_caller(self) -> str | None:
        frame = sys._getframe(2)
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename.startswith(self._prefix):
                return f"chalicelib/{filename[len(self._prefix) :]}:{frame.f_lineno}"
            frame = frame.f_back
        return None

    def operations(self) -> set[tuple[str, str]]:
        return {(call.service, call.operation) for call in self.calls}


EXPRESSIONS = ("UpdateExpression", "ConditionExpression", "ProjectionExpression", "KeyConditionExpression")
# Words an expression may hold that are not attribute names: keywords and functions. Placeholders (#n0, :v0)
# are not matched, since WORDS only finds words that do not follow # or :.
EXPRESSION_WORDS = frozenset(
    {
        "SET",
        "REMOVE",
        "ADD",
        "DELETE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "BETWEEN",
        "if_not_exists",
        "list_append",
        "attribute_exists",
        "attribute_not_exists",
        "attribute_type",
        "begins_with",
        "contains",
        "size",
    }
)
WORDS = re.compile(r"(?<![#:\w])[A-Za-z_]\w*")

RECORDER = Recorder(RUNTIME_DIR)
