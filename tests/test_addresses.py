"""normalize_address's shortcut past email-validator is exact: the same answer as the library alone, on any input.

The reference is normalize_address as it was before the shortcut: the same checks, then every address through
email_validator. Inputs come from the shortcut's grammar, from mutations that step just outside it (where a wrong
bound would show), and from arbitrary text.
"""

from __future__ import annotations

import re
import string
import subprocess
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path

import email_validator
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.accounts.addresses import (
    CONTROL_CATEGORIES,
    MAX_ADDRESS_LENGTH,
    SPECIAL_USE_DOMAIN_NAMES,
    is_plain_address,
    normalize_address,
)
from chalicelib.core.refusals import InvalidAddress


def examples(n: int) -> settings:
    """Hypothesis costs ~1.5 ms an example here: the near misses, where a wrong bound would show, get the most."""
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
LDH = string.ascii_letters + string.digits + "-"
# Not ASCII, though some look like it or lower-case to it: u-umlaut, sharp s, dotted capital I, dotless i, long s,
# the Kelvin sign, e-acute, omega, full-width a and @, small @, ideographic and full-width full stops.
NOT_ASCII = "\u00fc\u00df\u0130\u0131\u017f\u212a\u00e9\u03a9\uff41\uff20\ufe6b\u3002\uff0e"
REPO_ROOT = Path(__file__).resolve().parents[1]


