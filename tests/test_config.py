"""Stage settings: defaults are the security model's numbers; bad values stop the service, loudly."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from chalicelib.config import SETTINGS, ConfigError, Integer, Limits, Settings, Text, Window, is_origin_host
from chalicelib.wiring import read_settings
from tests.conftest import REPO_ROOT
from tools import config_doc
from tools.bootstrap import RESOURCE_SETTINGS, load_stage_env
from tools.bootstrap import Settings as ResourceNames

MINIMAL = {
    "OTP_SENDER": "no-reply@example.com",
    "OTP_HASH_SECRET": "k" * 32,
    "OTP_TOKEN_ISSUER": "https://signin.example.com",
    "OTP_TOKEN_AUDIENCE": "otp-signin",
    "OTP_SIGNING_KEY_ID": "alias/otp-signin",
    "OTP_RSA_SIGNING_KEY_ID": "alias/otp-signin-rsa",
}
INTEGERS = [setting for setting in SETTINGS if isinstance(setting, Integer)]
REQUIRED = [setting for setting in SETTINGS if isinstance(setting, Text) and setting.required]
SECURITY_MODEL = (REPO_ROOT / "docs" / "security-model.md").read_text()
CONFIG = json.loads((REPO_ROOT / ".chalice" / "config.json").read_text())
STAGES = list(CONFIG["stages"])
DECLARED = {setting.name: setting for setting in SETTINGS}
# docs/security-model.md: sends per source IP "30 / hour (1000 in `local`, where the UI calls from 127.0.0.1 for
# everyone)". Every other number of every stage is the default, which docs/configuration.md gives.
DOCUMENTED_STAGE_LIMITS = {
    "local": {
        "sends_per_ip": Window(1000, 3_600),
        "failures_per_ip": Window(1000, 3_600),
        "sms_sends_per_ip": Window(1000, 3_600),
        "passkey_ceremonies_per_ip": Window(1000, 3_600),
    }
}


def test_defaults_are_the_security_model() -> None:
    limits = Settings.from_environ(MINIMAL).limits
    assert limits == Limits()
    assert (limits.code_digits, limits.code_ttl_seconds, limits.max_guesses_per_code) == (6, 600, 6)
    assert limits.failure_budget == Window(50, 86_400)
    assert (limits.failures_per_ip_and_address, limits.failures_per_ip) == (Window(10, 3_600), Window(100, 3_600))
    assert (limits.resend_cooldown_seconds, limits.sends_per_address) == (30, Window(5, 3_600))
    assert (limits.access_token_seconds, limits.session_seconds, limits.refresh_grace_seconds) == (3_600, 432_000, 10)
    assert limits.max_sessions == 50


def test_every_number_is_a_setting() -> None:
    env = {
        **MINIMAL,
        "OTP_CODE_DIGITS": "8",
        "OTP_CODE_TTL_SECONDS": "900",
        "OTP_MAX_ATTEMPTS": "3",
        "OTP_FAILURE_BUDGET": "10",
        "OTP_FAILURE_WINDOW_SECONDS": "3600",
        "OTP_RESEND_COOLDOWN_SECONDS": "60",
        "OTP_SENDS_PER_ADDRESS": "3",
        "OTP_ADDRESS_WINDOW_SECONDS": "7200",
        "OTP_SENDS_PER_IP": "0",
        "OTP_ACCESS_TOKEN_SECONDS": "900",
        "OTP_SESSION_SECONDS": "86400",
        "OTP_REFRESH_GRACE_SECONDS": "5",
        "OTP_MAX_SESSIONS": "7",
        "OTP_FAILURES_PER_IP_AND_ADDRESS": "4",
        "OTP_FAILURES_PER_IP_AND_ADDRESS_WINDOW_SECONDS": "600",
        "OTP_FAILURES_PER_IP": "40",
        "OTP_FAILURES_PER_IP_WINDOW_SECONDS": "1800",
    }
    limits = Settings.from_environ(env).limits
    assert limits == Limits(
        code_digits=8,
        code_ttl_seconds=900,
        max_guesses_per_code=3,
        failure_budget=Window(10, 3_600),
        failures_per_ip_and_address=Window(4, 600),
        failures_per_ip=Window(40, 1_800),
        resend_cooldown_seconds=60,
        sends_per_address=Window(3, 7_200),
        sends_per_ip=Window(0, 3_600),
        access_token_seconds=900,
        session_seconds=86_400,
        refresh_grace_seconds=5,
        max_sessions=7,
    )
    assert not limits.sends_per_ip.enabled


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OTP_CODE_DIGITS", "4"),
        ("OTP_CODE_TTL_SECONDS", "ten"),
        ("OTP_MAX_ATTEMPTS", "0"),
        ("OTP_SENDER", ""),
        ("OTP_TOKEN_ISSUER", ""),
        ("LOG_LEVEL", "LOUD"),
        ("OTP_SMS_VOIP", "maybe"),
        ("OTP_SMS_CODE_TTL_SECONDS", "900"),
        ("OTP_SMS_DAILY_BUDGET", "0"),
    ],
)
def test_bad_settings_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_environ({**MINIMAL, name: value})


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"OTP_WEBAUTHN_RP_ID": "example.com"}, "OTP_WEBAUTHN_ORIGINS must name the pages"),
        ({"OTP_WEBAUTHN_ORIGINS": "https://example.com"}, "OTP_WEBAUTHN_ORIGINS is set without OTP_WEBAUTHN_RP_ID"),
        ({"OTP_WEBAUTHN_RP_ID": "https://example.com"}, "OTP_WEBAUTHN_RP_ID must be a bare host name"),
        # WebAuthn needs a secure context: https, or http on localhost only
        ({"OTP_WEBAUTHN_RP_ID": "example.com", "OTP_WEBAUTHN_ORIGINS": "http://example.com"}, "must be https://"),
        ({"OTP_WEBAUTHN_RP_ID": "127.0.0.1", "OTP_WEBAUTHN_ORIGINS": "http://127.0.0.1:8501"}, "bare host name"),
        ({"OTP_WEBAUTHN_RP_ID": "example.com", "OTP_WEBAUTHN_ORIGINS": "https://example.com/"}, "must be https://"),
        ({"OTP_WEBAUTHN_RP_ID": "example.com", "OTP_WEBAUTHN_ORIGINS": "https://[::1"}, "is not an origin"),
        # an RP id must be the page's host or a parent domain of it, never a sibling or a suffix of a label
        ({"OTP_WEBAUTHN_RP_ID": "example.com", "OTP_WEBAUTHN_ORIGINS": "https://notexample.com"}, "domain"),
        ({"OTP_WEBAUTHN_RP_ID": "signin.example.com", "OTP_WEBAUTHN_ORIGINS": "https://example.com"}, "domain"),
        ({"OTP_MAX_PASSKEYS": "11"}, "OTP_MAX_PASSKEYS=11 is outside 1..10"),
    ],
)
def test_passkey_settings_a_browser_would_refuse_stop_the_service(env: dict[str, str], complaint: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(complaint)):
        read_settings({**MINIMAL, **env})


def test_passkeys_are_offered_on_the_relying_party_s_domain_and_below() -> None:
    env = {
        "OTP_WEBAUTHN_RP_ID": "Example.com",
        "OTP_WEBAUTHN_ORIGINS": "https://example.com,https://signin.example.com:8443",
    }
    settings = read_settings({**MINIMAL, **env})
    assert (settings.passkeys, settings.webauthn_rp_id, settings.webauthn_rp_display_name) == (
        True,
        "example.com",
        "OTP Sign-in",
    )
    assert not read_settings(MINIMAL).passkeys
    named = read_settings({**MINIMAL, **env, "OTP_WEBAUTHN_RP_NAME": "Example"})
    assert named.webauthn_rp_display_name == "Example"


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"OTP_SMS_COUNTRIES": "US,BR"}, "OTP_SMS_PRICES has no price for BR"),
        ({"OTP_SMS_PRICES": "US=cheap"}, "not COUNTRY=price"),
        ({"OTP_SMS_PRICES": "US=0"}, "positive"),
        ({"OTP_SMS_TEMPLATE": "Your code: {code} ✓"}, "GSM-7"),
        ({"OTP_SMS_TEMPLATE": "Your code is {code}. " + "Never share it with anyone. " * 6}, "one segment"),
        ({"OTP_SMS_TEMPLATE": "Sign in with {otp}"}, "must contain {code}"),
        # 132 septets alone, 161 with the origin-bound line
        (
            {"OTP_SMS_TEMPLATE": "{code} " * 18 + "{code}", "OTP_SMS_WEBOTP_DOMAIN": "signin.example.com"},
            "OTP_SMS_TEMPLATE: the sign-in text needs 161 septets with a 6-digit code and the line "
            "@signin.example.com #<code>, more than one segment",
        ),
        ({"OTP_SERVICE_NAME": "Sign-in ✓"}, "OTP_SERVICE_NAME: the service name: '✓' is not in the GSM-7 alphabet"),
        ({"OTP_SERVICE_NAME": "Sign-in ✓", "OTP_SMS_TEMPLATE": "{code}"}, "OTP_SERVICE_NAME"),
    ],
)
def test_sms_settings_that_would_fail_per_message_stop_the_service(env: dict[str, str], complaint: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(complaint)):
        read_settings({**MINIMAL, **env})


# 40 characters: the service's own texts hold it beside a 6-digit code and the line of a host of up to 19.
LONG_NAME = "Northwind Traders Customer Sign-in (EU)!"


def test_a_long_service_name_fits_every_text_or_stops_the_service_naming_it() -> None:
    assert len(LONG_NAME) == 40
    fits = read_settings({**MINIMAL, "OTP_SERVICE_NAME": LONG_NAME, "OTP_SMS_WEBOTP_DOMAIN": "example.com"})
    assert fits.service_name == LONG_NAME  # tests/test_sms.py holds every text to one segment, whatever fits here
    too_long = {**MINIMAL, "OTP_SERVICE_NAME": LONG_NAME, "OTP_TOKEN_ISSUER": "https://signin.dev.example.com"}
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "OTP_SERVICE_NAME: the reauthenticate text needs 163 septets with a 6-digit code and the line "
            "@signin.dev.example.com #<code>, more than one segment; shorten it, or name a shorter host of the site in "
            "OTP_SMS_WEBOTP_DOMAIN"
        ),
    ):
        read_settings(too_long)
    assert read_settings({**too_long, "OTP_SMS_WEBOTP_DOMAIN": "example.com"}).service_name == LONG_NAME
    without_line = {**MINIMAL, "OTP_SERVICE_NAME": LONG_NAME * 2, "OTP_TOKEN_ISSUER": "http://127.0.0.1:8000"}
    with pytest.raises(
        ConfigError,
        match=r"^OTP_SERVICE_NAME: the link text needs 161 septets with a "
        r"6-digit code, more than one segment; shorten it$",
    ):
        read_settings(without_line)


@pytest.mark.parametrize("name", ["OTP\nSign-in", "OTP\rSign-in", "OTP\x00Sign-in", "OTP\x85Sign-in"])
def test_a_service_name_is_one_line(name: str) -> None:
    """It goes into the mails' From header, where a line break would end the header."""
    with pytest.raises(ConfigError, match="OTP_SERVICE_NAME must be one line without control characters"):
        Settings.from_environ({**MINIMAL, "OTP_SERVICE_NAME": name})


