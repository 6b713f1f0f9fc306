"""botocore's data for the AWS services this function calls, trimmed to the operations it calls.

Building a botocore client reads the service's model (``service-2.json``), and the first client of a session
also reads ``endpoints.json`` and lists every service botocore knows (twice: models and endpoint rule sets). With
botocore's full data that is a large share of a first request's time: listings of ~430 model directories, and
the parsing of models that describe up to hundreds of operations with their documentation and of the endpoints
of every service in every partition; three clients take about four times as long to build as from the trimmed
data. :data:`OPERATIONS` declares, once, what the function calls; ``botocore_data/`` next to this module holds
botocore's own data trimmed to it (``python -m tools.slim_models`` writes it from the installed botocore,
``tests/test_botocore_data.py`` checks that it is current and that its clients send what botocore's own would;
tests/test_zz_iam_policy.py that the suite calls exactly these operations), and :class:`TrimmedDataLoader`
reads that directory first.

Everything else still comes from the botocore of the runtime, which may be older or newer than the one that
wrote the data: the endpoint rule sets, ``partitions.json``, ``_retry.json``, ``sdk-default-configuration.json``
and any ``service-2.sdk-extras.json`` are found further down the search path, in botocore's own directory.
"""

from __future__ import annotations

from pathlib import Path

from botocore.loaders import Loader

# The operations the runtime calls, by botocore service name (tests/test_zz_iam_policy.py compares this with the
# calls the test suite saw chalicelib make, both ways). A client has a method for these only.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "cloudwatch": ("GetMetricData",),  # chalicelib/admin/stats.py
    # chalicelib/{otp,accounts,mfa,admin}/store.py and aws/writes.py: every write is a conditional update or
    # a transaction of them (and the admin's audit Put, which travels inside a transaction).
    "dynamodb": ("BatchGetItem", "GetItem", "Query", "TransactWriteItems", "UpdateItem"),
    "kms": ("GetPublicKey", "Sign"),  # chalicelib/accounts/tokens.py
    "secretsmanager": ("GetSecretValue",),  # chalicelib/aws/keys.py, without the secrets extension
    "sesv2": ("SendEmail",),  # chalicelib/aws/mailer.py
    "sns": ("Publish",),  # chalicelib/aws/texter.py
    "ssm": ("GetParameter",),  # chalicelib/aws/keys.py, for an OTP_HASH_SECRET_ID of ssm:/name
}

DATA_DIR = Path(__file__).resolve().with_name("botocore_data")
# Where botocore's loader says it found the endpoints: the file's path without its ".json".
ENDPOINTS_PATH = str(DATA_DIR / "endpoints")


class TrimmedDataLoader(Loader):
    """A botocore data loader that serves :data:`OPERATIONS`' services from :data:`DATA_DIR` first.

    The search path is :data:`DATA_DIR`, then botocore's default paths (``~/.aws/models``, then botocore's own
    data). The contract, for a session that has this loader as its ``data_loader`` component:

    - it builds clients for the services of :data:`OPERATIONS` only, each with only the declared operations'
      methods; any other service is an ``UnknownServiceError``. Credential sources that build a client of their
      own (an assume-role or SSO profile, web identity) are among them: Lambda's credentials come from the
      environment, and the tests' from fake variables.
    - a client resolves its endpoint and signs as one built from botocore's full data does: the same
      rule set (the runtime's), and the same legacy endpoint data for the services kept.
    """

    def __init__(self) -> None:
        super().__init__(extra_search_paths=[str(DATA_DIR)])

    def list_available_services(self, type_name: str) -> list[str]:
        """The declared services, for any kind of data: botocore asks this before it loads any model, and the
        stock loader answers by listing every model directory on the search path (twice: models and rule sets).
        A kind a service lacks (no waiters, say) is still a ``DataNotFoundError`` when it is loaded."""
        return sorted(OPERATIONS)

    def is_builtin_path(self, path: str) -> bool:
        """True for botocore's own directory, as in botocore, and for the shipped ``endpoints.json``.

        That file is botocore's built-in endpoint data with only the other services taken out. For data that is
        not built in, botocore hands the legacy endpoint it resolved to the rule set as ``SDK::Endpoint``
        (``ClientArgsCreator.compute_endpoint_resolver_builtin_defaults``), which turns off FIPS and dual-stack
        resolution and pins whatever endpoints.json says over the rule set's answer.
        """
        return path == ENDPOINTS_PATH or super().is_builtin_path(path)
