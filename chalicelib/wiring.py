"""Builds the service from the stage's settings, lazily and once per Lambda container.

Nothing here runs at import time: a cold start pays only for what the first request needs, and Chalice's
test client (which sets stage variables only during a request) sees the right settings.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.config import Config

from chalicelib.accounts.identifiers import PHONE
from chalicelib.accounts.sessions import SessionService
from chalicelib.accounts.store import AccountStore
from chalicelib.accounts.tokens import ALGORITHM, RS256, AccessTokens, KmsKeys
from chalicelib.aws.keys import load_hash_key
from chalicelib.aws.mailer import SesMailer
from chalicelib.aws.models import TrimmedDataLoader
from chalicelib.aws.texter import SnsTexter
from chalicelib.config import Settings
from chalicelib.crypto import KeyedHasher
from chalicelib.mfa.challenge import Challenges
from chalicelib.oauth import clients
from chalicelib.otp import sms_text
from chalicelib.otp.messages import CodeMails, CodeSender, CodeTexts
from chalicelib.otp.service import OtpService
from chalicelib.otp.store import CodeStore

if TYPE_CHECKING:
    from chalicelib.admin.service import AdminService
    from chalicelib.admin.stats import MetricsReader
    from chalicelib.mfa.service import MfaService
    from chalicelib.oauth.service import OAuthService
    from chalicelib.passkeys.service import PasskeyService

# Fail fast: one call's worst case, (1 s + 2 s) x 2 attempts + backoff, stays near 7 s, so even a request that
# makes a second call after a hung one answers its own 503 within the 10 s Lambda timeout, never a gateway 504.
# No client-side parameter validation: AWS validates every request itself, and botocore's own walk through every
# parameter of every call was about a fifth of the service's warm time per request. The test suite still
# validates every call chalicelib makes, as botocore would have (tests/aws_calls.py).
CLIENT_CONFIG = Config(
    connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 2}, parameter_validation=False
)
# The service's clock; tests replace it before the first request to move time at will.
CLOCK = time.time


def read_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The stage's settings from ``env`` (default ``os.environ``), each value checked, and what they make: texts
    of one GSM-7 segment, OpenID Connect clients that are well declared. Raises ConfigError naming the variable to
    change."""
    settings = Settings.from_environ(env)
    sms_text.check_settings(settings)
    clients.check_settings(settings)
    return settings


@functools.cache
def get_settings() -> Settings:
    settings = read_settings()
    # The access log is printed, not logged: LOG_LEVEL governs the diagnostics only.
    logging.getLogger("chalicelib").setLevel(settings.log_level)
    return settings


@functools.cache
def get_aws_session() -> botocore.session.Session:
    """botocore's own session: boto3's clients are these, and importing boto3 adds some 40 ms to a cold start.

    Its clients read botocore's data trimmed to the calls the function makes (chalicelib/aws/models.py)."""
    session = botocore.session.get_session()
    session.register_component("data_loader", TrimmedDataLoader())
    return session


@functools.cache
def get_client(service: str) -> Any:
    """One client per service and container; ``AWS_ENDPOINT_URL`` redirects them to a local AWS."""
    return get_aws_session().create_client(service, config=CLIENT_CONFIG)


@functools.cache
def get_hasher() -> KeyedHasher:
    return KeyedHasher(load_hash_key(get_settings(), get_client))


@functools.cache
def get_keys() -> dict[str, KmsKeys]:
    """The stage's signing keys by JWS algorithm: P-256 (ES256) and RSA (RS256), each read from KMS when first used."""
    settings = get_settings()
    return {
        ALGORITHM: KmsKeys(get_client, (settings.signing_key_id, *settings.previous_signing_key_ids)),
        RS256: KmsKeys(get_client, (settings.rsa_signing_key_id, *settings.previous_rsa_signing_key_ids), RS256),
    }


@functools.cache
def get_accounts() -> AccountStore:
    settings = get_settings()
    return AccountStore(get_client("dynamodb"), settings.table_name, get_hasher().sealer(), settings.limits)


@functools.cache
def get_sessions() -> SessionService:
    settings = get_settings()
    tokens = AccessTokens(
        get_keys(),
        settings.token_issuer,
        settings.token_audience,
        settings.limits.access_token_seconds,
        settings.access_token_algorithm,
    )
    return SessionService(get_accounts(), tokens, get_hasher(), settings.limits)


