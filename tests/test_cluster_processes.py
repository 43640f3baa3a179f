"""Real server processes (``interactive-gym-p2p --redis``) on one real redis-server, sharing a
data directory and a TURN server (the embedded one standing in for coturn: same shared-secret
credentials), with headless Python peers (``python -m interactive_gym_p2p.peer``) as participants.

- Two participants, each connected to a different process, are matched and play Gem Rush to
  the end: one game, both exports compared and agreeing, both participants ``completed``.
- Behind one address (``tests/tcp_proxy.py``, what nginx is in docs/cluster.md) a participant
  waits on a process that is then killed (SIGKILL); its sockets are held at the proxy until the
  survivor has noticed the death and kept its waiting place, and a second participant waits on
  the survivor meanwhile. Released, the first one's sockets reach the survivor, which continues
  its flow where it was (the game scene, not the start) and gives it back its place: the two are
  matched and play to the end, both ``completed``. Each step waits on an event (a log line, a
  Redis count), never on the 5 s it takes to notice a death.
- A process holding three of a game's four sockets is killed mid-game: the game goes on over
  WebRTC, the seats are taken back (``resumed``), nothing is lost.
- A process exits (test hook) right after committing the step that forms a game, before any
  of its events went out: the survivor re-delivers them from the step's outbox; the game is
  played to the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis

from interactive_gym_p2p.cluster.client import study_prefix
from interactive_gym_p2p.signaling.core import EXIT_AFTER_COMMIT_ENV

from cluster_support import EXPERIMENT, ROOT, Cluster, running_cluster
from tcp_proxy import TcpProxy

PEER_TIMEOUT_S = 150


@pytest.fixture
def cluster(redis_url: str, tmp_path: Path) -> Iterator[Cluster]:
    with running_cluster(tmp_path, redis_url) as cluster:
        yield cluster


def run_peer(url: str, subject: str, folder: Path) -> subprocess.Popen[str]:
    log = open(folder / f"peer-{subject}.log", "w")
    return subprocess.Popen(
        [sys.executable, "-m", "interactive_gym_p2p.peer", "--server", url, "--subject-ids", subject, "--seed", "3",
         "--timeout", str(PEER_TIMEOUT_S), "--json", "--log-level", "INFO"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
    )


def finish(peer: subprocess.Popen[str], folder: Path, subject: str) -> dict[str, Any]:
    out, _ = peer.communicate(timeout=PEER_TIMEOUT_S + 30)
    assert peer.returncode == 0, out + (folder / f"peer-{subject}.log").read_text()[-4000:]
    rows = json.loads(out.strip().splitlines()[-1])
    assert len(rows) == 1
    return rows[0]


def check_game(cluster: Cluster, rows: list[dict[str, Any]], frames: int = 60) -> None:
    assert len({r["game_id"] for r in rows}) == 1 and sorted(r["player"] for r in rows) == [0, 1], rows
    assert all(r["frames"] == frames and r["uploaded"] == "stored" and r["result"] == "completed" for r in rows), rows
    report = json.loads((cluster.data_dir / "exports" / "games" / rows[0]["game_id"] / "comparison.json").read_text())
    assert report["agree"] and report["complete"]
    for r in rows:
        outcome = json.loads((cluster.data_dir / "participants" / r["subject"] / "outcome.json").read_text())
        assert outcome["outcome"] == "completed", outcome


def playing_frames(store: redis.Redis, prefix: str) -> int:
    """The lowest frame the players of the running game reported (the console's live view)."""
    games = [json.loads(v) for v in store.hvals(prefix + "console:games")]
    frames = [(p.get("report") or {}).get("frame") or 0 for g in games for p in g["players"].values()]
    return min(frames) if len(frames) == 2 else 0


def wait_for(predicate: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)  # polling Redis with a deadline
    raise AssertionError(f"{what} not within {timeout_s:.0f} s")


def test_participants_on_two_processes_play_a_game_to_the_end(cluster: Cluster, tmp_path: Path) -> None:
    one, two = cluster.start(2)
    peers = [run_peer(f"http://127.0.0.1:{one}", "near", tmp_path), run_peer(f"http://127.0.0.1:{two}", "far", tmp_path)]
    rows = [finish(p, tmp_path, s) for p, s in zip(peers, ("near", "far"))]
    check_game(cluster, rows)
    # Each process served its own participant (the peers never talked to the other process).
    assert "participant near connected" in cluster.log(one) and "participant near connected" not in cluster.log(two)
    assert "participant far connected" in cluster.log(two) and "participant far connected" not in cluster.log(one)
    # SIGTERM (kill, systemd, a container stop) is a clean stop: each process leaves the roll at
    # once and ends its message-queue listener; none is left retrying on Redis.
    cluster.stop()
    roll = redis.Redis.from_url(cluster.redis_url, decode_responses=True).hgetall(study_prefix(None) + "processes")
    assert roll and set(roll.values()) == {"0"}, roll  # "0": left (the sweeper closes its sockets at once)
    for port in (one, two):
        assert cluster.procs[port].returncode == 0 and "server stopped" in cluster.log(port), cluster.log(port)[-2000:]
        assert "receive from redis" not in cluster.log(port).lower()


class Crash:
    """Two processes of one study behind :class:`TcpProxy`, round robin over [doomed, doomed,
    survivor]: the first participant's two sockets ('/' and '/p2p') reach the process the test
    kills; after it dies every connection reaches the survivor. Peers started here are killed
    on the way out if still running."""

    def __init__(self, cluster: Cluster, folder: Path, redis_url: str) -> None:
        self.cluster, self.folder = cluster, folder
        self.doomed, self.survivor = cluster.start(2)
        self.store = redis.Redis.from_url(redis_url, decode_responses=True)
        self.prefix = study_prefix(None)
        self.proxy = TcpProxy([("127.0.0.1", self.doomed), ("127.0.0.1", self.doomed), ("127.0.0.1", self.survivor)])
        self.peers: list[subprocess.Popen[str]] = []

    def peer(self, subject: str, url: str | None = None) -> subprocess.Popen[str]:
        self.peers.append(run_peer(url or self.proxy.url, subject, self.folder))
        return self.peers[-1]

    def count(self, key: str) -> int:
        return int(self.store.hlen(self.prefix + key))

    def kill(self) -> None:
        self.cluster.kill(self.doomed)

    def __enter__(self) -> "Crash":
        self.proxy.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for peer in self.peers:
            if peer.poll() is None:
                peer.kill()
        self.proxy.stop()


# Generous bounds, so that only the events the test waits on decide what happens: the place is
# kept for 120 s once the death is noticed, and nobody times out of the waiting room meanwhile.
PATIENT = EXPERIMENT.replace("reconnect_grace_s=30", "reconnect_grace_s=120, wait_timeout_s=600")


def test_a_process_killed_while_its_participant_waits(redis_url: str, tmp_path: Path) -> None:
    with running_cluster(tmp_path, redis_url, PATIENT) as cluster, Crash(cluster, tmp_path, redis_url) as crash:
        first = crash.peer("first")
        # The first participant waits in the game scene's waiting room (a partner is missing).
        wait_for(lambda: crash.count("sig:waiting_of"), 60, "the first participant waiting")
        assert crash.proxy.routed == [("127.0.0.1", crash.doomed)] * 2
        # Its process dies, and its sockets are held at the proxy until the survivor has noticed
        # the death and kept its waiting place (out of matching: nobody could tell it of a game).
        crash.proxy.hold()
        crash.kill()
        kept = "subject first: connection lost with its server process; waiting place kept"
        wait_for(lambda: kept in cluster.log(crash.survivor), 60, "the survivor keeping the first waiter's place")
        # A second participant arrives (at the survivor) and waits too: the first is away.
        second = crash.peer("second", f"http://127.0.0.1:{crash.survivor}")
        wait_for(lambda: crash.count("sig:waiting_of") == 2, 60, "the second participant waiting")
        assert crash.count("sig:games") == 0
        # The first one's sockets come back through the proxy to the survivor, which shows the
        # game scene (from the shared flow state) and gives it back its place: matched at once.
        crash.proxy.release()
        rows = [finish(first, tmp_path, "first"), finish(second, tmp_path, "second")]
    check_game(cluster, rows)
    log = cluster.log(crash.survivor)
    assert "at scene gems" in log.split("participant first connected", 1)[1].splitlines()[0]
    assert "left the waiting room" not in log
    assert set(crash.proxy.routed[2:]) == {("127.0.0.1", crash.survivor)}


def test_a_process_that_dies_between_a_steps_commit_and_its_events_loses_none_of_them(redis_url: str, tmp_path: Path) -> None:
    with running_cluster(tmp_path, redis_url, PATIENT) as cluster:
        (survivor,) = cluster.start(1)
        # The test hook: this process exits right after committing a step that has a
        # game_ready to send, before emitting anything.
        (doomed,) = cluster.start(1, env={EXIT_AFTER_COMMIT_ENV: "game_ready"})
        store = redis.Redis.from_url(redis_url, decode_responses=True)
        prefix = study_prefix(None)
        with TcpProxy([("127.0.0.1", doomed), ("127.0.0.1", survivor)], failover=True) as proxy:
            near = run_peer(f"http://127.0.0.1:{survivor}", "near", tmp_path)
            far: subprocess.Popen[str] | None = None
            try:
                wait_for(lambda: store.hlen(prefix + "sig:waiting_of"), 60, "the first participant waiting")
                # The second participant's join on the doomed process forms the game: the state
                # (the game, both seats) is committed, then the process dies; near's game_ready,
                # to a socket on the survivor, was never emitted.
                far = run_peer(proxy.url, "far", tmp_path)
                assert cluster.procs[doomed].wait(timeout=90) == 70
                assert "exiting after committing a step with a 'game_ready' event" in cluster.log(doomed)
                assert store.hlen(prefix + "sig:games") == 1
                # The survivor strikes the dead process off the roll and re-delivers its step's
                # events from the outbox committed with the step; far comes back through the
                # proxy (to the survivor) and takes its seat. They play to the end.
                rows = [finish(near, tmp_path, "near"), finish(far, tmp_path, "far")]
            finally:
                for peer in (near, far):
                    if peer is not None and peer.poll() is None:
                        peer.kill()
    check_game(cluster, rows)
    log = cluster.log(survivor)
    assert "is gone: re-delivering the " in log and "took its seat" in log
    assert store.hlen(prefix + "sig:outbox") == 0  # every step's events went out


LONG_GAME = EXPERIMENT.replace("steps=60", "steps=300")


def test_a_process_killed_mid_game_loses_nothing(redis_url: str, tmp_path: Path) -> None:
    with running_cluster(tmp_path, redis_url, LONG_GAME) as cluster, Crash(cluster, tmp_path, redis_url) as crash:
        # The first participant's sockets and the second one's signaling socket reach the doomed
        # process, the second one's flow the survivor.
        first = crash.peer("first")
        wait_for(lambda: crash.count("sig:waiting_of"), 60, "the first participant waiting")
        second = crash.peer("second")
        wait_for(lambda: crash.count("sig:games"), 60, "the game")
        doomed, survivor = ("127.0.0.1", crash.doomed), ("127.0.0.1", crash.survivor)
        assert crash.proxy.routed[:4] == [doomed, doomed, survivor, doomed]
        # Well into the game (its WebRTC connection does not need the server), the process
        # holding three of the four sockets dies.
        wait_for(lambda: playing_frames(crash.store, crash.prefix) >= 60, 60, "both players past frame 60")
        crash.kill()
        rows = [finish(first, tmp_path, "first"), finish(second, tmp_path, "second")]
    for row in rows:
        assert row["frames"] == 300
    check_game(cluster, rows, frames=300)
    peer_logs = (tmp_path / "peer-first.log").read_text() + (tmp_path / "peer-second.log").read_text()
    assert "'resumed': True" in peer_logs  # the seats were taken back, nothing renegotiated
    assert "reconnected (its game went on)" in cluster.log(crash.survivor)
