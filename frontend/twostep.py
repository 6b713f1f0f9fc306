"""Two-step verification as the UI drives it: the challenge a sign-in stops at, an authenticator being enrolled,
and sensitive calls that need a recent proof (step-up). A small policy with no UI in it, like
:mod:`frontend.renewal`, which it builds on.

Step-up, as the API defines it: removing the authenticator and replacing the recovery codes need a second
factor proven within the last few minutes, and adding or removing a phone needs a proof that recent (the second
factor on an account that has one, else a code sent to the account's own address or number), else 401
``reauthentication_required``. :class:`StepUp` reports that answer as "ask for a code" rather than as a failure,
and once the person has given one, proves it (``POST /mfa/reauthenticate`` or ``POST /reauthenticate``) and
retries the call once. Every proof, like confirming an authenticator, issues new tokens and retires the earlier
ones: :func:`adopt_session` puts them in place before anything else is called.

The ``mfa_token`` of a challenge and the secret of an enrollment are secrets like the session's tokens: they are
left out of ``repr`` and live only in the UI server's memory (:mod:`frontend.state`). The secret is shown once, on
purpose, so that it can be typed into an authenticator app.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from frontend import api
from frontend.renewal import Call, Outcome, TokenApi, TokenRenewal
from frontend.session import Session, SessionBox

MFA_REQUIRED = "mfa_required"
REAUTHENTICATION_REQUIRED = "reauthentication_required"
# POST /reauthenticate's refusal for an account with an authenticator app: it proves with that instead.
USE_SECOND_FACTOR = "use_second_factor"
ENROLLMENT_REQUIRED = "mfa_enrollment_required"
# An mfa_token the API no longer accepts: only repeating the first step helps.
INVALID_MFA_TOKEN = "invalid_mfa_token"
FACTORS: tuple[api.SecondFactor, ...] = ("otp", "recovery_code")
# The API names the authenticator factor "totp" in `factors`; its code travels in the field "otp".
_FACTOR_NAMES: dict[str, api.SecondFactor] = {"totp": "otp", "recovery_code": "recovery_code"}
PASSKEY = "passkey"  # in `factors`: a passkey of the account answers too, through its own ceremony
# The calls that may answer reauthentication_required: the two-step changes need the second factor itself, the
# others a recent proof of any kind (the second factor where the account has one, else a code): the phone changes,
# and letting an app in (POST /oauth2/login) when it asks for a fresh sign-in.
SensitiveAction = Literal[
    "remove_totp",
    "new_recovery_codes",
    "add_phone",
    "link_phone",
    "remove_phone",
    "accept_login",
    "register_passkey",
    "remove_passkey",
]
TWO_STEP_CHANGES: frozenset[SensitiveAction] = frozenset({"remove_totp", "new_recovery_codes"})
PHONE_CHANGES: frozenset[SensitiveAction] = frozenset({"add_phone", "link_phone", "remove_phone"})
PASSKEY_CHANGES: frozenset[SensitiveAction] = frozenset({"register_passkey", "remove_passkey"})


@dataclass(frozen=True)
class Challenge:
    """A sign-in waiting for its second factor: the ``mfa_token`` and what may answer it, in the API's order.

    ``expires_in`` is how long the token lasts, in seconds, as the API said (shown; the API enforces it).
    """

    token: str = field(repr=False)
    factors: tuple[api.SecondFactor, ...]
    expires_in: int | None
    passkey: bool = False  # the account's passkeys answer it too (``POST /passkeys/verify``)

    @classmethod
    def from_answer(cls, data: Mapping[str, Any]) -> Challenge | None:
        """The challenge of an ``mfa_required`` answer, or ``None`` for any other answer or one without a token.

        Unknown factors are ignored; an answer naming none offers both codes, since the API accepts both; one
        naming only ``passkey`` offers no code.
        """
        token = data.get("mfa_token")
        if data.get("code") != MFA_REQUIRED or not isinstance(token, str) or not token:
            return None
        named = data.get("factors")
        names = [name for name in named if isinstance(name, str)] if isinstance(named, list) else []
        offered = [_FACTOR_NAMES.get(name) for name in names]
        factors = tuple(dict.fromkeys(kind for kind in offered if kind is not None))
        passkey = PASSKEY in names
        # Only a passkey (an account whose second factor it is, where the stage requires two): no code field.
        return cls(token, factors or (() if passkey else FACTORS), api.parse_seconds(data.get("expires_in")), passkey)


@dataclass(frozen=True)
class Enrollment:
    """An authenticator being enrolled: the key for manual entry and the QR code (an SVG document) of its URI."""

    secret: str = field(repr=False)
    qr_svg: str = field(repr=False)

    @classmethod
    def from_answer(cls, data: Mapping[str, Any]) -> Enrollment | None:
        """The enrollment of a ``totp_enrollment`` answer, or ``None`` when it lacks the key or the QR code."""
        secret, qr_svg = data.get("secret"), data.get("qr_svg")
        if not (isinstance(secret, str) and secret and isinstance(qr_svg, str) and "<svg" in qr_svg):
            return None
        return cls(secret, qr_svg)


@dataclass(frozen=True)
class CodeProof:
    """How an account without a second factor confirms it is the person: a code sent to one of its own
    identifiers (``POST /reauthenticate``).

    ``via`` names which one and ``to`` is how the page names it (the address, or the number in international
    format; the API's ``to`` once a code went). ``resend_at`` is the clock value from which another code may be
    asked for, ``None`` until one was sent.
    """

    via: api.Channel
    to: str
    resend_at: float | None = None

    @property
    def sent(self) -> bool:
        return self.resend_at is not None


@dataclass(frozen=True)
class Change:
    """A sensitive call the API answered ``reauthentication_required``, kept as the person asked for it so that it
    is retried as asked once they have confirmed it is them.

    ``number`` (E.164) and ``code`` (the code texted to it) are the call's arguments where it takes them, and so
    are ``challenge`` (an app's login request) and ``consent`` (the person allowed what that app asks for),
    ``passkey`` (the id of the passkey to remove) and ``name`` (what a passkey being registered is to be called).
    ``proof`` is how the person confirms: a code by mail or SMS, or, when ``None``, the second factor (a code from
    the authenticator app or a recovery code). ``by_passkey``: only one of the account's passkeys will do (an app
    asks for two factors of an account whose only second factor is a passkey: a code would prove one).
    """

    action: SensitiveAction
    number: str = ""
    code: str = field(default="", repr=False)
    proof: CodeProof | None = None
    challenge: str = field(default="", repr=False)
    consent: bool = False
    passkey: str = ""
    name: str = ""
    by_passkey: bool = False


def recovery_codes(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The recovery codes of an ``mfa_enabled`` or ``recovery_codes`` answer; none when they are not strings."""
    codes = data.get("recovery_codes")
    if not isinstance(codes, list) or not all(isinstance(code, str) and code for code in codes):
        return ()
    return tuple(codes)


def adopt_session(box: SessionBox, result: api.ApiResult, now: float) -> Outcome:
    """Put the tokens of an answer that proved more about the person (``mfa_enabled``, ``reauthenticated``) into
    ``box``, in place of the session's earlier ones; a failed answer changes nothing.

    The API refuses the earlier tokens from then on (the old refresh token presented again counts as reuse and
    ends the session), so they are replaced by a plain assignment before anything else, as for a renewal (see
    :class:`frontend.session.SessionBox`), and the account details of the old ones go with them. A 2xx without
    usable tokens leaves nothing to go on with: the box is emptied and the outcome says the session ended.
    """
    if not result.ok:
        return Outcome(result)
    renewed = Session.from_answer(result.data, now)
    box.current = renewed
    if renewed is None:
        return Outcome(api.ApiResult(result.status, api.BAD_RESPONSE, api.UNEXPECTED_ANSWER), ended=True)
    return Outcome(result)


class StepUpApi(TokenApi, Protocol):
    """The part of :class:`frontend.api.OtpClient` step-up needs."""

    def reauthenticate(self, access_token: str, code: str, kind: api.SecondFactor = "otp") -> api.ApiResult: ...


@dataclass(frozen=True)
class StepUpOutcome:
    """What a sensitive call came to. ``needs_reauthentication``: the API asks for a fresh proof first (``result``
    is its answer); ``ended``: as :class:`frontend.renewal.Outcome`, the box is already empty; ``proven``: a proof
    was accepted on the way (its tokens are in the box) and ``result`` is the retried call's answer."""

    result: api.ApiResult
    ended: bool = False
    needs_reauthentication: bool = False
    proven: bool = False


class StepUp:
    """Runs sensitive calls for the session in ``box``, renewing its tokens through ``renewal`` as any call."""

    def __init__(self, client: StepUpApi, renewal: TokenRenewal, box: SessionBox, clock: Callable[[], float]) -> None:
        self._client = client
        self._renewal = renewal
        self._box = box
        self._clock = clock

    def call(self, call: Call) -> StepUpOutcome:
        """Run ``call``; a 401 ``reauthentication_required`` comes back as ``needs_reauthentication``."""
        outcome = self._renewal.call(call)
        result = outcome.result
        needs = result.status == 401 and result.code == REAUTHENTICATION_REQUIRED
        return StepUpOutcome(result, outcome.ended, needs)

    def reauthenticate_then(self, code: str, kind: api.SecondFactor, call: Call) -> StepUpOutcome:
        """Prove ``code`` as the second factor (``POST /mfa/reauthenticate``), then run ``call`` once more, as
        :meth:`prove_then`."""
        return self.prove_then(lambda token: self._client.reauthenticate(token, code, kind), call)

    def prove_then(self, prove: Call, call: Call) -> StepUpOutcome:
        """Run ``prove``, a re-authentication answered ``reauthenticated`` with new tokens, then ``call`` once more.

        A refused proof (401 ``invalid_code``, 429...) is the outcome and ``call`` is not run. The new tokens
        replace the session before the retry, which presents them; an answer without tokens ends the session,
        since the API no longer takes the earlier ones. If the retry still asks for a proof, that is reported
        again and nothing is retried further.
        """
        proof = self._renewal.call(prove)
        if proof.ended or not proof.result.ok:
            return StepUpOutcome(proof.result, proof.ended)
        adopted = adopt_session(self._box, proof.result, self._clock())
        if adopted.ended:
            return StepUpOutcome(adopted.result, ended=True)
        return replace(self.call(call), proven=True)
