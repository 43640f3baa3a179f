"""Allocation tables (expiry, quotas, channels, permissions) and the nonce/credential check."""

from __future__ import annotations

import os

import pytest

from interactive_gym_p2p.turn import credentials, stun
from interactive_gym_p2p.turn.allocations import Allocation, AllocationTable, BindError, Limits
from interactive_gym_p2p.turn.auth import Authenticator, NonceIssuer
from interactive_gym_p2p.turn.stun import Attr, Class, Method


def make(table: AllocationTable, key: object, user: str, expires: float = 600.0) -> Allocation:
    table.reserve(key, user)
    alloc = Allocation(key=key, username=user, relay_address=("127.0.0.1", 5000), expires=expires)
    table.add(alloc)
    return alloc


def test_lifetimes_follow_rfc_8656() -> None:
    limits = Limits()
    assert limits.allocate_lifetime(None) == 600
    assert limits.allocate_lifetime(30) == 600  # never below the default
    assert limits.allocate_lifetime(1200) == 1200
    assert limits.allocate_lifetime(99999) == 3600
    assert limits.refresh_lifetime(None) == 600
    assert limits.refresh_lifetime(30) == 30
    assert limits.refresh_lifetime(99999) == 3600
    with pytest.raises(ValueError):
        Limits(default_lifetime=4000)


def test_quotas_per_user_and_total() -> None:
    table = AllocationTable(Limits(max_allocations_per_user=2, max_allocations_total=3))
    make(table, "a1", "alice")
    assert table.quota_error("alice") is None
    table.reserve("a2", "alice")  # a pending allocation already counts
    assert table.quota_error("alice") == 486
    assert table.quota_error("bob") is None
    make(table, "b1", "bob")
    assert table.quota_error("bob") == 508  # 3 in total, counting the pending one
    table.release("a2")
    assert table.quota_error("alice") is None
    table.remove("a1")
    assert table.user_count("alice") == 0 and len(table) == 1


def test_expiry_removes_allocations_and_prunes() -> None:
    table = AllocationTable(Limits())
    short = make(table, "s", "u", expires=100.0)
    long = make(table, "l", "u", expires=1000.0)
    long.install_permission("8.8.8.8", now=0.0, lifetime=300, cap=10)
    long.bind_channel(0x4000, ("9.9.9.9", 1), now=0.0, lifetime=600, cap=10)
    assert table.expire(99.0) == []
    assert table.expire(100.0) == [short]
    assert table.get("s") is None and table.get("l") is long
    assert long.permits("8.8.8.8", 299.0) and not long.permits("8.8.8.8", 300.0)
    table.expire(300.0)
    assert "8.8.8.8" not in long.permissions
    assert long.live_channel(0x4000, 599.0) is not None
    table.expire(600.0)
    assert long.channels == {} and long.peer_channels == {}


def test_channel_binding_rules() -> None:
    table = AllocationTable(Limits())
    alloc = make(table, "k", "u")
    peer, other = ("8.8.8.8", 1000), ("8.8.4.4", 1000)
    alloc.bind_channel(0x4001, peer, now=0.0, lifetime=600, cap=2)
    alloc.bind_channel(0x4001, peer, now=500.0, lifetime=600, cap=2)  # refresh
    assert alloc.live_channel(0x4001, 1000.0) is not None
    with pytest.raises(BindError) as exc:
        alloc.bind_channel(0x4001, other, now=1.0, lifetime=600, cap=2)
    assert exc.value.code == 400
    with pytest.raises(BindError):
        alloc.bind_channel(0x4002, peer, now=1.0, lifetime=600, cap=2)
    with pytest.raises(BindError):
        alloc.bind_channel(0x3FFF, other, now=1.0, lifetime=600, cap=2)
    alloc.bind_channel(0x4002, other, now=1.0, lifetime=600, cap=2)
    with pytest.raises(BindError) as exc:
        alloc.bind_channel(0x4003, ("1.1.1.1", 1), now=1.0, lifetime=600, cap=2)
    assert exc.value.code == 508
    # A live channel counts as permission for its peer's IP (aioice only re-binds channels).
    assert alloc.permits("8.8.4.4", 400.0)
    assert not alloc.permits("8.8.4.4", 601.0)


def test_permission_cap() -> None:
    alloc = Allocation(key="k", username="u", relay_address=("127.0.0.1", 1), expires=1e9)
    assert alloc.install_permission("1.1.1.1", 0.0, 300, cap=1)
    assert alloc.install_permission("1.1.1.1", 10.0, 300, cap=1)  # refreshing is not growing
    assert not alloc.install_permission("2.2.2.2", 10.0, 300, cap=1)
    assert alloc.install_permission("2.2.2.2", 400.0, 300, cap=1)  # the old one expired


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def signed_request(username: str, password: str, realm: str, nonce: str) -> stun.Message:
    msg = stun.Message(Method.ALLOCATE, Class.REQUEST, os.urandom(12))
    msg.add(Attr.USERNAME, username).add(Attr.REALM, realm).add(Attr.NONCE, nonce)
    data = stun.encode(msg, integrity_key=stun.long_term_key(username, realm, password))
    return stun.decode(data)


def test_authenticator() -> None:
    clock = Clock()
    nonces = NonceIssuer(600, clock=clock)
    auth = Authenticator("secret", "realm", nonces, wall_clock=lambda: 5000.0)
    cred = credentials.issue("secret", "alice", ttl_s=100, now=5000)
    nonce = nonces.issue()

    ok = auth.check(signed_request(cred.username, cred.password, "realm", nonce))
    assert ok.error is None and ok.username == cred.username and ok.key

    unsigned = stun.decode(stun.encode(stun.Message(Method.ALLOCATE, Class.REQUEST, os.urandom(12))))
    assert auth.check(unsigned).error == 401
    assert auth.check(signed_request(cred.username, "wrong", "realm", nonce)).error == 401
    wrong_secret = credentials.issue("other", "alice", now=5000)
    assert auth.check(signed_request(wrong_secret.username, wrong_secret.password, "realm", nonce)).error == 401
    expired = credentials.issue("secret", "alice", ttl_s=10, now=4000)
    assert auth.check(signed_request(expired.username, expired.password, "realm", nonce)).error == 401
    assert auth.check(signed_request("alice", credentials.password_for("secret", "alice"), "realm", nonce)).error == 401
    assert auth.check(signed_request(cred.username, cred.password, "other-realm", nonce)).error == 401
    assert auth.check(signed_request(cred.username, cred.password, "realm", "forged-nonce")).error == 438
    other_server = NonceIssuer(600, clock=clock).issue()
    assert auth.check(signed_request(cred.username, cred.password, "realm", other_server)).error == 438
    clock.t += 601
    assert auth.check(signed_request(cred.username, cred.password, "realm", nonce)).error == 438
    assert auth.check(signed_request(cred.username, cred.password, "realm", nonces.issue())).error is None
