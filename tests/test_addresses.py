"""Host classification for callback URLs and the base URL."""

from __future__ import annotations

import ipaddress

import pytest

from evolink_images._addresses import host_problem, is_loopback_host, parse_ip


@pytest.mark.parametrize(
    ("host", "ip"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0x7F000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("[::1]", "::1"),
        ("::ffff:10.0.0.1", "::ffff:a00:1"),
        ("example.com", None),
        ("1.2.3.4.5", None),
        ("256.1.1.1", None),
        ("0x", "0.0.0.0"),
        ("09.1.1.1", None),
    ],
)
def test_every_ipv4_notation_is_read_as_a_resolver_would(host: str, ip: str | None) -> None:
    parsed = parse_ip(host)
    # Compared as addresses: Python 3.13 prints an IPv4-mapped address as ::ffff:10.0.0.1, 3.12 as ::ffff:a00:1.
    assert parsed == (ipaddress.ip_address(ip) if ip else None)


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST.", "a.localhost", "127.0.0.1", "127.9.9.9", "::1", "[::ffff:127.0.0.1]"]
)
def test_loopback_hosts_are_recognised(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["example.com", "10.0.0.1", "localhost.example.com", "8.8.8.8"])
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback_host(host)


@pytest.mark.parametrize("host", ["", "224.0.0.1", "100.64.0.1", "192.168.0.1", "fc00::1", "x.internal"])
def test_non_public_hosts_have_a_problem(host: str) -> None:
    assert host_problem(host)


def test_public_hosts_have_none() -> None:
    assert host_problem("example.com") is None
    assert host_problem("93.184.216.34") is None


def test_a_huge_host_is_not_echoed_whole() -> None:
    problem = host_problem("a." * 500_000 + "localhost")
    assert problem is not None
    assert len(problem) < 200


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("[64:ff9b::7f00:1]", "loopback address 127.0.0.1"),  # NAT64 (RFC 6052) to loopback
        ("[64:ff9b::a9fe:a9fe]", "non-public address 169.254.169.254"),  # NAT64 to the metadata service
        ("[64:ff9b::a00:1]", "non-public address 10.0.0.1"),
        ("[2002:7f00:1::]", "loopback address 127.0.0.1"),  # 6to4 (RFC 3056) carrying loopback
        ("[2002:a9fe:a9fe::1]", "non-public address 169.254.169.254"),
        ("[64:ff9b:1::a00:1]", "local-use NAT64 address"),  # RFC 8215: the operator's, never public
    ],
)
def test_ipv6_that_carries_an_internal_ipv4_address_is_internal(host: str, reason: str) -> None:
    problem = host_problem(host)
    assert problem is not None
    assert reason in problem


@pytest.mark.parametrize("host", ["[64:ff9b::808:808]", "[2002:808:808::1]"])
def test_ipv6_that_carries_a_public_ipv4_address_is_public(host: str) -> None:
    assert host_problem(host) is None


def test_ipv6_carrying_loopback_does_not_count_as_a_loopback_base_url() -> None:
    # Only a real loopback host earns the loopback base URL's leniency (internal result hosts, plain http).
    assert not is_loopback_host("[2002:7f00:1::]")
    assert not is_loopback_host("[64:ff9b::7f00:1]")
