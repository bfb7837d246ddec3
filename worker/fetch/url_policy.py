"""Which addresses an image fetch may connect to at all.

Posts come from users, so an image URL is untrusted input: without a policy a post
could make the worker request ``http://169.254.169.254/`` (cloud metadata) or an
internal admin page. Only public unicast addresses pass; everything else is
refused with :class:`~worker.errors.BlockedURL`:

* unspecified, loopback, link-local (cloud metadata), private, carrier-grade NAT
  (100.64/10), multicast, reserved and any other non-global range;
* IPv6 unique-local, and IPv4-mapped / NAT64 / 6to4 forms, judged by the IPv4
  address they carry;
* every spelling of an IPv4 literal that ``inet_aton`` accepts (``2130706433``,
  ``0x7f.1``, ``017700000001``, ``127.1``, ``0177.0.0.1``...), and with the trailing
  dot of a fully qualified name (``127.0.0.1.``), judged as the address it names
  without asking DNS;
* ``localhost`` and every name under it (RFC 6761), with or without the trailing dot:
  loopback by definition, never looked up.

A host name is resolved once by :func:`vet_host`; all its addresses must pass, and
the caller connects only to the addresses returned (see
:mod:`worker.fetch.pinned`), so a second lookup can never swap in another one.

Example::

    policy = AddressPolicy()
    addresses = await vet_host("cdn.example.org", 443, policy)   # or BlockedURL

Tests and the demo serve images from 127.0.0.1: :class:`AddressPolicy` lets them
name exact ``address:port`` endpoints, or (blanket) allow every non-public address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from worker.errors import BlockedURL, HostUnreachable

__all__ = [
    "ALLOWED_SCHEMES",
    "AddressPolicy",
    "IPAddress",
    "Resolver",
    "blocked_reason",
    "loopback_name",
    "parse_endpoint",
    "parse_ip_literal",
    "resolve_host",
    "vet_host",
]

ALLOWED_SCHEMES = frozenset({"http", "https"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Endpoint = tuple[IPAddress, int]

#: ``(host, port) -> addresses``; injectable so tests need no DNS.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
# RFC 6761: these names are loopback; a resolver must not be asked about them.
_LOOPBACK_NAME_ADDRESS = ipaddress.IPv4Address("127.0.0.1")

# Carrier-grade NAT space: neither private nor global in the ipaddress module's terms,
# but it reaches other customers' machines inside a provider's network.
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# NAT64 (RFC 6052) embeds an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# IANA's special-purpose ranges that are not globally reachable, spelled out because
# the ipaddress module's tables differ between Python patch releases (3.11.7 calls
# 192.0.0.8 global, for one). A few anycast addresses inside them are refused too:
# no image lives there.
_SPECIAL_PURPOSE = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "0.0.0.0/8", "10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/127", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "3fff::/20",
        "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
)  # fmt: skip


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (A and AAAA), through the event loop's resolver."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address reaches, for the forms that carry one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    return None


def blocked_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not be requested, or ``None`` when it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:  # ::ffff:127.0.0.1 reaches 127.0.0.1
            inner = blocked_reason(embedded)
            return f"{inner} (embedded in IPv6)" if inner else None
        if address.scope_id:
            return "scoped IPv6"
    checks = (
        ("unspecified", address.is_unspecified),
        ("broadcast", address == _BROADCAST),  # in 240/4, which Python calls private
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("carrier-grade NAT", isinstance(address, ipaddress.IPv4Address) and address in _CGNAT),
        ("private", address.is_private),  # includes IPv6 unique-local fc00::/7
        ("reserved", address.is_reserved),
        (
            "special-purpose",
            any(address in net for net in _SPECIAL_PURPOSE if net.version == address.version),
        ),
        # Anything else not globally routable (documentation, benchmarking ranges...).
        ("non-global", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def _inet_aton_part(part: str) -> int | None:
    """One dotted part as ``inet_aton`` reads it: 0x hex, leading-0 octal, else decimal."""
    try:
        if part[:2].lower() == "0x":
            return int(part[2:], 16) if part[2:] else 0
        if len(part) > 1 and part[0] == "0":
            return int(part[1:], 8)
        return int(part, 10) if part.isascii() and part.isdigit() else None
    except ValueError:
        return None


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address of any classic ``inet_aton`` spelling, e.g. ``0x7f.1`` or ``2130706433``."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(p and p.isascii() and p.isalnum() for p in parts):
        return None
    numbers = [_inet_aton_part(p) for p in parts]
    if any(n is None or n < 0 for n in numbers):
        return None
    *leading, last = [n for n in numbers if n is not None]
    if any(n > 0xFF for n in leading) or last >= 1 << (8 * (4 - len(leading))):
        return None
    value = last
    for index, number in enumerate(leading):
        value |= number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _without_root_dot(host: str) -> str:
    """``name.`` (fully qualified, the DNS root spelled out) names the same host as ``name``."""
    return host[:-1] if host.endswith(".") and not host.endswith("..") else host


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` spells literally (brackets, zone ids and a trailing dot
    allowed), else ``None``."""
    text = host.strip("[]").replace("%25", "%")
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    return _inet_aton(_without_root_dot(text))


