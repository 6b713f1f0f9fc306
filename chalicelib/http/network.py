"""The source network of a request: what the per-source send quota counts, one key per party that sends.

API Gateway reports the caller as ``requestContext.identity.sourceIp``. Counted as that string, one caller gets
many quotas: an IPv6 subscriber is routed at least a /64 and may send from any of its 2**64 addresses, and one
address has many spellings (``2001:db8::1``, ``2001:DB8:0:0:0:0:0:1``, ``::ffff:192.0.2.1`` for an IPv4
caller on a dual-stack socket).

Contract of :func:`source_network`:

- an IPv4 address -> that address in dotted decimal (``192.0.2.1``);
- an IPv4-mapped IPv6 address (``::ffff:a.b.c.d``, any spelling) -> that IPv4 address, as above;
- any other IPv6 address -> its network of ``ipv6_prefix_length`` bits, compressed and lower-case, with the
  length (``2001:db8:1:2::/64``); a zone (``%eth0``) is dropped;
- anything else (absent, empty, not a string, not an address, an address with surrounding text) -> None.

Equal results mean one source; the function is pure and total over its input.
"""

from __future__ import annotations

import ipaddress

from chalicelib.config import IPV6_PREFIX_LENGTH


def source_network(source_ip: object, ipv6_prefix_length: int = IPV6_PREFIX_LENGTH) -> str | None:
    """The canonical source network of ``source_ip``; raises ValueError if the prefix length is not 0-128."""
    if not 0 <= ipv6_prefix_length <= 128:
        raise ValueError(f"an IPv6 prefix length is 0 to 128, not {ipv6_prefix_length}")
    if not isinstance(source_ip, str):  # ipaddress would also take an int as an address
        return None
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is None:
            # From the integer: a zone id would otherwise survive into the key and split one network in two.
            return ipaddress.IPv6Network((int(address), ipv6_prefix_length), strict=False).compressed
        address = address.ipv4_mapped
    return str(address)
