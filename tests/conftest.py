"""Fixtures shared by the Python tests (the e2e folder has its own conftest besides)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from redis_support import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the session (no persistence); flushed by ``redis_url``."""
    server = RedisServer(Path(tmp_path_factory.mktemp("redis"))).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of an empty Redis (everything flushed before the test)."""
    redis_server.flush()
    return redis_server.url
