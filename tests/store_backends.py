"""One test suite over both stores: in memory, and Redis (a real redis-server).

A signaling test module imports :func:`signaling_store` (an autouse, parametrized fixture)
and builds its Signaling with ``store=new_store()``: every test of the module then runs once
per store. The console's tests do the same with :func:`console_backend` and
``new_console_store(...)``.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import itertools

import pytest
import redis

from interactive_gym_p2p.console.redis_store import RedisConsoleStore
from interactive_gym_p2p.console.store import ConsoleStore, InMemoryConsoleStore
from interactive_gym_p2p.signaling.redis_store import RedisSignalingStore
from interactive_gym_p2p.signaling.store import InMemoryStore, SignalingStore

STORES = ("memory", "redis")
PREFIX = "igp2p:test:sig:"

_factory: list[Callable[[], SignalingStore]] = []
_fresh = itertools.count()


def new_store() -> SignalingStore:
    """A fresh store of the backend the running test was given."""
    if not _factory:
        return InMemoryStore()
    return _factory[-1]()


def redis_store(url: str, prefix: str = PREFIX) -> RedisSignalingStore:
    return RedisSignalingStore(redis.Redis.from_url(url, decode_responses=True), prefix)


@pytest.fixture(autouse=True, params=STORES)
def signaling_store(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        # Each store of a test gets its own key space, as each InMemoryStore is empty.
        _factory.append(lambda: redis_store(url, f"{PREFIX}{next(_fresh)}:"))
    else:
        _factory.append(InMemoryStore)
    try:
        yield request.param
    finally:
        _factory.pop()


_console_factory: list[Callable[..., ConsoleStore]] = []


def new_console_store(**options: Any) -> ConsoleStore:
    """A fresh console store of the running test's backend (``options``: the store's own)."""
    if not _console_factory:
        return InMemoryConsoleStore(**options)
    return _console_factory[-1](**options)


@pytest.fixture(autouse=True, params=STORES)
def console_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        client = redis.Redis.from_url(url, decode_responses=True)
        _console_factory.append(lambda **options: RedisConsoleStore(client, f"igp2p:test:console:{next(_fresh)}:", **options))
    else:
        _console_factory.append(InMemoryConsoleStore)
    try:
        yield request.param
    finally:
        _console_factory.pop()