@pytest.mark.parametrize(
    "value",
    [
        "https://signin.example.com",
        "signin example.com",
        "signin.example.com/otp",
        "signin.example.com:443",
        "signin..example.com",
        ".example.com",
        "example.com.",
        "-signin.example.com",
        "signin-.example.com",
        "sign_in.example.com",
        "bücher.example",
        "x" * 64 + ".example.com",
        "127.0.0.1",
        "[::1]",
        "::1",
        "@signin.example.com",
    ],
)
def test_an_origin_bound_host_that_is_not_a_bare_host_name_stops_the_service(value: str) -> None:
    complaint = f"^OTP_SMS_WEBOTP_DOMAIN must be a bare host name .*{re.escape(repr(value))}"
    with pytest.raises(ConfigError, match=complaint):
        Settings.from_environ({**MINIMAL, "OTP_SMS_WEBOTP_DOMAIN": value})


def test_an_origin_bound_host_has_labels_of_at_most_63_and_at_most_253_characters() -> None:
    assert is_origin_host("x" * 63 + ".example.com") and not is_origin_host("x" * 64 + ".example.com")
    longest = ".".join(["x" * 63] * 3 + ["x" * 61])
    assert len(longest) == 253 and is_origin_host(longest) and not is_origin_host("x" + longest)


