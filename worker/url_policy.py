"""Which image URLs the worker may request at all.

Posts come from users, so an image URL is untrusted input: without a policy a post
could make the worker request ``http://169.254.169.254/`` (cloud metadata) or an
internal admin page. :func:`check_host` refuses hosts that resolve to anything but
public unicast addresses. It is called before the first request and again for every
redirect hop.

Example::

    await check_host("cdn.example.org", 443)     # returns, or raises BlockedURL

A host is checked by name here and resolved again by the HTTP client when it
connects; closing that gap (DNS rebinding) means pinning the checked address for the
connection, which is left to a later change.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence

from worker.errors import BlockedURL, HostUnreachable

__all__ = ["ALLOWED_SCHEMES", "Resolver", "blocked_reason", "check_host", "resolve_host"]

ALLOWED_SCHEMES = frozenset({"http", "https"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: ``(host, port) -> addresses``; injectable so tests need no DNS.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

# Carrier-grade NAT space: neither private nor global in the ipaddress module's terms,
# but it reaches other customers' machines inside a provider's network.
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, through the event loop's resolver."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def blocked_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not be requested, or ``None`` when it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:127.0.0.1 reaches 127.0.0.1: judge the IPv4 address it carries.
        address = address.ipv4_mapped
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("carrier-grade NAT", isinstance(address, ipaddress.IPv4Address) and address in _CGNAT),
        ("reserved", address.is_reserved),
        # Anything else not globally routable (documentation, benchmarking ranges...).
        ("non-global", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def check_host(host: str, port: int, *, resolver: Resolver = resolve_host) -> None:
    """Raise :class:`BlockedURL` unless every address of ``host`` is public.

    A DNS failure raises :class:`HostUnreachable`. Every address must pass, not just
    one: the client may connect to any of them.
    """
    if not host:
        raise BlockedURL("URL has no host")
    literal = _literal_address(host)
    if literal is not None:
        addresses: Sequence[str] = [host]
    else:
        try:
            addresses = await resolver(host, port)
        except OSError as exc:  # socket.gaierror is an OSError
            raise HostUnreachable(f"cannot resolve {host}: {exc}") from exc
    if not addresses:
        raise HostUnreachable(f"{host} resolves to no address")
    for text in addresses:
        address = ipaddress.ip_address(text)
        reason = blocked_reason(address)
        if reason is not None:
            raise BlockedURL(f"{host} resolves to {address} ({reason} address)")
