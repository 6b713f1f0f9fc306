"""The passkey ceremonies (WebAuthn Level 3), verified by the ``webauthn`` package (py_webauthn, Duo Labs).

A ceremony's handle is its challenge (256 random bits, base64url): the options carry it for the authenticator,
the answer names it, and the write that completes the ceremony spends the ceremony item it names (keyed by its
digest) on the conditions that it is live, unspent, of its purpose and bound to its session (registration) or to
none (sign-in). The challenge is therefore known without reading anything, and checked twice: by the signature
over the client data, and by the write.

A re-authentication (step-up) with a passkey is a ceremony bound to the session that asks, offering only its
account's passkeys; its write spends the ceremony, counts the signature and records the session's new proof
(next generation, proof time now, the passkey's ``amr`` added) in one transaction, as ``POST
/mfa/reauthenticate`` records a code's.

The second factor after a code: on an account with two-step verification, ``POST /otp``'s ``mfa_required`` lists
``passkey`` where the account has one, and its mfa_token is redeemed with a ceremony bound to the pending session
that offers only the account's passkeys; the write spends the ceremony, counts the signature and upgrades the
pending session (the token's refresh tag still held) in one transaction, as ``POST /mfa/verify`` does with a code.

A passkey verified with user verification counts as two factors (NIST SP 800-63B-4: a multi-factor
cryptographic authenticator): its session's ``amr`` is ``hwk`` (bound to one device) or ``swk`` (synced, hence a
software key), ``user``, and ``mfa`` (RFC 8176), so it is at AAL2 (:func:`chalicelib.core.assurance.aal`) and owes
no second factor.
"""

from __future__ import annotations

import binascii
import re
import secrets
from collections.abc import Mapping
from typing import Any, NamedTuple

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, options_to_json_dict
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from chalicelib.accounts.identifiers import EMAIL, PHONE
from chalicelib.accounts.sessions import IssuedSession, Principal, SessionService
from chalicelib.accounts.store import AccountStore, SessionView
from chalicelib.config import Settings
from chalicelib.core.assurance import MFA_AMR, Factors
from chalicelib.core.expressions import Item, Update, read_map, read_number, read_string
from chalicelib.core.refusals import (
    AccountLocked,
    InvalidMfaToken,
    InvalidPasskey,
    PasskeyLimit,
    PasskeyNotFound,
    Throttled,
)
from chalicelib.core.schema import ACTIVE, MFA, PASSKEYS, SESSIONS, STATUS
from chalicelib.core.windows import WindowCounter
from chalicelib.crypto import DIGEST_HEX_CHARS, KeyedHasher
from chalicelib.mfa.challenge import Challenges, Ticket
from chalicelib.passkeys.store import (
    OWNER,
    REAUTHENTICATE,
    REGISTER,
    SECOND_FACTOR,
    SIGN_COUNT_REGRESSION,
    SIGN_IN,
    Assertion,
    Credential,
    Passkey,
    PasskeyStore,
)

CHALLENGE_BYTES = 32
_HANDLE = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 bytes, base64url without padding
_HOME = re.compile(rf"(?:{EMAIL}|{PHONE})#[0-9a-f]{{{DIGEST_HEX_CHARS}}}")
_PASSKEY_ID = re.compile(rf"[0-9a-f]{{{DIGEST_HEX_CHARS}}}")
# Credential ids of discoverable credentials are short (16 to 64 bytes in practice); the spec allows 1023. A
# bound keeps the home's list (which holds each id for excludeCredentials) within its stated size.
MAX_CREDENTIAL_ID_BYTES = 128
MAX_CREDENTIAL_ID_CHARS = 171  # base64url of 128 bytes
MAX_USER_HANDLE_CHARS = 86  # base64url of 64 bytes, WebAuthn's most
MAX_PUBLIC_KEY_BYTES = 1024  # a COSE key of RSA-4096 is about 530 bytes, of P-256 77: the credential item's bound
# ES256 (every platform), EdDSA, RS256 (Windows Hello): their COSE keys are small; larger post-quantum keys are not
# offered until their size is part of the credential item's bound.
ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
DEVICE_BOUND, SYNCED = "hwk", "swk"  # RFC 8176: a hardware-secured key; a software-secured (synced) one
USER_PRESENCE = "user"


class Ceremony(NamedTuple):
    """Options in WebAuthn Level 3's JSON form (``PublicKeyCredential.parseCreationOptionsFromJSON`` /
    ``parseRequestOptionsFromJSON`` take them as they are) and the ceremony's handle."""

    options: dict[str, Any]
    handle: str
    expires_in: int