@pytest.mark.parametrize(
    ("env", "host"),
    [
        ({"OTP_SMS_WEBOTP_DOMAIN": " App.Example.COM "}, "app.example.com"),  # the setting wins over the issuer
        ({"OTP_SMS_WEBOTP_DOMAIN": "localhost"}, "localhost"),
        ({"OTP_SMS_WEBOTP_DOMAIN": "xn--bcher-kva.example"}, "xn--bcher-kva.example"),
        ({}, "signin.example.com"),  # unset: the token issuer's host
        ({"OTP_TOKEN_ISSUER": "https://Signin.Example.com:8443/otp"}, "signin.example.com"),  # no port, no path
        ({"OTP_TOKEN_ISSUER": "http://localhost:8000"}, "localhost"),  # Chromium binds it to http://localhost
        ({"OTP_TOKEN_ISSUER": "http://127.0.0.1:8000"}, None),  # an IP address names no site: no line
        ({"OTP_TOKEN_ISSUER": "http://[::1]:8000"}, None),
        ({"OTP_TOKEN_ISSUER": "http://[::1"}, None),
        ({"OTP_TOKEN_ISSUER": "otp-signin"}, None),
    ],
)
def test_the_origin_bound_host_is_the_setting_or_the_token_issuer_s(env: dict[str, str], host: str | None) -> None:
    assert Settings.from_environ({**MINIMAL, **env}).sms_origin_host == host


