"""Host classification for callback URLs and the base URL."""

from __future__ import annotations

import ipaddress

import pytest

from evolink_images._addresses import host_problem, is_loopback_host, normalise_host, parse_ip


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
        # NAT64 (RFC 6052) to loopback, to the metadata service, to a private network.
        ("[64:ff9b::7f00:1]", "points at the loopback address 127.0.0.1 (written '[64:ff9b::7f00:1]')"),
        ("[64:ff9b::a9fe:a9fe]", "points at the non-public address 169.254.169.254 (written '[64:ff9b::a9fe:a9fe]')"),
        ("[64:ff9b::a00:1]", "points at the non-public address 10.0.0.1 (written '[64:ff9b::a00:1]')"),
        # 6to4 (RFC 3056) carrying loopback and the metadata service.
        ("[2002:7f00:1::]", "points at the loopback address 127.0.0.1 (written '[2002:7f00:1::]')"),
        ("[2002:a9fe:a9fe::1]", "points at the non-public address 169.254.169.254 (written '[2002:a9fe:a9fe::1]')"),
        # RFC 8215: the operator's local-use prefix, never public.
        ("[64:ff9b:1::a00:1]", "points at the local-use NAT64 address 64:ff9b:1::a00:1 (written '[64:ff9b:1::a00:1]')"),
    ],
)
def test_ipv6_that_carries_an_internal_ipv4_address_is_internal(host: str, reason: str) -> None:
    assert host_problem(host) == reason


@pytest.mark.parametrize("host", ["[64:ff9b::808:808]", "[2002:808:808::1]"])
def test_ipv6_that_carries_a_public_ipv4_address_is_public(host: str) -> None:
    assert host_problem(host) is None


def test_ipv6_carrying_loopback_does_not_count_as_a_loopback_base_url() -> None:
    # Only a real loopback host earns the loopback base URL's leniency (internal result hosts, plain http).
    assert not is_loopback_host("[2002:7f00:1::]")
    assert not is_loopback_host("[64:ff9b::7f00:1]")


@pytest.mark.parametrize(
    ("host", "ip"),
    [
        ("1.2.3.4", "1.2.3.4"),
        ("1.2.772", "1.2.3.4"),  # the last part fills the bytes left: 772 = 3 * 256 + 4
        ("1.197380", "1.3.3.4"),
        ("0x1.0x2.0x3.0x4", "1.2.3.4"),
        ("01.02.03.04", "1.2.3.4"),
        ("1.2.3.255", "1.2.3.255"),
        ("1.2.3.256", None),
        ("1.255.3.4", "1.255.3.4"),
        ("1.256.3.4", None),
        ("1.2.65535", "1.2.255.255"),
        ("1.2.65536", None),
        ("1.16777215", "1.255.255.255"),
        ("1.16777216", None),
        ("4294967295", "255.255.255.255"),
        ("4294967296", None),
        ("0", "0.0.0.0"),
        ("0x0", "0.0.0.0"),
        ("00", "0.0.0.0"),
        ("1.2.3.4.", "1.2.3.4"),
        ("[::1].", None),
        ("1..3.4", None),
        ("1.2.3.4.0", None),
        ("1.0xff.3.4", "1.255.3.4"),  # a legacy form: 255 is the largest middle part
        ("1.0x100.3.4", None),
        ("0xff.1", "255.0.0.1"),
        ("1.2.3.-1", None),  # five parts: no address, however small the last
        ("1.2.3.4.5", None),
        ("1.2.3.-4", None),
        ("08", None),
        ("0xg", None),
        ("%31.2.3.4", "1.2.3.4"),
        ("%zz", None),
        ("fe80::1%eth0", "fe80::1"),
    ],
)
def test_every_legacy_ipv4_part_and_boundary_is_read_as_a_resolver_would(host: str, ip: str | None) -> None:
    parsed = parse_ip(host)
    assert parsed == (ipaddress.ip_address(ip) if ip else None)


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("", "has no host"),
        ("localhost", "points at the loopback host 'localhost'"),
        ("LocalHost..", "points at the loopback host 'LocalHost..'"),
        ("db.localhost", "points at the loopback host 'db.localhost'"),
        ("127.0.0.1.", "points at the loopback host '127.0.0.1.'"),
        ("[::ffff:127.0.0.2]", "points at the loopback host '[::ffff:127.0.0.2]'"),
        ("printer.local", "points at the internal name 'printer.local'"),
        ("db.internal.", "points at the internal name 'db.internal.'"),
        ("box.localdomain", "points at the internal name 'box.localdomain'"),
        ("LOCAL", "points at the internal name 'LOCAL'"),
        ("internal", "points at the internal name 'internal'"),
        ("10.0.0.1.", "points at the non-public address 10.0.0.1 (written '10.0.0.1.')"),
        (
            "[::ffff:169.254.169.254]",
            "points at the non-public address 169.254.169.254 (written '[::ffff:169.254.169.254]')",
        ),
        ("::ffff:10.1.2.3", "points at the non-public address 10.1.2.3 (written '::ffff:10.1.2.3')"),
        ("[fe80::1]", "points at the non-public address fe80::1 (written '[fe80::1]')"),
        ("224.0.0.1", "points at the non-public address 224.0.0.1 (written '224.0.0.1')"),
        ("[ff0e::1]", "points at the non-public address ff0e::1 (written '[ff0e::1]')"),
        ("%zz.example", "host '%zz.example' holds a character no host name may hold"),
        ("%ff.example", "host '%ff.example' has a percent-escape that is not UTF-8"),
        ("xn--.example", "host 'xn--.example' is not a valid domain name"),
        ("a%2fb.example", "host 'a%2fb.example' holds a character no host name may hold"),
        ("[1::2::3]", "host '[1::2::3]' is not a valid IPv6 address"),
    ],
)
def test_each_non_public_host_is_refused_with_its_own_message(host: str, problem: str) -> None:
    assert host_problem(host) == problem


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "localhost.example.com",
        "internal.example.com",
        "mylocal",
        "8.8.8.8.",
        "[2606:4700::1111]",
        "[::ffff:8.8.8.8]",
        "xn--bcher-kva.example",
        "Bücher.example",
    ],
)
def test_public_hosts_in_every_form_have_no_problem(host: str) -> None:
    assert host_problem(host) is None


