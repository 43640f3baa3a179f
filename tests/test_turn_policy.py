"""Peer address policy: what a TURN allocation may relay to."""

from __future__ import annotations

import pytest

from interactive_gym_p2p.turn.policy import PeerPolicy


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "127.5.6.7",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fd00::1",
        "ff02::1",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback is still loopback
        "::ffff:10.0.0.1",
        "not-an-ip",
    ],
)
def test_default_policy_denies_internal_ranges(ip: str) -> None:
    assert not PeerPolicy().allows(ip)


@pytest.mark.parametrize("ip", ["8.8.8.8", "203.0.113.5", "172.32.0.1", "2001:db8::1", "::ffff:8.8.4.4"])
def test_default_policy_allows_public_addresses(ip: str) -> None:
    assert PeerPolicy().allows(ip)


def test_allow_loopback_opens_only_loopback() -> None:
    policy = PeerPolicy(allow_loopback=True)
    assert policy.allows("127.0.0.1") and policy.allows("::1") and policy.allows("::ffff:127.0.0.1")
    assert not policy.allows("10.0.0.1") and not policy.allows("169.254.169.254")


def test_allow_and_deny_cidrs() -> None:
    policy = PeerPolicy(allow_cidrs=("192.168.50.0/24",), deny_cidrs=("203.0.113.0/24",))
    assert policy.allows("192.168.50.7")
    assert not policy.allows("192.168.51.7")
    assert not policy.allows("203.0.113.9")
    assert policy.allows("198.51.100.1")


def test_coturn_ranges() -> None:
    allowed, denied = PeerPolicy(allow_loopback=True, allow_cidrs=("10.9.0.0/16",)).coturn_ranges()
    assert allowed == ["10.9.0.0-10.9.255.255"]
    assert "10.0.0.0-10.255.255.255" in denied
    assert "169.254.0.0-169.254.255.255" in denied
    assert not any(r.startswith("127.") for r in denied + allowed)  # coturn: allow-loopback-peers
    assert "::-::" not in denied  # coturn would read it as "everything"
