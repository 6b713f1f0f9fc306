"""What the OpenID Connect provider stores stays within its stated bounds (docs/item-layout.md), measured with
DynamoDB's size formula, written to dynalite (which refuses what DynamoDB refuses), and driven far past a day's use.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.accounts.store import AccountStore
from chalicelib.config import Limits
from chalicelib.crypto import KeyedHasher
from chalicelib.oauth.clients import Clients
from chalicelib.oauth.requests import MAX_HINT_CHARS, MAX_NONCE_CHARS, MAX_STATE_CHARS, AuthorizationRequest
from chalicelib.oauth.store import NewClientSession, OAuthStore
from tests.conftest import FakeClock
from tests.dynalite import TABLE, dynalite_table
from tests.dynamodb_size import item_size
from tests.oauth_flow import RelyingParty, code_for
from tests.test_item_bounds import HOME_ITEM_BOUND
from tests.test_mfa_api import Person

CHALLENGE_BOUND = 6 * 1024  # docs/item-layout.md
CLIENT_FIELDS_BOUND = 260
LONG = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + ".example"  # as long as the API takes
WIDE = "\U0001f600"  # 4 bytes of UTF-8: the most a character costs


def test_the_largest_login_challenge_is_under_its_bound_in_dynalite() -> None:
    clients = Clients.parse(
        '[{"client_id": "' + "c" * 64 + '", "token_endpoint_auth_method": "none", "scope": '
        '"openid email phone offline_access", "redirect_uris": ["https://app.example/' + "p" * 480 + '"]}]'
    )
    (client,) = list(clients)
    request = AuthorizationRequest(
        client,
        client.redirect_uris[0],
        client.scopes,
        WIDE * MAX_STATE_CHARS,
        "c" * 43,
        WIDE * MAX_NONCE_CHARS,
        ("login", "consent", "select_account"),
        10**9 - 1,
        WIDE * MAX_HINT_CHARS,
        True,
    )
    hasher = KeyedHasher(b"k" * 32)
    with dynalite_table() as dynamodb:
        accounts = AccountStore(dynamodb, TABLE, hasher.sealer(), Limits())
        store = OAuthStore(dynamodb, TABLE, accounts, hasher.sealer(), 60)
        key = "oauth#" + "f" * 32
        store.save_challenge(key, request, 10**10 - 1, 10**10 - 1)
        item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": key}})["Item"]
        assert store.challenge(key, 0) is not None  # read back whole, the hint opened from its seal
    assert item_size(item) <= CHALLENGE_BOUND, item_size(item)


def test_a_client_session_adds_at_most_its_stated_bytes_to_an_entry() -> None:
    session = NewClientSession(
        "n" * 11,
        "c" * 64,
        "openid email phone offline_access",
        ("otp", "mfa"),
        10**10 - 1,
        "p" * 11,
        "f" * 32,
        "c" * 43,
        "https://app.example/" + "p" * 480,
    )
    entry = session.entry(10**10 - 1, 600)
    plain = {name: value for name, value in entry.items() if name in ("c", "x", "amr", "a")}
    added = item_size(_attributes(entry)) - item_size(_attributes(plain))
    assert added <= CLIENT_FIELDS_BOUND, added


def _attributes(entry: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.core.expressions import to_attribute

    return {name: to_attribute(value) for name, value in entry.items()}


@pytest.mark.slow  # some 30 s on moto: make test's only
def test_two_hundred_authorizations_keep_the_home_item_within_its_bound(client: Client, clock: FakeClock) -> None:
    """Four times the cap of authorizations, redeemed and not, with the longest nonce and state: the cap on
    sessions and the code's expiry keep the item bounded, and the person's own session, which asks each time, is
    never the one ended to make room."""
    person = Person(client, clock, LONG)
    token = person.signed_in()["access_token"]
    largest = 0
    for n in range(200):
        rp = RelyingParty(client)
        rp.nonce, rp.state = "n" * MAX_NONCE_CHARS, "s" * MAX_STATE_CHARS
        code = code_for(person, rp, token)
        if n % 3:
            assert rp.redeem(code).status_code == 200
        if n % 40 == 0:
            clock.advance(61)  # unredeemed codes expire, and their sessions with them
        home = _home(person)
        largest = max(largest, item_size(home))
        assert len(home["sessions"]["M"]) <= wiring.get_settings().limits.max_sessions + 6
    assert largest <= HOME_ITEM_BOUND, largest


def _home(person: Person) -> dict[str, Any]:
    hasher = wiring.get_hasher()
    key = {"pk": {"S": hasher.subject_key("email", person.email)}}
    return dict(boto3.client("dynamodb").get_item(TableName=wiring.get_settings().table_name, Key=key)["Item"])
