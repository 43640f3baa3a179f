"""Allocation, permission and channel tables with expiry and quotas (RFC 8656 §5, §9, §12).

No sockets and no clock of its own: every call that depends on time takes ``now`` (seconds on
a monotonic clock), so the rules are unit-testable with plain numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .stun import CHANNEL_MAX, CHANNEL_MIN

logger = logging.getLogger(__name__)

Address = tuple[str, int]


@dataclass(frozen=True)
class Limits:
    """Quotas and lifetimes (seconds). Defaults follow RFC 8656 and coturn."""

    max_allocations_per_user: int = 10
    """Concurrent allocations per username (a participant needs 1-2); over it: 486."""
    max_allocations_total: int = 500
    """Concurrent allocations in total (each holds a UDP socket); over it: 508."""
    max_permissions_per_allocation: int = 64
    max_channels_per_allocation: int = 64
    default_lifetime: int = 600
    max_lifetime: int = 3600
    permission_lifetime: int = 300
    channel_lifetime: int = 600

    def __post_init__(self) -> None:
        for name in (
            "max_allocations_per_user",
            "max_allocations_total",
            "max_permissions_per_allocation",
            "max_channels_per_allocation",
            "default_lifetime",
            "max_lifetime",
            "permission_lifetime",
            "channel_lifetime",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.default_lifetime > self.max_lifetime:
            raise ValueError("default_lifetime must not exceed max_lifetime")

    def allocate_lifetime(self, requested: int | None) -> int:
        """RFC 8656 §7.2: min(requested, max), but never below the default."""
        if requested is None:
            return self.default_lifetime
        return max(self.default_lifetime, min(requested, self.max_lifetime))

    def refresh_lifetime(self, requested: int | None) -> int:
        """RFC 8656 §7.3: 0 deletes, otherwise min(requested, max); absent means the default."""
        if requested is None:
            return self.default_lifetime
        return min(requested, self.max_lifetime)


@dataclass(eq=False)
class ChannelBinding:
    """A channel number bound to one peer transport address."""

    number: int
    peer: Address
    expires: float


class BindError(Exception):
    """A ChannelBind the table refuses; ``code`` is the STUN error to send."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(eq=False)
class Allocation:
    """One client's relayed transport address and what it may reach."""

    key: Hashable
    """The client's 5-tuple (``("udp", addr)`` or ``("tcp", connection id)``)."""
    username: str
    relay_address: Address
    """What XOR-RELAYED-ADDRESS advertises (external IP, relay port)."""
    expires: float
    permissions: dict[str, float] = field(default_factory=dict)
    """peer IP -> expiry. Permissions are per IP, any port (RFC 8656 §9)."""
    channels: dict[int, ChannelBinding] = field(default_factory=dict)
    peer_channels: dict[Address, ChannelBinding] = field(default_factory=dict)
    relay: Any = field(default=None, repr=False)
    """The relay socket (owned by the server)."""
    client: Any = field(default=None, repr=False)
    """How to reach the client (owned by the server)."""

    def permits(self, ip: str, now: float) -> bool:
        """Is traffic to/from ``ip`` allowed right now?

        A live channel binding counts as a permission for its peer's IP. RFC 8656 asks
        clients to refresh both separately; aioice only re-binds channels (every 500 s), and
        a bound channel was authorised by the same policy check, so we keep it usable.
        """
        expiry = self.permissions.get(ip)
        if expiry is not None and expiry > now:
            return True
        return any(b.peer[0] == ip and b.expires > now for b in self.channels.values())

    def install_permission(self, ip: str, now: float, lifetime: float, cap: int) -> bool:
        """Install or refresh; False when a new IP would exceed ``cap``."""
        if ip not in self.permissions and len(self.permissions) >= cap:
            self.prune(now)
            if len(self.permissions) >= cap:
                return False
        self.permissions[ip] = now + lifetime
        return True

    def bind_channel(self, number: int, peer: Address, now: float, lifetime: float, cap: int) -> None:
        """Bind or refresh ``number`` <-> ``peer``; raises :class:`BindError`."""
        if not CHANNEL_MIN <= number <= CHANNEL_MAX:
            raise BindError(400, "channel number out of range")
        self.prune(now)
        by_number = self.channels.get(number)
        by_peer = self.peer_channels.get(peer)
        if by_number is not None and by_number.peer != peer:
            raise BindError(400, "channel already bound to another peer")
        if by_peer is not None and by_peer.number != number:
            raise BindError(400, "peer already bound to another channel")
        if by_number is None and len(self.channels) >= cap:
            raise BindError(508, "too many channels")
        binding = by_number or ChannelBinding(number=number, peer=peer, expires=0.0)
        binding.expires = now + lifetime
        self.channels[number] = binding
        self.peer_channels[peer] = binding

    def live_channel(self, number: int, now: float) -> ChannelBinding | None:
        binding = self.channels.get(number)
        return binding if binding is not None and binding.expires > now else None

    def live_peer_channel(self, peer: Address, now: float) -> ChannelBinding | None:
        binding = self.peer_channels.get(peer)
        return binding if binding is not None and binding.expires > now else None

    def prune(self, now: float) -> None:
        """Forget expired permissions and channel bindings."""
        for ip in [ip for ip, exp in self.permissions.items() if exp <= now]:
            del self.permissions[ip]
        for number in [n for n, b in self.channels.items() if b.expires <= now]:
            binding = self.channels.pop(number)
            if self.peer_channels.get(binding.peer) is binding:
                del self.peer_channels[binding.peer]


