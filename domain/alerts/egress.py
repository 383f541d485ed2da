"""Where alert webhooks may connect (SSRF): public addresses only, unless the operator allows more.

A site admin chooses the webhook URL, so without a check Eddy would POST wherever they point it: cloud
metadata (169.254.169.254), Redis on 127.0.0.1:6379, the office network. The check runs on the
addresses a host name resolves to, at connect time (`GuardedResolver` is the HTTP client's resolver:
the addresses it returns are the ones connected to), so every spelling of an address (decimal
2130706433, hex 0x7f.1, short 127.1, octal, IPv4-mapped ::ffff:127.0.0.1, a trailing dot) and a DNS
answer that changes between the check and the connection (rebinding) end at the same test.

Refused: loopback, link-local, private (RFC 1918, unique local fc00::/7), shared (100.64.0.0/10),
multicast, unspecified, reserved and broadcast addresses, and IPv6 forms that embed an IPv4 address
(mapped, compatible, 6to4, Teredo, NAT64) whose IPv4 address is refused. `EDDY_WEBHOOK_ALLOW` (comma-
separated addresses or CIDR networks, e.g. `10.1.2.0/24,fd00::5`) lets an operator allow internal
receivers.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

from tornado.netutil import DefaultLoopResolver, Resolver

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class RefusedTarget(Exception):
    """The webhook's host resolves to no address Eddy may connect to."""


def parse_allow_list(raw: str) -> tuple[Network, ...]:
    """`EDDY_WEBHOOK_ALLOW`: comma-separated addresses or networks; ValueError on a bad entry."""
    networks = []
    for part in raw.split(","):
        part = part.strip()
        if part:
            networks.append(ipaddress.ip_network(part, strict=False))
    return tuple(networks)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


class EgressPolicy:
    """Which addresses webhooks may connect to."""

    def __init__(self, allowed: Iterable[Network] = ()) -> None:
        self.allowed = tuple(allowed)

    def allows(self, address: str | Address) -> bool:
        """Whether a connection to `address` (an IP literal; an IPv6 scope is ignored) is allowed."""
        if isinstance(address, str):
            try:
                address = ipaddress.ip_address(address.split("%", 1)[0])
            except ValueError:
                return False
        if any(address in network for network in self.allowed if network.version == address.version):
            return True
        if isinstance(address, ipaddress.IPv6Address):
            embedded = _embedded_ipv4(address)
            if embedded is not None:
                return self.allows(embedded)
        return address.is_global and not (
            address.is_multicast
            or address.is_unspecified
            or address.is_loopback
            or address.is_link_local
            or address.is_private
            or address.is_reserved
        )


class GuardedResolver(Resolver):
    """A Tornado resolver that drops every address the policy refuses; `RefusedTarget` when none is
    left. Given to the webhook HTTP client, so the check holds for the connection itself."""

    def initialize(self, policy: EgressPolicy, resolver: Resolver | None = None) -> None:  # type: ignore[override]
        self.policy = policy
        self._resolver = resolver or DefaultLoopResolver()

    async def resolve(  # type: ignore[override]
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        addresses = await self._resolver.resolve(host, port, family)
        allowed = [(af, sockaddr) for af, sockaddr in addresses if self.policy.allows(sockaddr[0])]
        if not allowed:
            raise RefusedTarget(f"{host} resolves only to addresses webhooks may not reach")
        return allowed

    def close(self) -> None:
        self._resolver.close()


async def check_target(policy: EgressPolicy, host: str, port: int) -> None:
    """At rule creation: refuse a host that resolves, and only to refused addresses. A host that does
    not resolve now passes (it is checked again at every connection)."""
    resolver = GuardedResolver(policy=policy)
    try:
        await resolver.resolve(host, port)
    except RefusedTarget:
        raise
    except OSError:
        return
