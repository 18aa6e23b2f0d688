"""Whether a resolved address is a public place a webhook may be delivered to.

Why its own module: the check must see through every way an IPv6 address can carry an
IPv4 one. `::127.0.0.1` (IPv4-compatible), `64:ff9b::7f00:1` (NAT64) and `2002:7f00:1::`
(6to4) all reach 127.0.0.1 on a host with the matching translator or relay, yet Python's
`is_global` calls them global. Each embedded form is unpacked here and its IPv4 address
judged; the forms that only ever lead to an operator's own network are refused whole.
"""

from __future__ import annotations

import ipaddress

_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d; also :: and ::1
_IPV4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")  # ::ffff:a.b.c.d
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT ::ffff:0:a.b.c.d
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052
_NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: translates into the operator's own network
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")  # 6to4: bits 16-48 are the IPv4 address
_TEREDO = ipaddress.ip_network("2001::/32")  # tunnels through a relay to an obfuscated IPv4 client
_ISATAP_IDS = (0x00005EFE, 0x02005EFE)  # interface id ::0:5efe:a.b.c.d / ::200:5efe:a.b.c.d

# Prefixes refused whatever they embed.
_REFUSED_V6 = (_IPV4_COMPATIBLE, _NAT64_LOCAL_USE, _TEREDO)
# Prefixes whose last 32 bits are the IPv4 address reached.
_LAST_32_BITS = (_IPV4_MAPPED, _IPV4_TRANSLATED, _NAT64_WELL_KNOWN)


def _ipv4_public(ip: ipaddress.IPv4Address) -> bool:
    return ip.is_global and not ip.is_multicast


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, translated, NAT64, 6to4, ISATAP), or None."""
    if any(ip in net for net in _LAST_32_BITS):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIX_TO_FOUR:
        return ip.sixtofour
    if (int(ip) >> 32) & 0xFFFFFFFF in _ISATAP_IDS:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_is_public(address: str) -> bool:
    """True when a resolved address (as getaddrinfo gives it) is a public unicast address, embedded forms included."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # a zone id only ever comes with link-local
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return _ipv4_public(ip)
    if any(ip in net for net in _REFUSED_V6):
        return False
    embedded = embedded_ipv4(ip)
    if embedded is not None:
        return _ipv4_public(embedded)
    return ip.is_global and not ip.is_multicast
