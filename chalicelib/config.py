"""Per-stage settings: every number of the security model is declared here and nowhere else.

Values come from environment variables, which Chalice fills from the stage's ``environment_variables`` in
``.chalice/config.json``. They are read when first needed, not at import time, because Chalice's test client
only sets a stage's variables while it handles a request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(RuntimeError):
    """A required setting is missing or malformed; the service cannot run safely without it."""


@dataclass(frozen=True)
class Window:
    """At most ``limit`` events per fixed, clock-aligned window of ``seconds``; ``limit`` 0 switches it off."""

    limit: int
    seconds: int

    @property
    def enabled(self) -> bool:
        return self.limit > 0


@dataclass(frozen=True)
class Limits:
    """The numbers of the security model (see README, "Security model")."""

    code_digits: int = 6
    code_ttl_seconds: int = 600  # OWASP ASVS 5.0 6.5.5: at most 10 minutes
    max_guesses_per_code: int = 6
    failure_budget: Window = field(default_factory=lambda: Window(20, 86_400))  # NIST SP 800-63B-4 3.2.2
    resend_cooldown_seconds: int = 30
    sends_per_address: Window = field(default_factory=lambda: Window(5, 3_600))
    sends_per_ip: Window = field(default_factory=lambda: Window(30, 3_600))
    access_token_seconds: int = 3_600  # as the prototype's Cognito app client
    session_seconds: int = 432_000  # refresh tokens: 5 days from sign-in, as the prototype's Cognito client
    refresh_grace_seconds: int = 10  # a rotated refresh token still works this long (concurrent tabs)
    max_sessions: int = 50

    @property
    def retention_seconds(self) -> int:
        """How long an identifier's code state stays relevant after its last write; drives the TTL attribute.

        An account's home item is pinned instead (it outlives every window), and window counters live in items
        of their own that expire with their window.
        """
        return max(self.code_ttl_seconds, self.resend_cooldown_seconds, self.failure_budget.seconds)


@dataclass(frozen=True)
class Settings:
    table_name: str
    sender: str
    cors_origins: tuple[str, ...]
    hash_secret: str | None
    hash_secret_id: str | None
    max_body_bytes: int
    log_level: str
    limits: Limits
    token_issuer: str
    token_audience: str
    signing_key_id: str
    previous_signing_key_ids: tuple[str, ...]

    @classmethod
    def from_environ(cls, env: Mapping[str, str] | None = None) -> Settings:
        # os.environ is looked up per call: Chalice's test client swaps the whole object during a request.
        env = os.environ if env is None else env
        reader = _Reader(env)
        limits = Limits(
            code_digits=reader.integer("OTP_CODE_DIGITS", 6, minimum=6, maximum=10),
            code_ttl_seconds=reader.integer("OTP_CODE_TTL_SECONDS", 600, minimum=60),
            max_guesses_per_code=reader.integer("OTP_MAX_ATTEMPTS", 6, minimum=1),
            failure_budget=Window(
                reader.integer("OTP_FAILURE_BUDGET", 20, minimum=1),
                reader.integer("OTP_FAILURE_WINDOW_SECONDS", 86_400, minimum=60),
            ),
            resend_cooldown_seconds=reader.integer("OTP_RESEND_COOLDOWN_SECONDS", 30, minimum=0),
            sends_per_address=Window(
                reader.integer("OTP_SENDS_PER_ADDRESS", 5, minimum=1),
                reader.integer("OTP_ADDRESS_WINDOW_SECONDS", 3_600, minimum=60),
            ),
            sends_per_ip=Window(
                reader.integer("OTP_SENDS_PER_IP", 30, minimum=0),
                reader.integer("OTP_IP_WINDOW_SECONDS", 3_600, minimum=60),
            ),
            access_token_seconds=reader.integer("OTP_ACCESS_TOKEN_SECONDS", 3_600, minimum=60, maximum=86_400),
            session_seconds=reader.integer("OTP_SESSION_SECONDS", 432_000, minimum=300),
            refresh_grace_seconds=reader.integer("OTP_REFRESH_GRACE_SECONDS", 10, minimum=0, maximum=120),
        )
        hash_secret = env.get("OTP_HASH_SECRET") or None
        hash_secret_id = env.get("OTP_HASH_SECRET_ID") or None
        if not (hash_secret or hash_secret_id):
            raise ConfigError("set OTP_HASH_SECRET_ID (a Secrets Manager secret) or OTP_HASH_SECRET")
        return cls(
            table_name=env.get("OTP_TABLE", "otp_users"),
            sender=reader.required("OTP_SENDER"),
            cors_origins=_split(env.get("OTP_CORS_ORIGINS", "")),
            hash_secret=hash_secret,
            hash_secret_id=hash_secret_id,
            max_body_bytes=reader.integer("OTP_MAX_BODY_BYTES", 4096, minimum=256),
            log_level=reader.choice("LOG_LEVEL", "INFO", LOG_LEVELS),
            limits=limits,
            token_issuer=reader.required("OTP_TOKEN_ISSUER"),
            token_audience=reader.required("OTP_TOKEN_AUDIENCE"),
            signing_key_id=reader.required("OTP_SIGNING_KEY_ID"),
            previous_signing_key_ids=_split(env.get("OTP_PREVIOUS_SIGNING_KEY_IDS", "")),
        )


def _split(listing: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in listing.split(",") if item.strip())


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def required(self, name: str) -> str:
        value = self._env.get(name, "").strip()
        if not value:
            raise ConfigError(f"{name} is not set")
        return value

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = (self._env.get(name) or default).upper()
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
        return value

    def integer(self, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        raw = self._env.get(name)
        try:
            value = default if raw is None or raw == "" else int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise ConfigError(f"{name}={value} is outside {minimum}..{maximum if maximum is not None else ''}")
        return value
