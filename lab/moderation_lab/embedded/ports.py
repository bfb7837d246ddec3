"""Loopback ports for embedded services.

Example::

    port = free_port()
    ...start something on 127.0.0.1:port...
    wait_for_port("127.0.0.1", port, timeout_s=5.0)
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

__all__ = ["LOOPBACK", "free_port", "port_accepts", "wait_for_port"]

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A port nobody listens on right now.

    Another process could take it before our child binds it; that race is why the
    services report a failed start with their log rather than assume success.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(host: str, port: int, timeout_s: float = 0.2) -> bool:
    """Whether a TCP connection to ``host:port`` succeeds now."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def wait_for_port(
    host: str,
    port: int,
    timeout_s: float,
    *,
    still_running: Callable[[], bool] = lambda: True,
) -> bool:
    """Poll until ``host:port`` accepts, the deadline passes, or ``still_running`` is false."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_accepts(host, port):
            return True
        if not still_running():
            return False
        time.sleep(0.02)
    return False
