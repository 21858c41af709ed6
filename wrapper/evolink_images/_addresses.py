"""Which hosts are public: for ``callback_url`` and result hosts (never internal) and ``base_url``.

Hosts are read the way resolvers and browsers (the WHATWG URL standard) read them, so that the
classic tricks do not slip through: percent-escapes (``%31%32%37.0.0.1``, ``localhost%2e``),
full-width and other IDNA-mapped characters, decimal, octal and hexadecimal IPv4 (``2130706433``,
``0177.0.0.1``, ``0x7f.1``), IPv6 that carries an IPv4 address (mapped ``::ffff:127.0.0.1``, 6to4
``2002:7f00:1::``, NAT64 ``64:ff9b::7f00:1``: the IPv4 address decides), ``localhost`` with trailing
dots or in capitals, and userinfo (``https://good@10.0.0.1``: the host is ``10.0.0.1``). A host
that cannot be normalised (``xn--``, a bad escape) is refused, never guessed at.

Names are not resolved here: a public name whose DNS points at an internal address is not caught.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse

__all__ = ["host_problem", "is_loopback_host", "normalise_host", "parse_ip"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# WHATWG's forbidden domain code points: what is left of any of these after decoding is no host.
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f#%/:<>?@\[\\\]^|]")


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
    try:
        host = normalise_host(host)
    except ValueError:
        return None
    bare = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        return _parse_legacy_ipv4(bare)


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
"""RFC 6052's well-known NAT64 prefix: a translator connects to the IPv4 address in the last 32 bits."""
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
"""RFC 8215's NAT64 prefix for local use: what it reaches is the operator's to decide, never public."""


def _carried_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address reaches through mapping, 6to4 or NAT64; else ``ip`` itself."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return ip
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.ipv4_mapped or ip.sixtofour or ip


def _shown(host: str) -> str:
    """The host as quoted in a message: cut, so that a huge one is not echoed whole."""
    return repr(host) if len(host) <= 80 else repr(host[:77] + "...")


def normalise_host(host: str) -> str:
    """Return ``host`` as a browser would connect to it: percent-decoded, IDNA-mapped, lower case.

    Raises:
        ValueError: the host has a bad percent-escape or is not a valid (internationalised) name.
    """
    if host.startswith("[") or ":" in host:  # an IPv6 literal (bracketed or not): no escapes, no IDNA
        try:
            ipaddress.IPv6Address(host.strip("[]").split("%", 1)[0])
        except ValueError:
            raise ValueError(f"host {_shown(host)} is not a valid IPv6 address") from None
        return host.lower()
    try:
        decoded = urllib.parse.unquote(host, errors="strict")
    except UnicodeDecodeError:
        raise ValueError(f"host {_shown(host)} has a percent-escape that is not UTF-8") from None
    try:
        # Python's idna codec applies nameprep (NFKC and case folding, the full stops of other
        # scripts), much as WHATWG's domain-to-ASCII does: "\uff11\uff12\uff17.0.0.1" is 127.0.0.1.
        ascii_host = decoded if decoded.isascii() else decoded.encode("idna").decode("ascii")
        for label in ascii_host.lower().split("."):
            if label.startswith("xn--"):
                label.encode("ascii").decode("idna")  # a malformed A-label raises
    except UnicodeError:
        raise ValueError(f"host {_shown(host)} is not a valid domain name") from None
    if _FORBIDDEN.search(ascii_host):
        raise ValueError(f"host {_shown(host)} holds a character no host name may hold")
    return ascii_host.lower()


def _normal_name(host: str) -> str:
    try:
        return normalise_host(host).rstrip(".")
    except ValueError:
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
    try:
        normalise_host(host)
    except ValueError as error:
        return str(error)
    if is_loopback_host(host):
        return f"points at the loopback host {_shown(host)}"
    name = _normal_name(host)
    if name.endswith((".local", ".internal", ".localdomain")) or name in {"local", "internal"}:
        return f"points at the internal name {_shown(host)}"
    ip = parse_ip(host)
    if ip is None:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip in _NAT64_LOCAL:
        return f"points at the local-use NAT64 address {ip} (written {_shown(host)})"
    ip = _carried_ipv4(ip)
    if ip.is_loopback:
        return f"points at the loopback address {ip} (written {_shown(host)})"
    if not ip.is_global or ip.is_multicast:
        return f"points at the non-public address {ip} (written {_shown(host)})"
    return None
