"""The source network the per-source send quota counts: one key per spelling-independent IPv4 address or IPv6 /64."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, IPv6Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.config import IPV6_PREFIX_LENGTH
from chalicelib.http.network import source_network

deterministic = settings(max_examples=300, deadline=None, derandomize=True, database=None)
ipv4 = st.ip_addresses(v=4)
ipv6 = st.ip_addresses(v=6).filter(lambda address: address.ipv4_mapped is None)
interface_ids = st.integers(0, 2**64 - 1)


@st.composite
def spellings(draw: st.DrawFn, address: IPv6Address) -> str:
    """Any text that ``ipaddress`` reads as ``address``: each group in either case with or without leading zeros,
    the last 32 bits optionally as dotted decimal, one run of zero groups optionally written ``::``."""
    value = int(address)
    groups = [(value >> (112 - 16 * i)) & 0xFFFF for i in range(8)]
    texts = []
    for group in groups:
        text = f"{group:0{draw(st.integers(len(f'{group:x}'), 4))}x}"
        texts.append(text.upper() if draw(st.booleans()) else text)
    if draw(st.booleans()):
        texts[6:] = [str(IPv4Address(value & 0xFFFFFFFF))]
    zero_runs = [
        (start, end)
        for start in range(len(texts))
        for end in range(start + 1, len(texts) + 1)
        if all(g == 0 for g in groups[start:end]) and not (end == len(texts) == 7)
    ]
    if zero_runs and draw(st.booleans()):
        start, end = draw(st.sampled_from(zero_runs))
        return ":".join(texts[:start]) + "::" + ":".join(texts[end:])
    return ":".join(texts)


def in_network(network: int, interface_id: int) -> IPv6Address:
    return IPv6Address(network << 64 | interface_id)


@deterministic
@given(st.data(), ipv6)
def test_every_spelling_of_an_ipv6_address_is_one_source(data: st.DataObject, address: IPv6Address) -> None:
    spelled = data.draw(spellings(address))
    expected = IPv6Network(f"{address}/64", strict=False).compressed
    assert source_network(spelled) == source_network(str(address)) == expected


@deterministic
@given(st.integers(0, 2**64 - 1), interface_ids, interface_ids)
def test_addresses_of_one_64_are_one_source(network: int, one: int, other: int) -> None:
    first, second = in_network(network, one), in_network(network, other)
    if first.ipv4_mapped is None and second.ipv4_mapped is None:
        assert source_network(str(first)) == source_network(str(second))


@deterministic
@given(ipv6, ipv6)
def test_addresses_of_different_64s_are_different_sources(one: IPv6Address, other: IPv6Address) -> None:
    same_64 = int(one) >> 64 == int(other) >> 64
    assert (source_network(str(one)) == source_network(str(other))) == same_64


@deterministic
@given(
    ipv4,
    st.sampled_from(
        [
            "::ffff:{v4}",
            "::FFFF:{v4}",
            "0:0:0:0:0:ffff:{v4}",
            "::ffff:{hi:x}:{lo:x}",
            "0000:0000:0000:0000:0000:FFFF:{hi:04X}:{lo:04X}",
        ]
    ),
)
def test_an_ipv4_address_is_one_source_however_it_arrives(address: IPv4Address, form: str) -> None:
    value = int(address)
    mapped = form.format(v4=address, hi=value >> 16, lo=value & 0xFFFF)
    assert source_network(mapped) == source_network(str(address)) == str(address)


@deterministic
@given(ipv4, ipv4)
def test_ipv4_addresses_are_counted_one_by_one(one: IPv4Address, other: IPv4Address) -> None:
    assert (source_network(str(one)) == source_network(str(other))) == (one == other)


def test_the_prefix_length_is_a_parameter() -> None:
    one, other = "2001:db8:aaaa:1::1", "2001:db8:aaaa:2::1"  # one /48, two /64s
    assert IPV6_PREFIX_LENGTH == 64
    assert source_network(one) == "2001:db8:aaaa:1::/64" != source_network(other)
    assert source_network(one, 48) == source_network(other, 48) == "2001:db8:aaaa::/48"
    assert source_network(one, 128) == "2001:db8:aaaa:1::1/128"
    assert source_network("192.0.2.1", 48) == "192.0.2.1"  # the length is for IPv6 only
    for invalid in (-1, 129):
        with pytest.raises(ValueError, match="prefix length"):
            source_network(one, invalid)


def test_a_zone_does_not_split_a_network() -> None:
    assert source_network("fe80::1%eth0") == source_network("fe80::2") == "fe80::/64"


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        " ",
        "localhost",
        "192.0.2.1 ",
        " 2001:db8::1",
        "192.0.2.1\n",
        "192.0.2.01",
        "192.0.2",
        "256.0.0.1",
        "2001:db8::1/64",
        "2001:db8:::1",
        "1:2:3:4:5:6:7:8:9",
        "test-invoke-source-ip",
        3232235777,
        b"192.0.2.1",
        ["192.0.2.1"],
    ],
)
def test_anything_but_an_address_is_no_source(raw: object) -> None:
    assert source_network(raw) is None
