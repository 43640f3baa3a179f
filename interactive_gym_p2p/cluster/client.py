"""The Redis connection of a server process, and the study's key space in it."""

from __future__ import annotations

import logging
import re
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # pragma: no cover
    import redis

logger = logging.getLogger(__name__)

KEY_ROOT = "igp2p"
MIN_REDIS = (6, 2)
"""GETDEL, SET ... GET and Lua scripts as used here."""


class RedisUnavailable(RuntimeError):
    """Redis cannot be reached, or is too old; the message says which and where."""


def redact(url: str) -> str:
    """The URL without its password (for logs and messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def check_url(url: object) -> str | None:
    """Why ``url`` is not a Redis URL this server can use, or None."""
    if not isinstance(url, str) or not url:
        return "the Redis URL must be a non-empty string such as redis://127.0.0.1:6379/0"
    scheme = urlsplit(url).scheme
    if scheme not in ("redis", "rediss", "unix"):
        return f"the Redis URL must start with redis://, rediss:// or unix:// (got {scheme or 'no scheme'}://)"
    return None


def open_redis(url: str, **options: Any) -> "redis.Redis":
    """A client for ``url`` that has answered a PING (str responses)."""
    import redis  # imported only when Redis is used

    problem = check_url(url)
    if problem is not None:
        raise RedisUnavailable(problem)
    client = redis.Redis.from_url(url, decode_responses=True, health_check_interval=30, **options)
    try:
        client.ping()
        version = str(client.info("server").get("redis_version", "0"))
    except redis.RedisError as exc:
        raise RedisUnavailable(f"cannot reach Redis at {redact(url)}: {exc}") from None
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
    if numbers < MIN_REDIS:
        raise RedisUnavailable(f"Redis at {redact(url)} is version {version}; at least {'.'.join(map(str, MIN_REDIS))} is needed")
    return client


def study_prefix(experiment_id: str | None) -> str:
    """Every key of one experiment starts with this (several experiments may share a Redis)."""
    name = experiment_id or "default"
    return f"{KEY_ROOT}:{name}:"


def shared_secret(client: "redis.Redis", prefix: str) -> bytes:
    """The server secret every process of the study uses (tickets, upload tokens): the first
    process to ask makes one; the others read it. Used only when none was configured."""
    key = prefix + "secret"
    fresh = secrets.token_hex(32)
    client.set(key, fresh, nx=True)
    value = client.get(key)
    if value != fresh:
        logger.info("using the server secret another process of this study stored in Redis")
    return str(value).encode()
