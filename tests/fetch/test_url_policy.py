"""The address policy: every spelling of a non-public address is refused, public ones pass."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.errors import BlockedURL, HostUnreachable
from worker.fetch.url_policy import AddressPolicy, blocked_reason, parse_endpoint, parse_ip_literal, vet_host

NON_PUBLIC_V4 = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
]
NON_PUBLIC_V6 = [
    "::1/128",
    "::/128",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
    "2001:db8::/32",
    "2001::/23",
    "100::/64",
]


def in_network(cidr: str) -> st.SearchStrategy[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    network = ipaddress.ip_network(cidr)
    first = int(network.network_address)
    return st.integers(first, first + network.num_addresses - 1).map(
        lambda n: ipaddress.ip_address(n) if network.version == 4 else ipaddress.IPv6Address(n)
    )


non_public_v4 = st.sampled_from(NON_PUBLIC_V4).flatmap(in_network)
non_public_v6 = st.sampled_from(NON_PUBLIC_V6).flatmap(in_network)
_NETWORKS_V4 = [ipaddress.IPv4Network(cidr) for cidr in NON_PUBLIC_V4]
public_v4 = (
    st.integers(0, 2**32 - 1)
    .map(ipaddress.IPv4Address)
    .filter(lambda a: not any(a in net for net in _NETWORKS_V4))
)


def _part(value: int, style: str) -> str:
    return {"dec": str(value), "oct": "0" + format(value, "o"), "hex": hex(value)}[style]


@st.composite
def spellings(draw: st.DrawFn, address: ipaddress.IPv4Address) -> str:
    """``address`` in one of inet_aton's forms: 1 to 4 parts, each decimal, octal or hex."""
    value = int(address)
    parts = draw(st.integers(1, 4))
    octets = list(value.to_bytes(4, "big"))
    leading = octets[: parts - 1]
    last = value & ((1 << (8 * (5 - parts))) - 1)
    styles = st.sampled_from(["dec", "oct", "hex"])
    return ".".join(_part(n, draw(styles)) for n in [*leading, last])


@settings(max_examples=300)
@given(non_public_v4.flatmap(lambda a: st.tuples(st.just(a), spellings(a))))
def test_every_spelling_of_a_non_public_ipv4_is_refused(case: tuple[ipaddress.IPv4Address, str]) -> None:
    address, spelled = case
    assert parse_ip_literal(spelled) == address
    assert socket.inet_aton(spelled) == address.packed  # the C library reads it the same way
    with pytest.raises(BlockedURL):
        AddressPolicy().check_literal(spelled, 80)


@settings(max_examples=300)
@given(public_v4.flatmap(lambda a: st.tuples(st.just(a), spellings(a))))
def test_every_spelling_of_a_public_ipv4_passes(case: tuple[ipaddress.IPv4Address, str]) -> None:
    address, spelled = case
    assert parse_ip_literal(spelled) == address
    AddressPolicy().check_literal(spelled, 443)


@given(non_public_v4)
def test_ipv6_forms_carrying_a_non_public_ipv4_are_refused(address: ipaddress.IPv4Address) -> None:
    six_to_four = f"2002:{int(address) >> 16:x}:{int(address) & 0xFFFF:x}::1"
    for form in (f"::ffff:{address}", f"64:ff9b::{address}", six_to_four):
        assert blocked_reason(ipaddress.IPv6Address(form)) is not None, form
        with pytest.raises(BlockedURL):
            AddressPolicy().check_literal(f"[{form}]", 80)


@given(non_public_v6)
def test_non_public_ipv6_is_refused(address: ipaddress.IPv6Address) -> None:
    assert blocked_reason(address) is not None
    with pytest.raises(BlockedURL):
        AddressPolicy().check_literal(str(address), 80)


@given(st.text(max_size=40))
def test_parsing_any_host_text_never_raises(host: str) -> None:
    address = parse_ip_literal(host)
    assert address is None or isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0x1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),  # httpx refuses to parse these two; inet_aton does not
        ("127.000.000.001", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),  # the DNS root dot names the same address
        ("2130706433.", "127.0.0.1"),
        ("1.2.3.4..", None),
        ("0", "0.0.0.0"),
        ("[::ffff:7f00:1]", "::ffff:7f00:1"),
        ("::1%25lo", "::1%lo"),
        ("0x100000000", None),  # too big: a name, not an address
        ("256.1.1.1", None),
        ("08.1", None),  # 8 is no octal digit
        ("1.2.3.4.5", None),
        ("example.org", None),
        ("", None),
    ],
)
def test_literal_spellings(host: str, expected: str | None) -> None:
    parsed = parse_ip_literal(host)
    assert (str(parsed) if parsed is not None else None) == expected


def test_metadata_and_cgnat_reasons() -> None:
    assert blocked_reason(ipaddress.ip_address("255.255.255.255")) == "broadcast"
    assert blocked_reason(ipaddress.ip_address("169.254.169.254")) == "link-local"
    assert blocked_reason(ipaddress.ip_address("100.64.0.1")) == "carrier-grade NAT"
    assert blocked_reason(ipaddress.ip_address("fd00::1")) == "private"
    assert blocked_reason(ipaddress.ip_address("8.8.8.8")) is None


def test_blanket_switch_and_exact_endpoints() -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    assert AddressPolicy(allow_private=True).refusal(loopback, 1) is None
    exact = AddressPolicy.build(False, ["127.0.0.1:8080", "[::1]:9000"])
    assert exact.refusal(loopback, 8080) is None
    assert exact.refusal(loopback, 8081) == "loopback"
    assert exact.refusal(ipaddress.ip_address("::1"), 9000) is None


@pytest.mark.parametrize("bad", ["127.0.0.1", "::1:80", "host:80", "127.0.0.1:0", "127.0.0.1:99999", "[::1]"])
def test_bad_endpoints_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="endpoint"):
        parse_endpoint(bad)


async def test_vet_host_needs_every_address_public() -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return {"ok.example": ["93.184.216.34"], "bad.example": ["93.184.216.34", "10.1.1.1"]}[host]

    assert await vet_host("ok.example", 80, AddressPolicy(), resolver) == [
        ipaddress.ip_address("93.184.216.34")
    ]
    with pytest.raises(BlockedURL, match=r"10\.1\.1\.1"):
        await vet_host("bad.example", 80, AddressPolicy(), resolver)


async def test_vet_host_without_answers_is_unreachable() -> None:
    async def nothing(host: str, port: int) -> list[str]:
        return []

    with pytest.raises(HostUnreachable):
        await vet_host("empty.example", 80, AddressPolicy(), nothing)


@pytest.mark.parametrize("host", ["localhost", "localhost.", "LocalHost", "app.localhost", "app.localhost."])
async def test_localhost_names_are_loopback_without_a_lookup(host: str) -> None:
    async def no_dns(host: str, port: int) -> list[str]:
        raise AssertionError(f"{host} was looked up")

    with pytest.raises(BlockedURL, match=r"127\.0\.0\.1\) is not a public address \(loopback\)"):
        await vet_host(host, 80, AddressPolicy(), no_dns)
    allowed = AddressPolicy.build(False, ["127.0.0.1:8080"])
    assert await vet_host(host, 8080, allowed, no_dns) == [ipaddress.ip_address("127.0.0.1")]


async def test_a_trailing_dot_literal_is_judged_without_a_lookup() -> None:
    async def no_dns(host: str, port: int) -> list[str]:
        raise AssertionError(f"{host} was looked up")

    with pytest.raises(BlockedURL, match=r"loopback"):
        await vet_host("127.0.0.1.", 80, AddressPolicy(), no_dns)
