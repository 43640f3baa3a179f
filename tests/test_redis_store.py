"""What only the shared (Redis) signaling store must do, on a real redis-server: steps of
several processes never interleave, a step is all-or-nothing, a stalled holder cannot write
over newer state, a dead holder's lock expires, a read-only view waits for no one. The store
contract both stores keep is in test_signaling_store.py.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis

from interactive_gym_p2p.cluster.lock import LockLost, LockTimeout, SharedLock
from interactive_gym_p2p.signaling.records import MatchHistory
from interactive_gym_p2p.signaling.redis_store import RedisSignalingStore

from store_backends import redis_store
from test_signaling_store import A, game


def test_two_processes_steps_never_interleave(redis_url: str) -> None:
    # Two stores on one Redis stand for two server processes; each step reads a counter and
    # writes it back one higher. Without exclusivity, increments would be lost.
    stores = [redis_store(redis_url, "igp2p:race:") for _ in range(2)]
    with stores[0].transaction():
        stores[0].put_history(MatchHistory(A, 0.0, [], 0))

    def work(store: RedisSignalingStore) -> None:
        for _ in range(100):
            with store.transaction():
                h = store.get_history(A)
                assert h is not None
                h.requeues += 1
                store.put_history(h)

    threads = [threading.Thread(target=work, args=(stores[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    with stores[1].reading():
        assert stores[1].get_history(A).requeues == 400  # type: ignore[union-attr]


def test_a_step_that_raises_writes_nothing_and_frees_the_lock(redis_url: str) -> None:
    store = redis_store(redis_url, "igp2p:raise:")
    with pytest.raises(ValueError):
        with store.transaction():
            store.put_game(game("g9"))
            raise ValueError("boom")
    with store.transaction():  # would wait for the lock's lifetime if the failed step kept it
        assert store.get_game("g9") is None


def test_a_stalled_holder_loses_the_lock_and_cannot_write_over_newer_state(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    slow = RedisSignalingStore(client, "igp2p:stall:")
    fast = RedisSignalingStore(client, "igp2p:stall:")
    with pytest.raises(LockLost):
        with slow.transaction():
            slow.put_game(game("old"))
            # The holder stalls past the lock's lifetime (a frozen process): the lock expires...
            client.delete(slow.lock.key)
            with fast.transaction():  # ... and another process takes it meanwhile
                fast.put_game(game("new"))
    with fast.reading():
        assert fast.game_ids() == ["new"]


def test_the_lock_of_a_dead_holder_expires_and_a_busy_one_times_out(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    dead = SharedLock(client, "igp2p:lock-test", ttl_s=0.4, wait_s=5.0)
    dead.acquire()  # never released: its process died
    t0 = time.monotonic()
    waiter = SharedLock(client, "igp2p:lock-test", ttl_s=0.4, wait_s=5.0)
    token = waiter.acquire()
    assert 0.2 < time.monotonic() - t0 < 3.0
    impatient = SharedLock(client, "igp2p:lock-test", ttl_s=5.0, wait_s=0.2)
    with pytest.raises(LockTimeout):
        impatient.acquire()
    waiter.release(token)
    impatient.release(impatient.acquire())


def test_a_read_only_view_refuses_writes_and_waits_for_no_lock(redis_url: str) -> None:
    holder = redis_store(redis_url, "igp2p:view:")
    reader = redis_store(redis_url, "igp2p:view:")
    with holder.transaction():
        holder.put_game(game("g1"))
        holder.commit()
        with reader.reading():  # another process reads while this step holds the lock
            assert reader.game_ids() == ["g1"]
            with pytest.raises(RuntimeError, match="read-only"):
                reader.put_game(game("g2"))
