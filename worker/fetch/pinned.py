"""Where image fetches open TCP connections: only to addresses the URL policy checked.

httpx normally hands a host name to the operating system, which resolves it again
when connecting. A name that answers a public address to our check and a private
one to the connection (DNS rebinding) would walk straight past the policy. Here
the lookup, the check and the connection are one step: :class:`PinnedBackend`
resolves the host once (:func:`~worker.fetch.url_policy.vet_host`), refuses it unless
every address passes, and connects to those exact addresses. TLS still verifies
the certificate against the URL's host name, and the ``Host`` header is unchanged,
because httpcore takes both from the URL, not from the address dialled.

Example::

    transport = PinnedTransport(AddressPolicy(), limits=httpx.Limits(max_connections=32))
    client = httpx.AsyncClient(transport=transport, trust_env=False)

``trust_env=False`` matters: a proxy from the environment would resolve names
itself, out of the policy's reach.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import httpcore
import httpx

from worker.fetch.url_policy import AddressPolicy, Resolver, resolve_host, vet_host

__all__ = ["PinnedBackend", "PinnedTransport"]

# httpcore's own alias (SOCKET_OPTION), spelled out: it lives in a private module.
SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to vetted addresses.

    ``inner`` does the real connecting (anyio by default); tests pass a recording
    fake to see which address was dialled.
    """

    def __init__(
        self,
        policy: AddressPolicy,
        resolver: Resolver = resolve_host,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await vet_host(host, port, self._policy, self._resolver)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        failure: httpcore.ConnectError | None = None
        # Every address passed the check; try them in the resolver's order.
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None  # vet_host never returns an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are never used for image fetches")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own HTTP transport, with its connection pool built on :class:`PinnedBackend`.

    Only the pool is replaced: request and response handling, and the translation
    of httpcore's errors into httpx's, stay httpx's. A test asserts that every
    connection goes through the backend, so an httpx upgrade that stops using
    ``_pool`` fails loudly instead of silently bypassing the policy.
    """

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        limits: httpx.Limits | None = None,
        resolver: Resolver = resolve_host,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=32)
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(policy, resolver, inner),
        )
