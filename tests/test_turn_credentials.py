"""TURN REST API credentials: username format, password, expiry, secret resolution."""

from __future__ import annotations

import pytest

from interactive_gym_p2p.turn import credentials


def test_ice_servers_shape_and_known_password() -> None:
    # Expected password computed independently:
    #   printf '%s' "1700003600:alice" | openssl dgst -sha1 -hmac "north-wind" -binary | base64
    urls = ["stun:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"]
    servers = credentials.ice_servers(urls, "north-wind", "alice", now=1_700_000_000)
    assert servers == [
        {"urls": urls, "username": "1700003600:alice", "credential": "iRtTIZ3N38dm9S+dP+UkHfnN9Qo="}
    ]
    assert servers[0]["urls"] is not urls  # a copy: callers may mutate it


def test_ttl_and_fractional_now() -> None:
    cred = credentials.issue("s3cr3t", "subject_01", ttl_s=60, now=1_699_999_940.9)
    assert cred.username == "1700000000:subject_01"
    assert cred.expiry == 1_700_000_000
    # openssl dgst -sha1 -hmac "s3cr3t" over "1700000000:subject_01"
    assert cred.password == "hZZ3Vmc2uy6jhJC1ZB8wSGKJKNw="


def test_default_ttl_is_an_hour() -> None:
    cred = credentials.issue("x", "p", now=100)
    assert cred.expiry == 100 + 3600


def test_check_accepts_until_expiry_then_refuses() -> None:
    cred = credentials.issue("secret", "bob", ttl_s=10, now=1000)
    assert credentials.check("secret", cred.username, cred.password, now=1005)
    assert credentials.check("secret", cred.username, cred.password, now=1010)
    assert not credentials.check("secret", cred.username, cred.password, now=1011)
    assert not credentials.check("other", cred.username, cred.password, now=1005)
    assert not credentials.check("secret", "bob", cred.password, now=1005)


@pytest.mark.parametrize("username", ["bob", ":bob", "12x:bob", "1700000000:", "-5:bob", "\u0661\u0662:bob"])
def test_username_expiry_rejects_non_rest_usernames(username: str) -> None:
    assert credentials.username_expiry(username) is None


def test_participant_ids_are_validated() -> None:
    for bad in ["", "a\nb", "x" * 300]:
        with pytest.raises(ValueError):
            credentials.issue("s", bad)
    with pytest.raises(ValueError):
        credentials.issue("", "p")
    with pytest.raises(ValueError):
        credentials.issue("s", "p", ttl_s=0)
    assert credentials.ice_servers([], "s", "p") == []


def test_resolve_secret_order() -> None:
    assert credentials.resolve_secret("configured", {"IGP2P_TURN_SECRET": "env"}) == "configured"
    assert credentials.resolve_secret(None, {"IGP2P_TURN_SECRET": "env"}) == "env"
    first = credentials.resolve_secret(None, {})
    second = credentials.resolve_secret(None, {})
    assert len(first) >= 32 and first != second