@functools.cache
def get_sender(kind: str) -> CodeSender:
    """The sender of codes to identifiers of ``kind``: its client is built only when a code goes that way."""
    settings = get_settings()
    if kind == PHONE:
        return CodeTexts(SnsTexter(get_client("sns"), settings), settings)
    return CodeMails(SesMailer(get_client("sesv2"), settings.sender, settings.service_name), settings.service_name)


@functools.cache
def get_service() -> OtpService:
    settings = get_settings()
    return OtpService(
        store=CodeStore(get_client("dynamodb"), settings.table_name, settings.limits, get_accounts()),
        accounts=get_accounts(),
        senders=get_sender,
        sessions=get_sessions(),
        hasher=get_hasher(),
        limits=settings.limits,
        clock=CLOCK,
        challenges=get_challenges(),
    )


@functools.cache
def get_challenges() -> Challenges:
    settings = get_settings()
    return Challenges(get_hasher(), settings.limits, settings.passkeys)


@functools.cache
def get_mfa() -> MfaService:
    """Two-step sign-in; its module (and pyotp with it) is imported only when a /mfa route first needs it."""
    from chalicelib.mfa.service import MfaService
    from chalicelib.mfa.store import MfaStore

    settings = get_settings()
    store = MfaStore(get_client("dynamodb"), settings.table_name, get_hasher().sealer(), settings.limits)
    return MfaService(
        store,
        get_challenges(),
        get_sessions(),
        get_accounts(),
        get_hasher(),
        settings.limits,
        settings.totp_issuer_name,
    )


@functools.cache
def get_admin() -> AdminService:
    """The admin core: imported at the first admin request, as its routes are (app.py)."""
    from chalicelib.admin.service import AdminService
    from chalicelib.admin.store import AdminStore

    settings = get_settings()
    store = AdminStore(
        get_client("dynamodb"),
        settings.table_name,
        get_accounts(),
        get_hasher().sealer(),
        settings.audit_retention_days,
    )
    return AdminService(store, get_hasher(), settings.limits, CLOCK)


@functools.cache
def get_oauth() -> OAuthService:
    """The OpenID Connect provider: imported at the first request of its routes, as they are (app.py)."""
    from chalicelib.oauth import service
    from chalicelib.oauth.clients import Clients
    from chalicelib.oauth.store import OAuthStore

    settings = get_settings()
    store = OAuthStore(
        get_client("dynamodb"),
        settings.table_name,
        get_accounts(),
        get_hasher().sealer(),
        settings.limits.oauth_code_seconds,
    )
    return service.OAuthService(
        store,
        get_accounts(),
        get_sessions(),
        get_keys(),
        get_hasher(),
        Clients.parse(settings.oauth_clients),
        service.Settings(settings.token_issuer, settings.oauth_login_url or "", settings.limits, settings.passkeys),
    )


@functools.cache
def get_passkeys() -> PasskeyService:
    """Passkeys: imported (and the webauthn package with them) at the first request of their routes (app.py)."""
    from chalicelib.passkeys.service import PasskeyService
    from chalicelib.passkeys.store import PasskeyStore

    settings = get_settings()
    store = PasskeyStore(
        get_client("dynamodb"), settings.table_name, get_hasher().sealer(), get_accounts(), settings.limits
    )
    return PasskeyService(store, get_sessions(), get_accounts(), get_challenges(), get_hasher(), settings)


@functools.cache
def get_metrics() -> MetricsReader:
    from chalicelib.admin.stats import MetricsReader

    settings = get_settings()
    return MetricsReader(get_client("cloudwatch"), settings.metrics_namespace, settings.sms_countries)


def now() -> int:
    return int(CLOCK())


def reset() -> None:
    """Forget everything built so far (tests switch stages and settings between cases)."""
    for cached in (
        get_settings,
        get_aws_session,
        get_client,
        get_hasher,
        get_keys,
        get_accounts,
        get_sessions,
        get_sender,
        get_service,
        get_challenges,
        get_mfa,
        get_admin,
        get_oauth,
        get_passkeys,
        get_metrics,
    ):
        cached.cache_clear()