def amr(backup_eligible: bool) -> tuple[str, ...]:
    """What a passkey proven with user verification proves (RFC 8176): a key, the user, two factors."""
    return (SYNCED if backup_eligible else DEVICE_BOUND, USER_PRESENCE, MFA_AMR)


def _descriptors(listing: Mapping[str, Any]) -> list[PublicKeyCredentialDescriptor]:
    """The credentials a home's raw ``passkeys`` map lists, as options name them."""
    return [
        PublicKeyCredentialDescriptor(id=base64url_to_bytes(read_string(entry.get("M", {}), "i")))
        for entry in listing.values()
    ]


def _credential_id(credential: Mapping[str, Any]) -> str:
    credential_id = credential.get("id")
    if not isinstance(credential_id, str) or not 0 < len(credential_id) <= MAX_CREDENTIAL_ID_CHARS:
        raise InvalidPasskey("no credential id")
    return credential_id


def parse_passkey_id(raw: str) -> str:
    if not _PASSKEY_ID.fullmatch(raw):
        raise PasskeyNotFound()
    return raw


class PasskeyService:
    def __init__(
        self,
        store: PasskeyStore,
        sessions: SessionService,
        accounts: AccountStore,
        challenges: Challenges,
        hasher: KeyedHasher,
        settings: Settings,
    ) -> None:
        self._store = store
        self._challenges = challenges
        self._sessions = sessions
        self._accounts = accounts
        self._hasher = hasher
        self._settings = settings
        self._limits = settings.limits
        self._rp_id = settings.webauthn_rp_id or ""
        self._origins = list(settings.webauthn_origins)

    # -- registration ----------------------------------------------------------------------------------------

    def registration_options(self, principal: Principal, network_key: str | None, now: int) -> Ceremony:
        account, home = principal.account, principal.ref.home
        listing = account.passkeys or {}
        if len(listing) >= self._limits.max_passkeys:
            raise PasskeyLimit()
        challenge, handle = self._challenge()
        # The user handle names the account's home: a keyed digest, nothing personal (WebAuthn forbids an
        # address there), and what lets a sign-in read the credential and the home in one request.
        shown = account.identifiers.get(EMAIL) or account.identifiers.get(PHONE) or account.id
        options = generate_registration_options(
            rp_id=self._rp_id,
            rp_name=self._settings.webauthn_rp_display_name,
            user_name=shown,
            user_id=home.encode(),
            user_display_name=shown,
            challenge=challenge,
            timeout=self._limits.passkey_ceremony_seconds * 1000,
            attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                require_resident_key=True,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=_descriptors(listing),
            supported_pub_key_algs=ALGORITHMS,
        )
        # The account moved away from its home meanwhile (the home's write is refused): nothing to register on.
        self._begin(handle, REGISTER, now, network_key, principal.ref.id, self._store.prepare_home(home, account.id))
        return Ceremony(options_to_json_dict(options), handle, self._limits.passkey_ceremony_seconds)

    def register(
        self, principal: Principal, handle: str, credential: Mapping[str, Any], name: str, now: int
    ) -> Passkey:
        challenge = self._parse_handle(handle)
        try:
            verified = verify_registration_response(
                credential=dict(credential),
                expected_challenge=challenge,
                expected_rp_id=self._rp_id,
                expected_origin=self._origins,
                require_user_presence=True,
                require_user_verification=True,
                supported_pub_key_algs=ALGORITHMS,
            )
        except (WebAuthnException, ValueError, KeyError, TypeError, binascii.Error):
            raise InvalidPasskey("registration does not verify") from None
        if len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES:
            raise InvalidPasskey("credential id longer than this service stores")
        if len(verified.credential_public_key) > MAX_PUBLIC_KEY_BYTES:
            raise InvalidPasskey("public key larger than this service stores")
        credential_id = bytes_to_base64url(verified.credential_id)
        record = Credential(
            self._credential_digest(credential_id),
            credential_id,
            bytes_to_base64url(verified.credential_public_key),
            verified.sign_count,
            verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
            verified.credential_backed_up,
            verified.user_verified,
            verified.aaguid,
        )
        ref = principal.ref
        return self._store.register(
            self._ceremony_digest(handle), ref.home, principal.account.id, ref.id, ref.nonce, record, name, now
        )

    # -- sign-in ---------------------------------------------------------------------------------------------

    def sign_in_options(self, network_key: str | None, now: int) -> Ceremony:
        """Options for a usernameless sign-in (no ``allowCredentials``: the authenticator offers its passkeys),
        counted per source network in the same write that records the ceremony."""
        challenge, handle = self._challenge()
        options = generate_authentication_options(
            rp_id=self._rp_id,
            challenge=challenge,
            timeout=self._limits.passkey_ceremony_seconds * 1000,
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        self._begin(handle, SIGN_IN, now, network_key)
        return Ceremony(options_to_json_dict(options), handle, self._limits.passkey_ceremony_seconds)

    def sign_in(self, handle: str, credential: Mapping[str, Any], network_key: str | None, now: int) -> IssuedSession:
        """A session for a passkey's answer: one read (the credential, the home and the network's failures), the
        signature, one transaction. Every failure is one answer (:class:`InvalidPasskey`) and counts against
        the source network's failure budget, as a wrong code does."""
        challenge = self._parse_handle(handle)
        credential_id, home = self._claimed(credential)
        digest = self._credential_digest(credential_id)
        read = self._store.read_for_sign_in(digest, home, network_key, now)
        failures = WindowCounter("fails", self._limits.failures_per_ip, now)
        if failures.exhausted(read.network_failures):
            raise Throttled("ip_failure_quota_exceeded", failures.seconds_left)
        try:
            assertion, account = self._verify(challenge, credential, digest, home, read.credential, read.home)
        except InvalidPasskey:
            self._store.count_failure(network_key, now)
            raise
        if read_string(read.home, STATUS) != ACTIVE:
            raise AccountLocked()
        pending = self._sessions.prepare(home, now, amr(read_number(read.credential, "be") == 1))
        try:
            self._store.sign_in(self._ceremony_digest(handle), home, read.home, account, assertion, pending.record, now)
        except InvalidPasskey:
            self._store.count_failure(network_key, now)
            raise
        return self._sessions.issue(pending, self._accounts.account(home, read.home), now)

    # -- re-authentication (step-up) -------------------------------------------------------------------------

    def reauthentication_options(self, principal: Principal, network_key: str | None, now: int) -> Ceremony:
        """Options that offer only the account's passkeys, for a ceremony bound to the asking session;
        :class:`PasskeyNotFound` for an account with none."""
        return self._offering(principal.account.passkeys or {}, REAUTHENTICATE, now, network_key, principal.ref.id)

    def reauthenticate(
        self, principal: Principal, handle: str, credential: Mapping[str, Any], now: int
    ) -> IssuedSession:
        """New tokens for ``principal``'s session once one of its account's passkeys answered the session's
        ceremony with user verification: two factors at once (as a passkey sign-in), proven now. Its next
        generation: the earlier tokens are refused, its refresh token retired without grace.

        A credential of another account, removed, unknown or regressed is :class:`InvalidPasskey`, as one that
        does not verify; ``SessionRejected`` if the session ended, or was upgraded by another request, meanwhile.
        """
        challenge = self._parse_handle(handle)
        digest = self._credential_digest(_credential_id(credential))
        ref, session = principal.ref, principal.session
        # The credential and the home as they stand (the network's failures are not read: no network key).
        read = self._store.read_for_sign_in(digest, ref.home, None, now)
        assertion, account = self._verify(challenge, credential, digest, ref.home, read.credential, read.home)
        if account != principal.account.id:
            raise InvalidPasskey("another account's credential")
        proved = tuple(dict.fromkeys([*session.amr, *amr(read_number(read.credential, "be") == 1)]))
        view = session._replace(amr=proved, authenticated_at=now, generation=session.generation + 1)
        issued, tag = self._sessions.reissue(principal.account, ref, view, now)
        self._store.reauthenticate(
            self._ceremony_digest(handle),
            ref.home,
            account,
            ref.id,
            ref.nonce,
            session.generation,
            tag,
            proved,
            assertion,
            now,
        )
        return issued

    # -- the second factor after a code ----------------------------------------------------------------------

    def second_factor_options(self, raw_token: object, network_key: str | None, now: int) -> Ceremony:
        """Options for redeeming an mfa_token (``POST /otp``'s ``mfa_required``) with a passkey: they offer only the
        account's passkeys, for a ceremony bound to the pending session, counted per source network as a sign-in's
        are. :class:`InvalidMfaToken` for a token that no longer redeems, :class:`PasskeyNotFound` for an account
        without a passkey."""
        ticket = self._challenges.parse(raw_token)
        home = self._store.read_home(ticket.ref.home)
        self._pending_entry(home, ticket, now)
        return self._offering(read_map(home, PASSKEYS), SECOND_FACTOR, now, network_key, ticket.ref.id)

    def second_factor(
        self, raw_token: object, handle: str, credential: Mapping[str, Any], network_key: str | None, now: int
    ) -> tuple[IssuedSession, int]:
        """Redeem an mfa_token with one of its account's passkeys (verified with user verification): the pending
        session at AAL2 with new tokens, as ``POST /mfa/verify`` makes it, and the account's unused recovery codes.
        Its ``amr`` keeps the first factor's methods and adds the passkey's.

        One read (the credential, the home, the network's failures), the signature, one transaction. A passkey of
        another account, removed, unknown or regressed is :class:`InvalidPasskey`, counted against the network's
        failure budget; :class:`InvalidMfaToken` once the token no longer redeems; :class:`AccountLocked`.
        """
        ticket = self._challenges.parse(raw_token)
        challenge = self._parse_handle(handle)
        ref = ticket.ref
        digest = self._credential_digest(_credential_id(credential))
        read = self._store.read_for_sign_in(digest, ref.home, network_key, now)
        failures = WindowCounter("fails", self._limits.failures_per_ip, now)
        if failures.exhausted(read.network_failures):
            raise Throttled("ip_failure_quota_exceeded", failures.seconds_left)
        entry = self._pending_entry(read.home, ticket, now)
        try:
            assertion, account = self._verify(challenge, credential, digest, ref.home, read.credential, read.home)
        except InvalidPasskey:
            self._store.count_failure(network_key, now)
            raise
        if read_string(read.home, STATUS) != ACTIVE:
            raise AccountLocked()
        first = [element.get("S", "") for element in entry.get("amr", {}).get("L", [])]
        proved = tuple(dict.fromkeys([*first, *amr(read_number(read.credential, "be") == 1)]))
        view = SessionView(
            read_number(entry, "c"), now + self._limits.session_seconds, proved, now, read_number(entry, "g") + 1
        )
        issued, tag = self._sessions.reissue(self._accounts.account(ref.home, read.home), ref, view, now)
        try:
            self._store.second_factor(
                self._ceremony_digest(handle),
                ref.home,
                account,
                ref.id,
                ref.nonce,
                ticket.pending_tag,
                tag,
                view,
                assertion,
                now,
            )
        except InvalidPasskey:
            self._store.count_failure(network_key, now)
            raise
        return issued, Factors.of(read_map(read.home, MFA)).recovery_codes_left

    def _pending_entry(self, home: Item, ticket: Ticket, now: int) -> dict[str, Any]:
        """The pending session an mfa_token names, as ``home`` holds it: still of the token (its refresh tag),
        opened less than ``OTP_MFA_TOKEN_SECONDS`` ago; else :class:`InvalidMfaToken`. (The write checks it again.)"""
        entry = read_map(home, SESSIONS).get(ticket.ref.nonce, {}).get("M", {})
        if (
            read_string(entry, "h") != ticket.pending_tag
            or read_number(entry, "c") <= now - self._limits.mfa_token_seconds
        ):
            raise InvalidMfaToken()
        return dict(entry)

    def _claimed(self, credential: Mapping[str, Any]) -> tuple[str, str]:
        """The credential id and the home its user handle names, as claimed (verified by :meth:`_verify`)."""
        credential_id = _credential_id(credential)
        response = credential.get("response")
        handle = response.get("userHandle") if isinstance(response, Mapping) else None
        if not isinstance(handle, str) or len(handle) > MAX_USER_HANDLE_CHARS:
            raise InvalidPasskey("no user handle")
        try:
            home = base64url_to_bytes(handle).decode()
        except (ValueError, binascii.Error):
            raise InvalidPasskey("user handle not one of this service's") from None
        if not _HOME.fullmatch(home):
            raise InvalidPasskey("user handle not one of this service's")
        return credential_id, home

    def _verify(
        self,
        challenge: bytes,
        credential: Mapping[str, Any],
        digest: str,
        home: str,
        stored: Mapping[str, Any],
        home_item: Mapping[str, Any],
    ) -> tuple[Assertion, str]:
        """The assertion of a registered passkey of the account whose home the authenticator named."""
        if not stored:
            raise InvalidPasskey("unknown credential")
        account = read_string(stored, OWNER)
        if read_string(stored, "home") != home or read_string(home_item, "account") != account:
            raise InvalidPasskey("another account's credential")
        if digest not in read_map(home_item, PASSKEYS):
            raise InvalidPasskey("passkey removed")
        try:
            verified = verify_authentication_response(
                credential=dict(credential),
                expected_challenge=challenge,
                expected_rp_id=self._rp_id,
                expected_origin=self._origins,
                credential_public_key=base64url_to_bytes(read_string(stored, "cose")),
                # The sign count's rule is this module's (below), so that a regression is told apart and logged.
                credential_current_sign_count=0,
                require_user_verification=True,
            )
        except (WebAuthnException, ValueError, KeyError, TypeError, binascii.Error):
            raise InvalidPasskey("assertion does not verify") from None
        counted = read_number(stored, "sc")
        if (verified.new_sign_count or counted) and verified.new_sign_count <= counted:
            # WebAuthn Level 3 6.1.1: a signature counter that does not grow may mean a cloned authenticator.
            raise InvalidPasskey(SIGN_COUNT_REGRESSION)
        return Assertion(digest, verified.new_sign_count, verified.credential_backed_up), account

    # -- the list --------------------------------------------------------------------------------------------

    def passkeys(self, principal: Principal) -> list[Passkey]:
        return self._store.passkeys(principal.ref.home, principal.account.passkeys)

    def rename(self, principal: Principal, passkey_id: str, name: str) -> Passkey:
        return self._store.rename(principal.ref.home, principal.account.id, parse_passkey_id(passkey_id), name)

    def remove(self, principal: Principal, passkey_id: str) -> None:
        self._store.remove(principal.ref.home, principal.account.id, parse_passkey_id(passkey_id))

    # -- handles and digests ---------------------------------------------------------------------------------

    def _offering(
        self, listing: Mapping[str, Any], purpose: str, now: int, network_key: str | None, session: str
    ) -> Ceremony:
        """Options that offer only the passkeys ``listing`` (a home's raw map) holds, for a ceremony of ``purpose``
        bound to ``session``. :class:`PasskeyNotFound` where it holds none (options without ``allowCredentials``
        would offer the authenticator's passkeys of any account, none of which could be accepted)."""
        if not listing:
            raise PasskeyNotFound()
        challenge, handle = self._challenge()
        options = generate_authentication_options(
            rp_id=self._rp_id,
            challenge=challenge,
            timeout=self._limits.passkey_ceremony_seconds * 1000,
            allow_credentials=_descriptors(listing),
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        self._begin(handle, purpose, now, network_key, session)
        return Ceremony(options_to_json_dict(options), handle, self._limits.passkey_ceremony_seconds)

    def _begin(
        self,
        handle: str,
        purpose: str,
        now: int,
        network_key: str | None,
        session: str = "",
        home: tuple[str, Update] | None = None,
    ) -> None:
        """Record the ceremony of ``handle`` (bound to ``session``, if any), counted against the source network's
        budget of ceremonies in the same transaction (every purpose shares it), with ``home``'s write if given.

        Raises ``Throttled`` (``passkey_quota_exceeded``) where the network's budget is spent, else
        :class:`InvalidPasskey` where ``home``'s write was refused."""
        counter = self._store.network_counter(network_key, now) if network_key else None
        also = tuple(write for write in (home, counter) if write is not None)
        refused = self._store.begin(self._ceremony_digest(handle), purpose, now, session, also)
        if refused is None:
            return
        if counter is not None and refused[-1]:  # an item is returned only where its own condition failed
            window = WindowCounter("passkeys", self._limits.passkey_ceremonies_per_ip, now)
            raise Throttled("passkey_quota_exceeded", window.seconds_left)
        raise InvalidPasskey("ceremony not recorded")

    @staticmethod
    def _challenge() -> tuple[bytes, str]:
        challenge = secrets.token_bytes(CHALLENGE_BYTES)
        return challenge, bytes_to_base64url(challenge)

    @staticmethod
    def _parse_handle(handle: str) -> bytes:
        if not _HANDLE.fullmatch(handle):
            raise InvalidPasskey("malformed ceremony")
        return base64url_to_bytes(handle)

    def _ceremony_digest(self, handle: str) -> str:
        return self._hasher.tag("passkey-ceremony", handle)

    def _credential_digest(self, credential_id: str) -> str:
        return self._hasher.tag("passkey", credential_id)
