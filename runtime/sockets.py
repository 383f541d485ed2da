"""A registry of the open websockets of one process, so shutdown can close them (Tornado's
`close_all_connections` does not) and per-IP connection caps can be enforced."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Protocol


class ClosableSocket(Protocol):
    """What the registry needs of a websocket handler."""

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Start the closing handshake."""


class SocketRegistry:
    """Open sockets, counted per client address."""

    def __init__(self, per_ip_limit: int = 64) -> None:
        self.per_ip_limit = per_ip_limit
        self._sockets: dict[ClosableSocket, str] = {}
        self._per_ip: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._sockets)

    def __iter__(self) -> Iterator[ClosableSocket]:
        return iter(list(self._sockets))

    def admit(self, socket: ClosableSocket, ip: str) -> bool:
        """Register a socket; False (and not registered) if its address is at its cap."""
        if self._per_ip[ip] >= self.per_ip_limit:
            return False
        self._sockets[socket] = ip
        self._per_ip[ip] += 1
        return True

    def discard(self, socket: ClosableSocket) -> None:
        """Forget a socket (idempotent)."""
        ip = self._sockets.pop(socket, None)
        if ip is not None:
            self._per_ip[ip] -= 1
            if self._per_ip[ip] <= 0:
                del self._per_ip[ip]

    def end_sessions(self, sessions: Sequence[str], code: int = 4401, reason: str = "session ended") -> int:
        """Close the sockets authenticated by one of these sign-in sessions (each socket's `session`
        attribute); returns how many."""
        ended = set(sessions) - {""}
        sockets = [socket for socket in self._sockets if getattr(socket, "session", "") in ended]
        for socket in sockets:
            with contextlib.suppress(Exception):
                socket.close(code, reason)
        return len(sockets)

    def close_all(self, code: int = 1001, reason: str = "server shutting down") -> int:
        """Start closing every socket; returns how many."""
        sockets = list(self._sockets)
        for socket in sockets:
            # one broken socket must not stop shutdown
            with contextlib.suppress(Exception):
                socket.close(code, reason)
            self.discard(socket)
        return len(sockets)
