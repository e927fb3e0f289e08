"""IP addresses: validation and truncation to a network (IPv4 /24, IPv6 /48), memoised — addresses repeat.

Example
-------
>>> truncate_ip("203.0.113.9"), ip_kind("alice@example.com")
('203.0.113.0', None)
"""

from __future__ import annotations

import ipaddress

_ip_cache: dict[str, tuple[int, str] | None] = {}


def _parse_ip(value: str) -> tuple[int, str] | None:
    hit = _ip_cache.get(value, False)
    if hit is not False:
        return hit  # type: ignore[return-value]
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        out = None
    else:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            out = (4, str(ipaddress.ip_network(f"{ip.ipv4_mapped}/24", strict=False).network_address))
        elif ip.version == 4:
            out = (4, str(ipaddress.ip_network(f"{ip}/24", strict=False).network_address))
        else:
            out = (6, str(ipaddress.ip_network(f"{ip}/48", strict=False).network_address))
    if len(_ip_cache) >= 65536:
        _ip_cache.clear()
    _ip_cache[value] = out
    return out


def ip_kind(value: str) -> int | None:
    """4 or 6 for an IP address, None for anything else (memoised: addresses repeat).

    Example
    -------
    >>> ip_kind("203.0.113.9"), ip_kind("::1"), ip_kind("alice@example.com")
    (4, 6, None)
    """
    parsed = _parse_ip(value)
    return None if parsed is None else parsed[0]


def truncate_ip(value: str) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) network address of an IP, or None if ``value`` is not an IP.

    Example
    -------
    >>> truncate_ip("203.0.113.9"), truncate_ip("2001:db8:1:2::9"), truncate_ip("::ffff:203.0.113.9")
    ('203.0.113.0', '2001:db8:1::', '203.0.113.0')
    """
    parsed = _parse_ip(value)
    return None if parsed is None else parsed[1]