def library_only(raw: object) -> str:
    """normalize_address without the shortcut: what every address was answered with before it."""
    if not isinstance(raw, str) or not raw.strip(" ") or len(raw) > MAX_ADDRESS_LENGTH:
        raise InvalidAddress("email must be an address of at most 254 characters")
    if any(unicodedata.category(char) in CONTROL_CATEGORIES for char in raw):
        raise InvalidAddress("email must not contain line breaks or other control characters")
    try:
        result = validate_email(raw.strip(" "), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise InvalidAddress(str(error)) from None
    return result.ascii_email.lower()


def outcome(normalize: Callable[[object], str], raw: str) -> tuple[str, str]:
    try:
        return "address", normalize(raw)
    except InvalidAddress as error:
        return "invalid", str(error)


def assert_same_answer(raw: str) -> None:
    # Messages too: a refusal never takes the shortcut, so it is the library's own refusal, word for word.
    assert outcome(normalize_address, raw) == outcome(library_only, raw)


def as_label(text: str) -> str:
    """``text`` (LDH, not empty) made a label of the same length: no hyphen at either end, none doubled."""
    label = ("a" if text[0] == "-" else text[0]) + text[1:]
    label = label[:-1] + ("z" if label[-1] == "-" else label[-1])
    while "--" in label:
        label = label.replace("--", "-a")
    return label


def sized(alphabet: str, limit: int) -> st.SearchStrategy[str]:
    """Text of ``alphabet``, mostly short, sometimes at or just under ``limit``, where an off-by-one would hide.

    Built once, at import: a strategy made inside a draw is validated again at every draw.
    """
    return st.one_of(st.text(alphabet, min_size=1, max_size=12), st.text(alphabet, min_size=limit - 5, max_size=limit))


LOCAL_PARTS = sized(ATEXT + ".", 64)
LABELS = sized(LDH, 63).map(as_label)
TOP_LABELS = sized(string.ascii_letters, 63)


@st.composite
def plain_addresses(draw: st.DrawFn) -> str:
    """Strings of the shortcut's grammar (a special-use last label is renamed, not filtered out)."""
    tld = draw(TOP_LABELS)
    if tld.lower() in SPECIAL_USE_DOMAIN_NAMES:
        tld += "x"
    domain = ".".join([*draw(st.lists(LABELS, min_size=1, max_size=4)), tld])
    while len(domain) > 252:  # room for a one-character local part within 254
        domain = domain.partition(".")[2]
    if "." not in domain:
        domain = "a." + domain
    local = re.sub(r"\.+", ".", draw(LOCAL_PARTS)).strip(".") or "a"
    return local[: 254 - 1 - len(domain)].rstrip(".") + "@" + domain


def insert(text: str, at: int, piece: str) -> str:
    at %= len(text) + 1
    return text[:at] + piece + text[at:]


@st.composite
def near_plain_addresses(draw: st.DrawFn) -> str:
    """A plain address with one to three small changes, each aimed at an edge of the grammar."""
    address = draw(plain_addresses())
    for _ in range(draw(st.integers(1, 3))):
        local, _, domain = address.rpartition("@")
        mutation = draw(st.integers(0, 15))
        position = draw(st.integers(0, 300))
        if mutation == 0:  # dots at the ends of either part, or doubled
            address = draw(
                st.sampled_from(
                    [
                        f".{local}@{domain}",
                        f"{local}.@{domain}",
                        f"{local}@.{domain}",
                        f"{local}@{domain}.",
                        insert(local, position, "..") + "@" + domain,
                        local + "@" + insert(domain, position, ".."),
                    ]
                )
            )
        elif mutation == 1:  # hyphens at label edges and inside
            address = local + "@" + insert(domain, position, draw(st.sampled_from(["-", "--", "-.", ".-"])))
        elif mutation == 2:  # a top-level label with digits, or only digits
            digits = draw(st.text(string.digits, min_size=1, max_size=4))
            address = draw(
                st.sampled_from([f"{address}{digits}", f"{address}.{digits}", f"{local}@{insert(domain, -1, digits)}"])
            )
        elif mutation == 3:  # special-use names, as the domain, its last label, or a label before the last
            name = draw(st.sampled_from(SPECIAL_USE_DOMAIN_NAMES))
            name = draw(st.sampled_from([name, name.upper(), name.title()]))
            address = draw(
                st.sampled_from(
                    [
                        f"{local}@{name}",
                        f"{local}@{domain}.{name}",
                        f"{local}@{name}.{domain}",
                        f"{local}@x{name}",
                        f"{local}@{domain}.{name}x",
                    ]
                )
            )
        elif mutation == 4:  # Punycode and R-LDH labels, real and bogus
            label = draw(
                st.sampled_from(
                    [
                        "xn--bcher-kva",
                        "XN--BCHER-KVA",
                        "xn--",
                        "xn--a",
                        "xn--zz-zz",
                        "ab--cd",
                        "a--b",
                        "xn--4dbc",
                        "xn--mnchen-3ya",
                        "zz--",
                    ]
                )
            )
            address = draw(st.sampled_from([f"{local}@{label}.{domain}", f"{local}@{domain}.{label}"]))
        elif mutation == 5:  # labels of 63 and 64 characters
            label = draw(st.sampled_from(string.ascii_letters)) * draw(st.integers(62, 65))
            address = draw(st.sampled_from([f"{local}@{label}.{domain}", f"{local}@{domain}.{label}"]))
        elif mutation == 6:  # local parts of 64 and 65 characters
            address = "x" * draw(st.integers(62, 66)) + "@" + domain
        elif mutation == 7:  # domains of 253 and 254 characters, addresses of 254 and 255
            fill = ".".join(["a" * 63] * 3) + "."
            address = local[:1] + "@" + (fill + domain)[-draw(st.integers(250, 256)) :].lstrip(".-")
        elif mutation == 8:
            address = draw(st.sampled_from([address.upper(), address.swapcase(), address.title()]))
        elif mutation == 9:
            letter = draw(st.one_of(st.sampled_from(NOT_ASCII), st.characters(min_codepoint=0x80)))
            address = insert(address, position, letter)
        elif mutation == 10:  # spaces, plain and not, anywhere
            address = insert(address, position, draw(st.sampled_from([" ", "  ", "\u00a0", "\u3000", "\t"])))
        elif mutation == 11:  # any printable ASCII: quotes, brackets, another @, a display name's <
            address = insert(address, position, draw(st.sampled_from(string.printable)))
        elif mutation == 12:  # the syntaxes the options refuse: quoted local parts, literals, display names
            address = draw(
                st.sampled_from(
                    [
                        f'"{local}"@{domain}',
                        f"{local}@[127.0.0.1]",
                        f"Bob <{address}>",
                        f'"a b"@{domain}',
                        f"<{address}>",
                    ]
                )
            )
        elif mutation == 13:  # one character fewer
            address = address[: position % len(address)] + address[position % len(address) + 1 :] or "@"
        elif mutation == 14:  # the @ lost or doubled
            address = draw(st.sampled_from([local + domain, f"{local}@@{domain}", f"{local}@{local}@{domain}"]))
        else:  # RFC 2142 mailbox names, which the library lower-cases itself
            name = draw(st.sampled_from(["Postmaster", "ABUSE", "info", "WebMaster"]))
            address = f"{name}@{domain}"
    return address


@examples(1000)
@given(plain_addresses())
def test_plain_addresses_skip_the_library_and_get_its_answer(address: str) -> None:
    assert is_plain_address(address)
    assert normalize_address(address) == library_only(address) == address.lower()


@examples(2000)
@given(near_plain_addresses())
def test_near_misses_get_the_librarys_answer(raw: str) -> None:
    assert_same_answer(raw)


@examples(1000)
@given(st.one_of(st.text(), st.text(string.printable), st.builds("{}@{}".format, st.text(), st.text())))
def test_any_text_gets_the_librarys_answer(raw: str) -> None:
    assert_same_answer(raw)


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        ("Bob.Smith+x@Example.COM", True),
        ("a@b.c0m", False),
        ("a@xn--bcher-kva.de", False),
        ("a@b.onion", False),
        ("a@B.Local", False),
        ("a@arpa.com", True),
        ("x" * 64 + "@example.com", True),
        ("x" * 65 + "@example.com", False),
        (f"a@{'b' * 63}.com", True),
        (f"a@{'b' * 64}.com", False),
        (f"ab@{'b.' * 124}com", True),
        (f"abc@{'b.' * 124}com", False),
        ("ab--c@example.com", True),
        ("a@ab--c.com", False),
        ("POSTMASTER@example.com", True),
        ("a@example.k", True),
        ("a@b", False),
    ],
)
def test_edges_of_the_grammar_get_the_librarys_answer(raw: str, plain: bool) -> None:
    assert is_plain_address(raw) == plain
    assert_same_answer(raw)


def test_the_grammar_alone_keeps_within_the_librarys_254_characters() -> None:
    too_long = "x" * 64 + "@" + ".".join(["d" * 63, "d" * 63, "d" * 58, "com"])
    assert len(too_long) == 255
    assert not is_plain_address(too_long)
    assert is_plain_address(too_long[1:])
    with pytest.raises(EmailNotValidError, match="too long"):
        validate_email(too_long, check_deliverability=False, allow_smtputf8=False)


def test_the_special_use_names_are_the_librarys() -> None:
    assert list(SPECIAL_USE_DOMAIN_NAMES) == email_validator.SPECIAL_USE_DOMAIN_NAMES


def modules_after(address: str) -> set[str]:
    script = (
        "import sys\n"
        "from chalicelib.accounts.addresses import normalize_address\n"
        f"normalize_address({address!r})\n"
        "print(' '.join(sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return set(run.stdout.split())


def test_a_plain_address_never_loads_the_library() -> None:
    assert "email_validator" not in modules_after("Bob.Smith+x@Example.COM")
    assert "email_validator" in modules_after("a@xn--bcher-kva.de")
    assert "email_validator" in modules_after("a@b.c0m")