def loopback_name(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a name under it (RFC 6761), any case, any root dot."""
    name = _without_root_dot(host).lower()
    return name == "localhost" or name.endswith(".localhost")


def parse_endpoint(text: str) -> Endpoint:
    """``"127.0.0.1:8080"`` or ``"[::1]:8080"`` as ``(address, port)``; ``ValueError`` otherwise."""
    host, sep, port = text.rpartition(":")
    address = parse_ip_literal(host) if sep and (":" not in host or host.startswith("[")) else None
    if address is None or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not an address:port endpoint: {text!r} (IPv6 as [addr]:port)")
    return address, int(port)


@dataclass(frozen=True)
class AddressPolicy:
    """What may be connected to: public addresses, plus explicitly allowed exceptions.

    ``allow_private`` opens every non-public address (tests and demo only);
    ``allowed_endpoints`` opens exact ``(address, port)`` pairs and nothing else.
    """

    allow_private: bool = False
    allowed_endpoints: frozenset[Endpoint] = frozenset()

    @classmethod
    def build(cls, allow_private: bool, endpoints: Sequence[str] = ()) -> AddressPolicy:
        return cls(allow_private, frozenset(parse_endpoint(e) for e in endpoints))

    def refusal(self, address: IPAddress, port: int) -> str | None:
        """Why connecting to ``address:port`` is refused, or ``None``."""
        reason = blocked_reason(address)
        if reason is None or self.allow_private:
            return None
        if (address, port) in self.allowed_endpoints:
            return None
        return reason

    def check_literal(self, host: str, port: int) -> None:
        """Refuse a literal address or a localhost name at once, before any DNS or
        connection; other names pass (to be vetted when they are resolved)."""
        address = parse_ip_literal(host)
        if address is None and loopback_name(host):
            address = _LOOPBACK_NAME_ADDRESS
        if address is not None:
            self.judge(host, address, port)

    def judge(self, host: str, address: IPAddress, port: int) -> None:
        """Raise :class:`BlockedURL` unless ``address:port`` (reached as ``host``) may be used."""
        reason = self.refusal(address, port)
        if reason is not None:
            shown = host if host == str(address) else f"{host} ({address})"
            raise BlockedURL(f"{shown} is not a public address ({reason}); refused before connecting")


async def vet_host(
    host: str, port: int, policy: AddressPolicy, resolver: Resolver = resolve_host
) -> list[IPAddress]:
    """The addresses of ``host`` that may be connected to, resolved once.

    Raises :class:`BlockedURL` if any address is refused (the client could be sent
    to any of them) and :class:`HostUnreachable` when the name does not resolve.
    """
    if not host:
        raise BlockedURL("URL has no host")
    literal = parse_ip_literal(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    elif loopback_name(host):
        addresses = [_LOOPBACK_NAME_ADDRESS]
    else:
        try:
            answers = await resolver(host, port)
            addresses = [ipaddress.ip_address(text) for text in dict.fromkeys(answers)]
        except (OSError, UnicodeError, ValueError) as exc:  # socket.gaierror is an OSError
            raise HostUnreachable(f"cannot resolve {host}: {exc}") from exc
    if not addresses:
        raise HostUnreachable(f"{host} resolves to no address")
    for address in addresses:
        policy.judge(host, address, port)
    return addresses