@pytest.mark.parametrize(
    ("host", "loopback"), [("[::ffff:10.0.0.1]", False), ("[::ffff:7f00:1]", True), ("127.1", True)]
)
def test_an_ipv4_mapped_ipv6_host_is_loopback_exactly_when_its_ipv4_is(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_a_long_host_is_quoted_up_to_77_characters_then_an_ellipsis() -> None:
    name = "a" * 71 + ".localhost"  # 81 characters
    assert host_problem(name) == f"points at the loopback host '{name[:77]}...'"
    short = "a" * 70 + ".local"  # 76 characters: quoted whole
    assert host_problem(short) == f"points at the internal name '{short}'"
    exactly = "a" * 74 + ".local"  # 80 characters: still whole
    assert host_problem(exactly) == f"points at the internal name '{exactly}'"


def test_normalising_lowers_case_decodes_escapes_and_maps_full_width_digits() -> None:
    assert normalise_host("Ex%41mple.COM") == "example.com"
    assert normalise_host("\uff11\uff12\uff17.0.0.1") == "127.0.0.1"
    assert normalise_host("[FE80::1]") == "[fe80::1]"
    assert normalise_host("xn--bcher-kva.example") == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("[v1.x]", "host '[v1.x]' is not a valid IPv6 address"),  # brackets mean IPv6, even without a colon
        ("X::1", "host 'X::1' is not a valid IPv6 address"),
        ("www.xn--.example", "host 'www.xn--.example' is not a valid domain name"),  # any label, not just the first
    ],
)
def test_a_host_that_cannot_be_read_is_refused_whatever_it_resembles(host: str, problem: str) -> None:
    assert host_problem(host) == problem


def test_an_ipv6_zone_is_ignored_up_to_its_first_percent_sign() -> None:
    assert parse_ip("fe80::1%a%b") == ipaddress.ip_address("fe80::1")
    assert parse_ip("[fe80::1%]") == ipaddress.ip_address("fe80::1")


@pytest.mark.parametrize(("host", "loopback"), [("example.com", False), ("%ff", False), ("xn--.localhostX", False)])
def test_a_name_or_a_host_that_cannot_be_read_is_not_loopback_and_never_crashes(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
