"""The misbehaving image host and the canary behave as the scenarios assume."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from moderation_lab.reliability.canary import Canary
from moderation_lab.reliability.hostile_server import PNG_SIGNATURE, HostileServer


def test_canary_counts_connections_on_both_loopbacks() -> None:
    with Canary() as canary:
        canary.self_test()
        assert canary.connections == 0
        with socket.create_connection(("127.0.0.1", canary.port), timeout=2):
            pass
        deadline = time.monotonic() + 2
        while canary.connections < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert canary.connections == 1


def test_huge_bodies_are_streamed_with_or_without_a_length() -> None:
    with HostileServer() as host, httpx.Client() as client:
        with client.stream("GET", host.url("/huge?mb=50&declare=1")) as response:
            assert response.headers["content-length"] == str(50 * 1024 * 1024)
            first = next(response.iter_bytes())
        assert first.startswith(PNG_SIGNATURE)
        with client.stream("GET", host.url("/huge?mb=1")) as response:
            assert "content-length" not in response.headers
            assert len(response.read()) >= 1024 * 1024
    assert host.hits("/huge") == 2


def test_routes_answer_as_documented() -> None:
    with HostileServer() as host, httpx.Client() as client:
        url = host.add("x.png", b"abc", "image/png")
        assert client.get(url).content == b"abc"
        assert client.get(host.url("/status/503")).status_code == 503
        redirect = client.get(host.url("/redirect?to=http://127.0.0.1:9/"))
        assert (redirect.status_code, redirect.headers["location"]) == (302, "http://127.0.0.1:9/")
        with pytest.raises(httpx.ReadTimeout):
            client.get(host.url("/drip?bytes=5"), timeout=httpx.Timeout(5.0, read=0.3))
