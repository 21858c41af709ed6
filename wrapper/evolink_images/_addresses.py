"""Which hosts are public: for ``callback_url`` (never internal) and ``base_url`` (http only on loopback).

Hosts are read the way resolvers and browsers read them, so that the classic tricks do not slip
through: decimal, octal and hexadecimal IPv4 (``2130706433``, ``0177.0.0.1``, ``0x7f.1``),
IPv4-mapped IPv6 (``::ffff:127.0.0.1``), ``localhost`` with trailing dots or in capitals, and
userinfo (``https://good@10.0.0.1``: the host is ``10.0.0.1``).
"""

from __future__ import annotations

import ipaddress

__all__ = ["host_problem", "is_loopback_host", "parse_ip"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _legacy_ipv4_part(part: str) -> int | None:
    """Read one dotted part as inet_aton does: 0x.. hex, 0.. octal, else decimal."""
    try:
        if part[:2].lower() == "0x":
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part, 8)
        return int(part, 10)
    except ValueError:
        return None


def _parse_legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(parts):
        return None
    values = [_legacy_ipv4_part(part) for part in parts]
    if any(value is None or value < 0 for value in values):
        return None
    *head, last = [value for value in values if value is not None]
    if any(value > 255 for value in head) or last >= 256 ** (4 - len(head)):
        return None
    number = last
    for index, value in enumerate(head):
        number += value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def parse_ip(host: str) -> IPAddress | None:
    """Return the IP address ``host`` denotes in any notation, or None for a name."""
    bare = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        return _parse_legacy_ipv4(bare)


def _normal_name(host: str) -> str:
    return host.rstrip(".").lower()


def is_loopback_host(host: str) -> bool:
    """Return True for ``localhost`` (any case, trailing dots, subdomains), 127/8 and ``::1``."""
    name = _normal_name(host)
    if name == "localhost" or name.endswith(".localhost"):
        return True
    ip = parse_ip(host)
    if ip is None:
        return False
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return (mapped or ip).is_loopback


def host_problem(host: str) -> str | None:
    """Return why ``host`` is not a public host, or None if it is."""
    if not host:
        return "has no host"
    if is_loopback_host(host):
        return f"points at the loopback host {host!r}"
    name = _normal_name(host)
    if name.endswith((".local", ".internal", ".localdomain")) or name in {"local", "internal"}:
        return f"points at the internal name {host!r}"
    ip = parse_ip(host)
    if ip is None:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not ip.is_global or ip.is_multicast:
        return f"points at the non-public address {ip} (written {host!r})"
    return None
