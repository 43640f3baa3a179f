"""Which peer addresses a TURN allocation may relay to.

A relay that forwards to any address lets anyone on the internet reach the server's own
network (its loopback services, the cloud metadata endpoint, the office LAN). So by default,
like coturn with ``denied-peer-ip`` lines and without ``allow-loopback-peers``, we refuse
loopback, link-local, private, shared (CGNAT), multicast and reserved ranges. Tests and
single-machine demos opt in explicitly with ``allow_loopback`` or ``allow_cidrs``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address

LOOPBACK_CIDRS: tuple[str, ...] = ("127.0.0.0/8", "::1/128")

DEFAULT_DENIED_CIDRS: tuple[str, ...] = (
    "0.0.0.0/8",  # "this network"
    "10.0.0.0/8",  # private
    "100.64.0.0/10",  # shared address space (CGNAT)
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local (cloud metadata lives here)
    "172.16.0.0/12",  # private
    "192.0.0.0/24",  # IETF protocol assignments
    "192.168.0.0/16",  # private
    "198.18.0.0/15",  # benchmarking
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, includes broadcast
    "::/128",  # unspecified
    "::1/128",  # loopback
    "64:ff9b:1::/48",  # local-use NAT64
    "fc00::/7",  # unique local
    "fe80::/10",  # link-local
    "ff00::/8",  # multicast
)


def _networks(cidrs: tuple[str, ...] | list[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


@dataclass(frozen=True)
class PeerPolicy:
    """Allow/deny rules for peer addresses. An explicit allow beats a deny."""

    allow_loopback: bool = False
    """Permit 127.0.0.0/8 and ::1 (tests, single-machine demos)."""
    allow_cidrs: tuple[str, ...] = ()
    """Extra ranges to permit even though a deny rule covers them (e.g. a lab LAN)."""
    deny_cidrs: tuple[str, ...] = ()
    """Extra ranges to refuse on top of the defaults."""
    use_default_denies: bool = True
    """Start from :data:`DEFAULT_DENIED_CIDRS` (turn off only behind another firewall)."""
    _allow: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)
    _deny: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        allow = list(self.allow_cidrs) + (list(LOOPBACK_CIDRS) if self.allow_loopback else [])
        deny = (list(DEFAULT_DENIED_CIDRS) if self.use_default_denies else []) + list(self.deny_cidrs)
        object.__setattr__(self, "_allow", _networks(allow))
        object.__setattr__(self, "_deny", _networks(deny))

    def allows(self, ip: str | IPAddr) -> bool:
        """True when relaying to ``ip`` is permitted."""
        try:
            addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
        except ValueError:
            return False
        # An IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        if any(addr in net for net in self._allow if net.version == addr.version):
            return True
        return not any(addr in net for net in self._deny if net.version == addr.version)

    def coturn_ranges(self) -> tuple[list[str], list[str]]:
        """(allowed, denied) as coturn ``ip-ip`` ranges, for the generated turnserver.conf.

        Loopback is left out of both lists: coturn governs it with ``allow-loopback-peers``.
        """
        # coturn 4.6 parses a range spelled "::-::" so that it matches every address;
        # unspecified peers are meaningless to it anyway, so that entry is left out.
        skip = _networks(LOOPBACK_CIDRS) + (ipaddress.ip_network("::/128"),)

        def ranges(nets: tuple[IPNetwork, ...]) -> list[str]:
            return [f"{n.network_address}-{n.broadcast_address}" for n in nets if n not in skip]

        return ranges(self._allow), ranges(self._deny)
