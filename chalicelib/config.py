"""Per-stage settings: every setting is declared here, once, and nowhere else.

Each field of ``Settings`` and ``Limits`` carries its declaration: the environment variable that fills it, its
default, the values it accepts and what it means. ``Limits()`` is the defaults. ``Settings.from_environ`` reads a
stage's environment and refuses a missing, malformed or out-of-bounds value with a ``ConfigError`` naming the
variable. ``SETTINGS`` lists every declaration.

Values come from environment variables, which Chalice fills from the stage's ``environment_variables`` in
``.chalice/config.json``. They are read when first needed, not at import time, because Chalice's test client
only sets a stage's variables while it handles a request.
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple
from urllib.parse import urlsplit

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
OFF, OPTIONAL, REQUIRED = "OFF", "OPTIONAL", "REQUIRED"
MFA_POLICIES = (OFF, OPTIONAL, REQUIRED)
# A subscriber is routed at least a /64 (RFC 6177; 3GPP gives each mobile device one), so a /64 is one party
# (chalicelib/http/network.py).
IPV6_PREFIX_LENGTH = 64
DEFAULT_SMS_TEMPLATE = "{code} is your {service} code. It is valid for {minutes} minutes."
HOST_CHARACTERS = frozenset(string.ascii_lowercase + string.digits + "-")
MAX_HOST_LENGTH = 253
MAX_LABEL_LENGTH = 63


class ConfigError(RuntimeError):
    """A required setting is missing or malformed; the service cannot run safely without it."""


class Window(NamedTuple):
    """At most ``limit`` events per fixed, clock-aligned window of ``seconds``; ``limit`` 0 switches it off."""

    limit: int
    seconds: int

    @property
    def enabled(self) -> bool:
        return self.limit > 0


def is_origin_host(host: str) -> bool:
    """Whether ``host`` may be the host of an origin-bound line (``@<host> #<code>``): a bare DNS name.

    The line names a host and nothing else: the WICG's "Origin-bound one-time codes delivered via SMS" makes its
    origin ("https", host, no port), and Chromium's WebOTP parser reads only ``[A-Za-z0-9.-]`` after the ``@``
    (a scheme, a port or a path makes no line at all) and binds ``localhost`` to http://localhost. So a host is
    dot-separated labels of ASCII letters, digits and hyphens (an internationalised name in its ``xn--`` form),
    each 1 to 63 characters and neither starting nor ending with a hyphen, at most 253 in all, its last
    label not all digits: an IP address names no site (an IPv4 address is all digits, an IPv6 one has colons).
    ``localhost`` is such a name.
    """
    labels = host.lower().split(".")
    return (
        len(host) <= MAX_HOST_LENGTH
        and not labels[-1].isdigit()
        and all(
            0 < len(label) <= MAX_LABEL_LENGTH
            and set(label) <= HOST_CHARACTERS
            and not label.startswith("-")
            and not label.endswith("-")
            for label in labels
        )
    )


def _origin_host(issuer: str) -> str | None:
    """The host of ``issuer`` (a URL), lower-cased and without its port, if it may bind codes (:func:`is_origin_host`).

    The spec matches the line to the page same-site, but some browsers match the origin exactly: a sign-in page on
    another host than the token issuer's names its own with ``OTP_SMS_WEBOTP_DOMAIN``. An issuer on an IP address,
    as the local stage's http://127.0.0.1:8000, binds no code: its texts carry no line.
    """
    try:
        host = urlsplit(issuer).hostname
    except ValueError:  # a malformed URL (an unclosed IPv6 bracket): nothing to bind to
        return None
    return host if host and is_origin_host(host) else None


class Integer(NamedTuple):
    """A whole number from ``minimum`` to ``maximum`` (None: no upper bound); unset or blank means ``default``."""

    name: str
    default: int
    meaning: str
    minimum: int
    maximum: int | None = None

    def read(self, env: Mapping[str, str]) -> int:
        raw = env.get(self.name, "")
        if not raw.strip():
            return self.default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{self.name} must be a whole number, not {raw!r}") from None
        if value < self.minimum or (self.maximum is not None and value > self.maximum):
            upper = "" if self.maximum is None else self.maximum
            raise ConfigError(f"{self.name}={value} is outside {self.minimum}..{upper}")
        return value


class Text(NamedTuple):
    """A string, surrounding blanks dropped; unset or blank means ``default``, or is refused if ``required``.

    A ``one_line`` string has no control character: it goes into a mail header, where a line break would end it.
    """

    name: str
    default: str | None
    meaning: str
    required: bool = False
    one_line: bool = False

    def read(self, env: Mapping[str, str]) -> str | None:
        value = env.get(self.name, "").strip()
        if not value and self.required:
            raise ConfigError(f"{self.name} is not set")
        if self.one_line and any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in value):  # C0, DEL, C1
            raise ConfigError(f"{self.name} must be one line without control characters, not {value!r}")
        return value or self.default


class Host(NamedTuple):
    """A bare host name, lower-cased (:func:`is_origin_host`: no scheme, port or path); unset or blank means
    ``default``."""

    name: str
    default: str | None
    meaning: str

    def read(self, env: Mapping[str, str]) -> str | None:
        value = env.get(self.name, "").strip()
        if not value:
            return self.default
        if not is_origin_host(value):
            raise ConfigError(f"{self.name} must be a bare host name such as signin.example.com, not {value!r}")
        return value.lower()


class Listing(NamedTuple):
    """Comma-separated values, blanks dropped; unset means ``default``, set but blank means none."""

    name: str
    meaning: str
    default: tuple[str, ...] = ()

    def read(self, env: Mapping[str, str]) -> tuple[str, ...]:
        if self.name not in env:
            return self.default
        return tuple(item.strip() for item in env[self.name].split(",") if item.strip())


class Choice(NamedTuple):
    """One of ``choices``, in any case; unset or blank means ``default``."""

    name: str
    default: str
    meaning: str
    choices: tuple[str, ...]

    def read(self, env: Mapping[str, str]) -> str:
        value = env.get(self.name, "").strip().upper() or self.default
        if value not in self.choices:
            raise ConfigError(f"{self.name} must be one of {', '.join(self.choices)}, not {value!r}")
        return value


Setting = Integer | Text | Listing | Choice | Host
"""One environment variable and the rules for its value."""


class Windowed(NamedTuple):
    """A ``Window`` read from two settings: how many events, and per how many seconds."""

    limit: Integer
    seconds: Integer

    @property
    def default(self) -> Window:
        return Window(self.limit.default, self.seconds.default)

    def read(self, env: Mapping[str, str]) -> Window:
        return Window(self.limit.read(env), self.seconds.read(env))


_DECLARATION = "declaration"


def _declared(declaration: Setting) -> Any:
    """A ``Settings`` field: no default of its own, since only ``from_environ`` builds one."""
    return field(metadata={_DECLARATION: declaration})


def _defaulted(declaration: Integer | Windowed | Choice) -> Any:
    """A ``Limits`` field, whose default is the declared one, so that ``Limits()`` is the defaults."""
    return field(default=declaration.default, metadata={_DECLARATION: declaration})


@dataclass(frozen=True)
class Limits:
    """The numbers of the security model (see docs/security-model.md)."""

    code_digits: int = _defaulted(Integer("OTP_CODE_DIGITS", 6, "code length", minimum=6, maximum=10))
    # OWASP ASVS 5.0 6.5.5: at most 10 minutes
    code_ttl_seconds: int = _defaulted(Integer("OTP_CODE_TTL_SECONDS", 600, "code lifetime", minimum=60))
    max_guesses_per_code: int = _defaulted(Integer("OTP_MAX_ATTEMPTS", 6, "guesses per code", minimum=1))
    # NIST SP 800-63B-4 3.2.2: at most 100 consecutive failures; 50 per fixed window is 100 across a boundary
    failure_budget: Window = _defaulted(
        Windowed(
            Integer(
                "OTP_FAILURE_BUDGET",
                50,
                "wrong codes at an address's live codes per window, from anywhere: the ceiling",
                minimum=1,
            ),
            Integer("OTP_FAILURE_WINDOW_SECONDS", 86_400, "the ceiling's window", minimum=60),
        )
    )
    # A stranger exhausts only their own network's budgets, never the owner's sign-in from elsewhere.
    failures_per_ip_and_address: Window = _defaulted(
        Windowed(
            Integer(
                "OTP_FAILURES_PER_IP_AND_ADDRESS",
                10,
                "failed verifies for one address from one source network per window",
                minimum=1,
            ),
            Integer("OTP_FAILURES_PER_IP_AND_ADDRESS_WINDOW_SECONDS", 3_600, "its window", minimum=60),
        )
    )
    failures_per_ip: Window = _defaulted(
        Windowed(
            Integer(
                "OTP_FAILURES_PER_IP",
                100,
                "failed verifies from one source network per window, across addresses",
                minimum=1,
            ),
            Integer("OTP_FAILURES_PER_IP_WINDOW_SECONDS", 3_600, "its window", minimum=60),
        )
    )
    resend_cooldown_seconds: int = _defaulted(
        Integer("OTP_RESEND_COOLDOWN_SECONDS", 30, "minimum time between two sends to one address", minimum=0)
    )
    sends_per_address: Window = _defaulted(
        Windowed(
            Integer("OTP_SENDS_PER_ADDRESS", 5, "sends per address per window", minimum=1),
            Integer("OTP_ADDRESS_WINDOW_SECONDS", 3_600, "the per-address window", minimum=60),
        )
    )
    sends_per_ip: Window = _defaulted(
        Windowed(
            Integer("OTP_SENDS_PER_IP", 30, "sends per source IP per window; 0 switches it off", minimum=0),
            Integer("OTP_IP_WINDOW_SECONDS", 3_600, "the per-IP window", minimum=60),
        )
    )
    # -- passkeys (chalicelib/passkeys) ----------------------------------------------------------------------
    # The home item lists an account's passkeys: this bound is part of its size bound (docs/item-layout.md).
    max_passkeys: int = _defaulted(
        Integer("OTP_MAX_PASSKEYS", 10, "passkeys one account may register", minimum=1, maximum=10)
    )
    # WebAuthn Level 3 recommends 300 s for a ceremony that asks for user verification.
    passkey_ceremony_seconds: int = _defaulted(
        Integer(
            "OTP_PASSKEY_CEREMONY_SECONDS",
            300,
            "how long a passkey ceremony (its challenge) may be answered",
            minimum=30,
            maximum=600,
        )
    )
    passkey_ceremonies_per_ip: Window = _defaulted(
        Windowed(
            Integer(
                "OTP_PASSKEY_CEREMONIES_PER_IP",
                60,
                "passkey ceremonies (sign-in, second factor, step-up, registration) begun from one source network per "
                "window; 0 switches it off",
                minimum=0,
            ),
            Integer("OTP_PASSKEY_CEREMONIES_PER_IP_WINDOW_SECONDS", 3_600, "its window", minimum=60),
        )
    )
    # as the prototype's Cognito app client
    access_token_seconds: int = _defaulted(
        Integer("OTP_ACCESS_TOKEN_SECONDS", 3_600, "access token lifetime", minimum=60, maximum=86_400)
    )
    # refresh tokens: 5 days from sign-in, as the prototype's Cognito client
    session_seconds: int = _defaulted(
        Integer("OTP_SESSION_SECONDS", 432_000, "session (refresh token) lifetime from sign-in", minimum=300)
    )
    # concurrent tabs refresh at once
    refresh_grace_seconds: int = _defaulted(
        Integer(
            "OTP_REFRESH_GRACE_SECONDS", 10, "how long a just-rotated refresh token still works", minimum=0, maximum=120
        )
    )
    max_sessions: int = _defaulted(
        Integer(
            "OTP_MAX_SESSIONS",
            50,
            "live sessions per account; starting one more ends the oldest",
            minimum=1,
            maximum=200,
        )
    )
    # -- two-step sign-in (chalicelib/mfa) --------------------------------------------------------------------
    mfa_policy: str = _defaulted(
        Choice(
            "OTP_MFA",
            OPTIONAL,
            "two-step sign-in: OFF (factors ignored, /mfa answers 403), OPTIONAL (each "
            "person may add one) or REQUIRED (a person without one may only enroll; a passkey counts as one)",
            MFA_POLICIES,
        )
    )
    mfa_token_seconds: int = _defaulted(
        Integer(
            "OTP_MFA_TOKEN_SECONDS", 300, "how long an mfa_token lasts after the first factor", minimum=30, maximum=900
        )
    )
    mfa_attempts_per_token: int = _defaulted(
        Integer("OTP_MFA_ATTEMPTS_PER_TOKEN", 5, "second-factor tries per mfa_token", minimum=1, maximum=10)
    )
    # Counted before each comparison and cleared by a success, so concurrent guesses cannot pass it; it also
    # feeds the NIST ceiling of 100 consecutive failures (MFA_CONSECUTIVE_FAILURES).
    mfa_failure_budget: Window = _defaulted(
        Windowed(
            Integer(
                "OTP_MFA_FAILURE_BUDGET", 10, "wrong second-factor codes per account per window", minimum=1, maximum=100
            ),
            Integer("OTP_MFA_FAILURE_WINDOW_SECONDS", 900, "its window", minimum=60),
        )
    )
    step_up_seconds: int = _defaulted(
        Integer(
            "OTP_STEP_UP_SECONDS",
            300,
            "how recent the last proof must be for a sensitive action or an account change",
            minimum=60,
            maximum=3_600,
        )
    )

    # -- the OpenID Connect provider (chalicelib/oauth) -------------------------------------------------------
    # Hydra's default for a login request: time to sign in with a code and a second factor
    oauth_login_seconds: int = _defaulted(
        Integer(
            "OTP_OAUTH_LOGIN_SECONDS",
            600,
            "how long a login challenge (an authorization request waiting for its sign-in) lasts",
            minimum=60,
            maximum=3_600,
        )
    )
    # RFC 6749 4.1.2: "a maximum authorization code lifetime of 10 minutes is RECOMMENDED"; a redirect takes seconds
    oauth_code_seconds: int = _defaulted(
        Integer("OTP_OAUTH_CODE_SECONDS", 60, "how long an authorization code lasts", minimum=10, maximum=600)
    )

    # -- text messages: each costs money, so each is limited on every axis SMS pumping moves along ----------
    # NIST SP 800-63B-4 allows 10 minutes; a text is read at once, so 5 (Auth0: 3, Supabase: 1)
    sms_code_ttl_seconds: int = _defaulted(
        Integer("OTP_SMS_CODE_TTL_SECONDS", 300, "SMS code lifetime", minimum=60, maximum=600)
    )
    sms_resend_cooldown_seconds: int = _defaulted(
        Integer("OTP_SMS_RESEND_COOLDOWN_SECONDS", 60, "minimum time between two texts to one number", minimum=0)
    )
    sms_sends_per_number: Window = _defaulted(
        Windowed(
            Integer("OTP_SMS_SENDS_PER_NUMBER", 5, "texts per number per window", minimum=1),
            Integer("OTP_SMS_NUMBER_WINDOW_SECONDS", 3_600, "its window", minimum=60),
        )
    )
    sms_sends_per_number_daily: Window = _defaulted(
        Windowed(
            Integer("OTP_SMS_SENDS_PER_NUMBER_DAILY", 10, "texts per number per longer window", minimum=1),
            Integer("OTP_SMS_NUMBER_DAILY_WINDOW_SECONDS", 86_400, "its window", minimum=60),
        )
    )
    sms_sends_per_ip: Window = _defaulted(
        Windowed(
            Integer(
                "OTP_SMS_SENDS_PER_IP",
                10,
                "texts requested from one source network per window; 0 switches it off",
                minimum=0,
            ),
            Integer("OTP_SMS_IP_WINDOW_SECONDS", 3_600, "its window", minimum=60),
        )
    )
    sms_sends_per_prefix: Window = _defaulted(
        Windowed(
            Integer(
                "OTP_SMS_SENDS_PER_PREFIX",
                20,
                "texts to the numbers of one block (a number without its last 4 digits) per window; 0 switches it off",
                minimum=0,
            ),
            Integer("OTP_SMS_PREFIX_WINDOW_SECONDS", 3_600, "its window", minimum=60),
        )
    )
    sms_sends_per_country: Window = _defaulted(
        Windowed(
            Integer(
                "OTP_SMS_SENDS_PER_COUNTRY",
                200,
                "texts to the numbers of one country per window; 0 switches it off",
                minimum=0,
            ),
            Integer("OTP_SMS_COUNTRY_WINDOW_SECONDS", 86_400, "its window", minimum=60),
        )
    )
    # Refuses texts before the AWS account's SMS spend limit, which drops them silently; email keeps working.
    sms_budget: Window = _defaulted(
        Windowed(
            Integer("OTP_SMS_DAILY_BUDGET", 1_000, "texts the whole stage sends per window", minimum=1),
            Integer("OTP_SMS_BUDGET_WINDOW_SECONDS", 86_400, "its window", minimum=3_600),
        )
    )

    @property
    def retention_seconds(self) -> int:
        """How long an identifier's code state stays relevant after its last write; drives the TTL attribute.

        An account's home item is pinned instead (it outlives every window), and window counters live in items
        of their own that expire with their window.
        """
        return max(
            self.code_ttl_seconds,
            self.resend_cooldown_seconds,
            self.sms_code_ttl_seconds,
            self.sms_resend_cooldown_seconds,
            self.failure_budget.seconds,
        )


@dataclass(frozen=True)
class Settings:
    """A stage's settings; each field but ``limits`` is the one variable its declaration names."""

    # First: a type checker takes the declared fields (``_declared``, which hides ``field``) for defaulted ones,
    # after which a field without a default is an error; at run time none of them has a default.
    limits: Limits
    table_name: str = _declared(
        Text("OTP_TABLE", "otp_users", "DynamoDB table (partition key pk S, TTL on expires_at)")
    )
    sender: str = _declared(Text("OTP_SENDER", None, "verified SES sender address", required=True))
    cors_origins: tuple[str, ...] = _declared(
        Listing("OTP_CORS_ORIGINS", "comma-separated origins allowed to call the API from a browser")
    )
    # One of the two must be set; from_environ checks it.
    hash_secret: str | None = _declared(
        Text("OTP_HASH_SECRET", None, "the code-hashing key itself, for tests only (at least 32 bytes)")
    )
    hash_secret_id: str | None = _declared(
        Text(
            "OTP_HASH_SECRET_ID",
            None,
            "Secrets Manager name/ARN of the code-hashing key, or ssm:/param for an SSM SecureString",
        )
    )
    secrets_extension_port: int = _declared(
        Integer(
            "OTP_SECRETS_EXTENSION_PORT",
            0,
            "port of the AWS Parameters and Secrets Lambda Extension to read the code-hashing key from (2773 "
            "with its layer); 0 reads it with the SDK",
            minimum=0,
            maximum=65535,
        )
    )
    max_body_bytes: int = _declared(Integer("OTP_MAX_BODY_BYTES", 4096, "largest accepted request body", minimum=256))
    ipv6_prefix_length: int = _declared(
        Integer(
            "OTP_IPV6_PREFIX_LENGTH",
            IPV6_PREFIX_LENGTH,
            "IPv6 callers in one network of this prefix length count as one source",
            minimum=32,
            maximum=128,
        )
    )
    log_level: str = _declared(
        Choice("LOG_LEVEL", "INFO", "level of diagnostics; the JSON access log is always written", LOG_LEVELS)
    )
    token_issuer: str = _declared(Text("OTP_TOKEN_ISSUER", None, "iss of access tokens", required=True))
    token_audience: str = _declared(Text("OTP_TOKEN_AUDIENCE", "otp-signin", "aud of access tokens"))
    signing_key_id: str = _declared(
        Text("OTP_SIGNING_KEY_ID", None, "KMS alias of the ECC_NIST_P256 signing key", required=True)
    )
    previous_signing_key_ids: tuple[str, ...] = _declared(
        Listing("OTP_PREVIOUS_SIGNING_KEY_IDS", "keys still published and accepted after a rotation")
    )
    # OpenID Connect makes RS256 mandatory for ID tokens, and API Gateway HTTP API JWT authorizers accept only RSA.
    rsa_signing_key_id: str = _declared(
        Text(
            "OTP_RSA_SIGNING_KEY_ID",
            None,
            "KMS alias of the RSA_2048 signing key: ID tokens (RS256) and, with OTP_ACCESS_TOKEN_ALGORITHM=RS256, "
            "access tokens",
            required=True,
        )
    )
    previous_rsa_signing_key_ids: tuple[str, ...] = _declared(
        Listing("OTP_PREVIOUS_RSA_SIGNING_KEY_IDS", "RSA keys still published and accepted after a rotation")
    )
    access_token_algorithm: str = _declared(
        Choice(
            "OTP_ACCESS_TOKEN_ALGORITHM",
            "ES256",
            "how access tokens are signed: ES256 (P-256 key) or RS256 (RSA key: what an API Gateway HTTP API JWT "
            "authorizer accepts)",
            ("ES256", "RS256"),
        )
    )
    # -- the OpenID Connect provider (chalicelib/oauth) -------------------------------------------------------
    oauth_clients: str | None = _declared(
        Text(
            "OTP_OAUTH_CLIENTS",
            None,
            "the OpenID Connect clients, a JSON array (docs/oidc.md: client_id, redirect_uris, ...); unset: none",
        )
    )
    oauth_login_url: str | None = _declared(
        Text(
            "OTP_OAUTH_LOGIN_URL",
            None,
            "the sign-in UI's page that takes ?login_challenge= (where the authorization endpoint sends people)",
        )
    )
    service_name: str = _declared(
        Text(
            "OTP_SERVICE_NAME",
            "OTP Sign-in",
            "what the service calls itself: the mails' sender name, their subjects and bodies, and the texts",
            one_line=True,
        )
    )
    sms_countries: tuple[str, ...] = _declared(
        Listing(
            "OTP_SMS_COUNTRIES",
            "ISO 3166 countries whose numbers are texted codes (none: no SMS sign-in)",
            default=("US", "CA", "GB", "DE", "FR", "AU"),
        )
    )
    sms_voip: str = _declared(
        Choice("OTP_SMS_VOIP", "REFUSE", "whether codes are texted to internet (VoIP) numbers", ("REFUSE", "ALLOW"))
    )
    # Published SNS prices (2026) with a margin; a country's message is refused by SNS if it would cost more.
    sms_prices: tuple[str, ...] = _declared(
        Listing(
            "OTP_SMS_PRICES",
            "USD per text by country (COUNTRY=price), the estimate and each text's SNS "
            "MaxPrice; every served country needs one",
            default=("US=0.00883", "CA=0.00795", "GB=0.04630", "DE=0.09460", "FR=0.07770", "AU=0.04180"),
        )
    )
    sms_template: str = _declared(
        Text(
            "OTP_SMS_TEMPLATE",
            DEFAULT_SMS_TEMPLATE,
            "the text: GSM-7, one segment with the longest code; fields {code}, {service}, {minutes}",
        )
    )
    sms_webotp_domain: str | None = _declared(
        Host(
            "OTP_SMS_WEBOTP_DOMAIN",
            None,
            "the host whose pages may autofill the code (the line @<host> #<code> "
            "that ends every text); unset: OTP_TOKEN_ISSUER's host, unless an IP address",
        )
    )
    sms_sender_id: str | None = _declared(
        Text("OTP_SMS_SENDER_ID", None, "alphanumeric sender id, where the country allows one")
    )
    sms_origination_number: str | None = _declared(
        Text(
            "OTP_SMS_ORIGINATION_NUMBER",
            None,
            "the origination number or its ARN (US: a registered toll-free or 10DLC number)",
        )
    )

    totp_issuer: str | None = _declared(
        Text("OTP_TOTP_ISSUER", None, "issuer in the otpauth URI an authenticator app shows; unset: OTP_SERVICE_NAME")
    )

    @property
    def totp_issuer_name(self) -> str:
        """The issuer an authenticator app shows beside the account (the otpauth URI's ``issuer``)."""
        return self.totp_issuer or self.service_name

    # -- passkeys (chalicelib/passkeys): WebAuthn binds a credential to its relying party's id ------------------
    webauthn_rp_id: str | None = _declared(
        Host(
            "OTP_WEBAUTHN_RP_ID",
            None,
            "the passkeys' relying party id: the sign-in UI's host or a parent domain of it (a passkey is bound "
            "to it for good); unset: no passkeys",
        )
    )
    webauthn_origins: tuple[str, ...] = _declared(
        Listing(
            "OTP_WEBAUTHN_ORIGINS",
            "the origins of the pages that use passkeys (https://, or http://localhost), on OTP_WEBAUTHN_RP_ID "
            "or below it",
        )
    )
    webauthn_rp_name: str | None = _declared(
        Text(
            "OTP_WEBAUTHN_RP_NAME",
            None,
            "what a passkey prompt calls the service; unset: OTP_SERVICE_NAME",
            one_line=True,
        )
    )

    @property
    def passkeys(self) -> bool:
        """Whether the stage offers passkeys (it names its relying party)."""
        return self.webauthn_rp_id is not None

    @property
    def webauthn_rp_display_name(self) -> str:
        return self.webauthn_rp_name or self.service_name

    # -- the admin dashboard (chalicelib/admin) ---------------------------------------------------------------
    admin_emails: tuple[str, ...] = _declared(
        Listing("OTP_ADMIN_EMAILS", "addresses whose accounts are admins (with two-step verification in use)")
    )
    # OWASP ASVS 5.0 7.5.3: re-authenticate before a sensitive change; an admin session at work stays usable
    admin_step_up_seconds: int = _declared(
        Integer(
            "OTP_ADMIN_STEP_UP_SECONDS",
            900,
            "how recent an admin's last proof must be for an action that changes an account",
            minimum=60,
            maximum=86_400,
        )
    )
    # 400 days: a year's audit with a month's slack for an investigation that starts late
    audit_retention_days: int = _declared(
        Integer(
            "OTP_AUDIT_RETENTION_DAYS",
            400,
            "how long audit entries of admin actions are kept",
            minimum=1,
            maximum=3_650,
        )
    )
    metrics_namespace: str = _declared(
        Text("OTP_METRICS_NAMESPACE", "OtpSignin", "CloudWatch namespace of the metrics in the access log")
    )

    @property
    def sms_origin_host(self) -> str | None:
        """The host of the origin-bound line that ends every text (``@<host> #<code>``); ``None``: no line."""
        return self.sms_webotp_domain or _origin_host(self.token_issuer)

    @property
    def allow_voip(self) -> bool:
        return self.sms_voip == "ALLOW"

    def sms_price(self, country: str) -> Decimal:
        """The configured price of one text to ``country`` (every served country has one: see from_environ)."""
        return _prices(self.sms_prices)[country]

    @classmethod
    def from_environ(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from ``env`` (default ``os.environ``); raise ConfigError naming a bad variable."""
        # os.environ is looked up per call: Chalice's test client swaps the whole object during a request.
        env = os.environ if env is None else env
        values = _read(cls, env)
        if not (values["hash_secret"] or values["hash_secret_id"]):
            raise ConfigError("set OTP_HASH_SECRET_ID (a Secrets Manager secret) or OTP_HASH_SECRET")
        settings = cls(**values, limits=Limits(**_read(Limits, env)))
        settings._check_prices()
        settings._check_webauthn()
        return settings

    def _check_webauthn(self) -> None:
        """Refuse origins a browser would never pair with the relying party id: WebAuthn lets a page use an RP id
        only if it is the page's host or a parent domain of it, and only in a secure context (https, or
        http://localhost)."""
        if self.webauthn_rp_id is None:
            if self.webauthn_origins:
                raise ConfigError("OTP_WEBAUTHN_ORIGINS is set without OTP_WEBAUTHN_RP_ID")
            return
        if not self.webauthn_origins:
            raise ConfigError("OTP_WEBAUTHN_RP_ID is set: OTP_WEBAUTHN_ORIGINS must name the pages that use it")
        for origin in self.webauthn_origins:
            try:
                parts = urlsplit(origin)
                port = parts.port
            except ValueError:
                raise ConfigError(f"OTP_WEBAUTHN_ORIGINS: {origin!r} is not an origin") from None
            host = parts.hostname or ""
            secure = parts.scheme == "https" or (parts.scheme == "http" and host == "localhost")
            exact = f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
            if not secure or origin != exact:
                raise ConfigError(
                    f"OTP_WEBAUTHN_ORIGINS: {origin!r} must be https://host[:port] (or http://localhost[:port])"
                )
            if host != self.webauthn_rp_id and not host.endswith("." + self.webauthn_rp_id):
                raise ConfigError(f"OTP_WEBAUTHN_ORIGINS: {origin!r} is not on OTP_WEBAUTHN_RP_ID's domain")

    def _check_prices(self) -> None:
        """Refuse a served country without a price: each text's SNS MaxPrice is its price."""
        prices = _prices(self.sms_prices)
        unpriced = [country for country in self.sms_countries if country not in prices]
        if unpriced:
            raise ConfigError(f"OTP_SMS_PRICES has no price for {', '.join(unpriced)} (OTP_SMS_COUNTRIES)")


def _prices(entries: tuple[str, ...]) -> dict[str, Decimal]:
    prices = {}
    for entry in entries:
        country, _, price = entry.partition("=")
        try:
            prices[country.strip().upper()] = Decimal(price.strip())
        except InvalidOperation:
            raise ConfigError(f"OTP_SMS_PRICES: {entry!r} is not COUNTRY=price") from None
        if not prices[country.strip().upper()] > 0:
            raise ConfigError(f"OTP_SMS_PRICES: {entry!r} must be a positive price")
    return prices


def _read(cls: type, env: Mapping[str, str]) -> dict[str, Any]:
    """The declared fields of ``cls``, each read from ``env`` by its declaration."""
    return {f.name: f.metadata[_DECLARATION].read(env) for f in fields(cls) if _DECLARATION in f.metadata}


def _settings_of(cls: type) -> Iterator[Setting]:
    for f in fields(cls):
        declaration = f.metadata.get(_DECLARATION)
        if isinstance(declaration, Windowed):
            yield from (declaration.limit, declaration.seconds)
        elif declaration is not None:
            yield declaration


SETTINGS: tuple[Setting, ...] = (*_settings_of(Settings), *_settings_of(Limits))
"""Every setting, in the order of the fields they fill."""