class AllocationTable:
    """All allocations by 5-tuple, with per-user and total quotas."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._by_key: dict[Hashable, Allocation] = {}
        self._per_user: dict[str, int] = {}
        self._pending: dict[Hashable, str] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[Allocation]:
        return iter(list(self._by_key.values()))

    def get(self, key: Hashable) -> Allocation | None:
        return self._by_key.get(key)

    def is_pending(self, key: Hashable) -> bool:
        return key in self._pending

    def user_count(self, username: str) -> int:
        return self._per_user.get(username, 0)

    def quota_error(self, username: str) -> int | None:
        """486 when this user is at its quota, 508 when the server is full, else None."""
        if self._per_user.get(username, 0) >= self.limits.max_allocations_per_user:
            return 486
        if len(self._by_key) + len(self._pending) >= self.limits.max_allocations_total:
            return 508
        return None

    def reserve(self, key: Hashable, username: str) -> None:
        """Hold a quota slot while the relay socket is being opened."""
        if key in self._pending or key in self._by_key:
            raise KeyError(f"{key!r} already allocated or pending")
        self._pending[key] = username
        self._per_user[username] = self._per_user.get(username, 0) + 1

    def release(self, key: Hashable) -> None:
        """Give back a reservation that did not become an allocation."""
        username = self._pending.pop(key, None)
        if username is not None:
            self._decrement(username)

    def add(self, allocation: Allocation) -> None:
        """Turn the reservation for ``allocation.key`` into an allocation."""
        username = self._pending.pop(allocation.key, None)
        if username is None:
            raise KeyError(f"no reservation for {allocation.key!r}")
        if username != allocation.username:
            raise ValueError("reservation made for another user")
        self._by_key[allocation.key] = allocation

    def remove(self, key: Hashable) -> Allocation | None:
        allocation = self._by_key.pop(key, None)
        if allocation is not None:
            self._decrement(allocation.username)
        return allocation

    def expire(self, now: float) -> list[Allocation]:
        """Remove and return allocations whose lifetime ran out; prune the rest."""
        gone = [a for a in self._by_key.values() if a.expires <= now]
        for allocation in gone:
            self.remove(allocation.key)
        for allocation in self._by_key.values():
            allocation.prune(now)
        return gone

    def _decrement(self, username: str) -> None:
        left = self._per_user.get(username, 0) - 1
        if left > 0:
            self._per_user[username] = left
        else:
            self._per_user.pop(username, None)
