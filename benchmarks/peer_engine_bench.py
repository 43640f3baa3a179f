"""Engine overhead of the Python peer's rollback session (interactive_gym_p2p/peer/session.py):
two Python sessions over the deterministic simulator (virtual clock, seeded impairment) with
the trivial environment, so the engine's own cost shows. The Python twin of
benchmarks/rollback_bench.mjs (same configurations and columns).

    python benchmarks/peer_engine_bench.py [seconds=20] [seed=1] [--js]

For RTT {0, 50, 100, 200} ms x loss {0, 5, 20} % at 30 and 60 fps (one-way delay = RTT/2,
inputs changing with probability 0.1 per frame):
  rb/s      rollbacks per second (per peer)
  depth     mean / max rollback depth
  stall%    running ticks that could not advance;  wait%  ticks skipped by time sync
  B/s       payload bytes per second sent by one peer
  us/frame  engine time per advanced frame: wall time in tick()+receive() minus the
            environment's calls minus the simulator's transport (Python, CPython)
  budget%   us/frame as a share of the frame period (1000/fps ms)
Then the gem_rush demo environment's own cost per frame through peer/env.py, for scale.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interactive_gym_p2p.peer.sim import Game  # noqa: E402
from interactive_gym_p2p.peer.sim_envs import TrivialEnv  # noqa: E402

RTTS = (0, 50, 100, 200)
LOSSES = (0.0, 0.05, 0.2)
FPS = (30, 60)


class TimedEnv:
    """Counts wall time spent in the environment (not engine time)."""

    def __init__(self, env: Any, clock: list[float]) -> None:
        self.env, self.clock, self.num_players = env, clock, env.num_players

    def _t(self, name: str, *a: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return getattr(self.env, name)(*a)
        finally:
            self.clock[0] += time.perf_counter() - t0

    def reset(self, seed: int) -> None:
        self._t("reset", seed)

    def step(self, actions: list[int]) -> bool:
        return self._t("step", actions)

    def save(self) -> Any:
        return self._t("save")

    def load(self, s: Any) -> None:
        self._t("load", s)

    def state_hash(self) -> str:
        return self._t("state_hash")

    def canonical_state(self) -> Any:
        return self._t("canonical_state")


def inp(p: int, tick: int, prng: Any, last: dict, s: Any) -> int:
    if prng.float() < 0.1:
        last[p] = prng.int(5)
    return last.get(p, 0)


def run_config(fps: int, rtt: int, loss: float, seconds: float, seed: int) -> dict[str, float]:
    env_time = [0.0]
    send_time = [0.0]
    g = Game(num_players=2, seed=seed, make_env=lambda p: TimedEnv(TrivialEnv(2), env_time),
             settings={"fps": fps}, link={"delay_ms": rtt / 2, "loss": loss}, input=inp, measure=True)
    for s in g.sessions:
        inner = s.transport

        class Timed:
            def __init__(self, inner: Any) -> None:
                self.inner = inner

            def send(self, to: int, data: bytes) -> None:
                t0 = time.perf_counter()
                self.inner.send(to, data)
                send_time[0] += time.perf_counter() - t0

        s.transport = Timed(inner)
    warmup = 2000
    g.run(warmup)
    before = [s.stats() for s in g.sessions]
    eng0, env0, send0 = g.engine_s, env_time[0], send_time[0]
    res0 = [(r.advanced, r.stalled, r.waiting) for r in g.results]
    g.run(warmup + seconds * 1000)
    after = [s.stats() for s in g.sessions]
    res1 = [(r.advanced, r.stalled, r.waiting) for r in g.results]
    adv = sum(b[0] - a[0] for a, b in zip(res0, res1))
    stalled = sum(b[1] - a[1] for a, b in zip(res0, res1))
    waiting = sum(b[2] - a[2] for a, b in zip(res0, res1))
    ticks = adv + stalled + waiting
    depth_sum = depth_n = depth_max = 0
    for a, b in zip(before, after):
        for k, v in b["rollback_depth_histogram"].items():
            n = v - a["rollback_depth_histogram"].get(k, 0)
            if n > 0:
                depth_sum += int(k) * n
                depth_n += n
                depth_max = max(depth_max, int(k))
    per_peer = len(after)
    engine = (g.engine_s - eng0) - (env_time[0] - env0) - (send_time[0] - send0)
    us = engine / max(adv, 1) * 1e6
    return {
        "rb_s": depth_n / per_peer / seconds,
        "depth_mean": depth_sum / depth_n if depth_n else 0.0,
        "depth_max": depth_max,
        "stall": 100 * stalled / max(ticks, 1),
        "wait": 100 * waiting / max(ticks, 1),
        "bps": sum(b["bytes_sent"] - a["bytes_sent"] for a, b in zip(before, after)) / per_peer / seconds,
        "us": us,
        "budget": 100 * us / (1000 / fps) / 1000,
    }


def gem_rush_cost(frames: int = 2000) -> float:
    from interactive_gym_p2p.examples import gem_rush
    from interactive_gym_p2p.peer.env import InteractiveGymEnvAdapter

    env = InteractiveGymEnvAdapter.from_code(gem_rush.environment_initialization_code(), 2)
    env.reset(1)
    t0 = time.perf_counter()
    for f in range(frames):
        env.step([f % 9, (f * 7) % 9])
        env.save()
        env.state_hash()
    env.close()
    return (time.perf_counter() - t0) / frames * 1e6


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    seconds = float(args[0]) if args else 20.0
    seed = int(args[1]) if len(args) > 1 else 1
    print(f"Python peer engine, 2 peers, trivial env, {seconds:g} s simulated per row, seed {seed}, "
          f"CPython {sys.version.split()[0]}")
    print(f"{'fps':>4} {'rtt':>4} {'loss%':>5} | {'rb/s':>6} {'depth':>9} {'stall%':>6} {'wait%':>5} "
          f"{'B/s':>7} {'us/frame':>8} {'budget%':>7}")
    all_us = []
    for fps in FPS:
        for rtt in RTTS:
            for loss in LOSSES:
                r = run_config(fps, rtt, loss, seconds, seed)
                all_us.append(r["us"])
                print(f"{fps:>4} {rtt:>4} {loss * 100:>5.0f} | {r['rb_s']:>6.2f} "
                      f"{r['depth_mean']:>5.2f}/{r['depth_max']:<3} {r['stall']:>6.2f} {r['wait']:>5.2f} "
                      f"{r['bps']:>7.0f} {r['us']:>8.1f} {r['budget']:>7.2f}")
    print(f"engine us/frame: median {statistics.median(all_us):.1f}, max {max(all_us):.1f}")
    print(f"gem_rush env (step + save + state_hash via peer/env.py): {gem_rush_cost():.1f} us/frame")


if __name__ == "__main__":
    main()