def test_the_local_stage_s_texts_carry_no_origin_bound_line_and_the_deployed_stages_name_their_issuer() -> None:
    assert Settings.from_environ(load_stage_env("local")).sms_origin_host is None  # issuer http://127.0.0.1:8000
    for stage in ("dev", "prod"):
        settings = Settings.from_environ(load_stage_env(stage))
        assert settings.sms_origin_host == settings.token_issuer.removeprefix("https://")


def test_blank_sms_countries_switch_sms_off_and_unset_means_the_default() -> None:
    assert Settings.from_environ({**MINIMAL, "OTP_SMS_COUNTRIES": ""}).sms_countries == ()
    assert Settings.from_environ(MINIMAL).sms_countries == ("US", "CA", "GB", "DE", "FR", "AU")


def test_docs_configuration_is_rendered_from_the_declarations() -> None:
    """docs/configuration.md's table is what ``python -m tools.config_doc`` renders from ``SETTINGS`` today."""
    document = config_doc.DOC.read_text()
    assert config_doc.render(document) == document, "docs/configuration.md is stale: run `python -m tools.config_doc`"
    assert config_doc.main(["--check"]) == 0


def test_docs_configuration_has_a_row_per_setting_with_its_default() -> None:
    rows = [line for line in config_doc.render_table().splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == [setting.name for setting in SETTINGS]
    assert "| `OTP_CODE_DIGITS` | 6 | 6\N{EN DASH}10 |" in config_doc.DOC.read_text()
    assert "| `OTP_SENDER` | — (required) |" in config_doc.DOC.read_text()


def test_each_variable_is_declared_once() -> None:
    names = [setting.name for setting in SETTINGS]
    assert len(names) == len(set(names))


def test_the_required_settings_are_these() -> None:
    assert {setting.name for setting in REQUIRED} == {
        "OTP_SENDER",
        "OTP_TOKEN_ISSUER",
        "OTP_SIGNING_KEY_ID",
        "OTP_RSA_SIGNING_KEY_ID",
    }


@pytest.mark.parametrize("setting", REQUIRED, ids=lambda setting: setting.name)
def test_a_required_setting_cannot_be_left_out(setting: Text) -> None:
    assert setting.default is None
    with pytest.raises(ConfigError, match=f"{setting.name} is not set"):
        Settings.from_environ({k: v for k, v in MINIMAL.items() if k != setting.name})


@pytest.mark.parametrize("setting", INTEGERS, ids=lambda setting: setting.name)
def test_every_number_is_bounded(setting: Integer) -> None:
    def read(value: int | str) -> Settings:
        return Settings.from_environ({**MINIMAL, setting.name: str(value)})

    assert setting.minimum <= setting.default
    assert read(setting.minimum) != read(setting.minimum + 1)  # the value is used, not only checked
    with pytest.raises(ConfigError, match=f"{setting.name}={setting.minimum - 1} is outside"):
        read(setting.minimum - 1)
    if setting.maximum is not None:
        assert setting.default <= setting.maximum
        read(setting.maximum)
        with pytest.raises(ConfigError, match=f"{setting.name}={setting.maximum + 1} is outside"):
            read(setting.maximum + 1)
    with pytest.raises(ConfigError, match=f"{setting.name} must be a whole number"):
        read("1.5")


def test_the_audience_defaults_to_the_app_name() -> None:
    env = {k: v for k, v in MINIMAL.items() if k != "OTP_TOKEN_AUDIENCE"}
    assert Settings.from_environ(env).token_audience == "otp-signin"


def test_a_hashing_key_source_is_required() -> None:
    env = {k: v for k, v in MINIMAL.items() if k != "OTP_HASH_SECRET"}
    with pytest.raises(ConfigError, match="OTP_HASH_SECRET"):
        Settings.from_environ(env)


@pytest.mark.parametrize("stage", ["local", "dev", "prod"])
def test_every_stage_is_complete(stage: str) -> None:
    settings = Settings.from_environ(load_stage_env(stage))
    assert settings.hash_secret is None and settings.hash_secret_id  # keys come from a key store, never config
    assert settings.signing_key_id.startswith("alias/")
    assert settings.cors_origins and "*" not in settings.cors_origins


def test_deployed_stages_use_https_origins_and_issuers() -> None:
    for stage in ("dev", "prod"):
        settings = Settings.from_environ(load_stage_env(stage))
        assert all(origin.startswith("https://") for origin in settings.cors_origins)
        assert settings.token_issuer.startswith("https://")


def test_the_chalice_config_sets_only_declared_settings() -> None:
    blocks = {"top level": CONFIG["environment_variables"]}
    blocks.update({stage: CONFIG["stages"][stage]["environment_variables"] for stage in STAGES})
    unknown = {where: set(block) - set(DECLARED) for where, block in blocks.items()}
    assert not any(unknown.values()), unknown  # the project puts nothing else there


def test_the_top_level_holds_only_what_every_stage_shares_and_no_default() -> None:
    for name, value in CONFIG["environment_variables"].items():
        assert DECLARED[name].read({name: value}) != DECLARED[name].default, f"{name} repeats its default"
        assert not [stage for stage in STAGES if name in CONFIG["stages"][stage]["environment_variables"]], name


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_repeats_a_default_only_where_bootstrap_reads_it(stage: str) -> None:
    env = load_stage_env(stage)
    repeated = {name for name, value in env.items() if DECLARED[name].read({name: value}) == DECLARED[name].default}
    # A stage names each resource bootstrap provisions for it, even at its default, so its block says what exists.
    assert repeated <= set(RESOURCE_SETTINGS.values()), repeated


@pytest.mark.parametrize("stage", STAGES)
def test_bootstrap_provisions_what_the_stage_uses(stage: str) -> None:
    names, settings = ResourceNames.from_env(load_stage_env(stage)), Settings.from_environ(load_stage_env(stage))
    assert (names.table, names.sender, names.secret_id, names.signing_key) == (
        settings.table_name,
        settings.sender,
        settings.hash_secret_id,
        settings.signing_key_id,
    )


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_has_the_numbers_the_docs_give(stage: str) -> None:
    assert "30 / hour (1000 in `local`" in SECURITY_MODEL
    settings = Settings.from_environ(load_stage_env(stage))
    assert settings.limits == replace(Limits(), **DOCUMENTED_STAGE_LIMITS.get(stage, {}))
    assert (settings.max_body_bytes, settings.token_audience) == (4096, "otp-signin")
