"""Free TCP ports on loopback."""

from __future__ import annotations

import socket
import urllib.request

from tests.support.until import until_sync


def free_port() -> int:
    """A port nothing listens on right now (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    until_sync(lambda: accepts(port), timeout, message=f"nothing listening on port {port}")


def answers_ok(url: str) -> bool:
    """Whether a GET of `url` answers 200 right now (False while nothing listens yet)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def accepts(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
