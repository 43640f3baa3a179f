"""How many concurrent Python peer pairs one machine sustains at 30 fps with the demo game.

For each level (1, 2, 4, 8, ... pairs) it starts the real server (``python -m
interactive_gym_p2p.cli``, eventlet, embedded TURN server as its child process) with a
Start -> Gem Rush (one episode of ``--steps`` frames, relay-only) -> End experiment, runs
2 x pairs ``run_peer`` participants with random actions in ONE asyncio process (this one),
and reports per level:

- achieved fps: mean over peers of ticks / wall time of the tick loop (target 30);
- stalled %: ticks where the session could not advance (waiting for the other's inputs);
- late %: ticks that started more than one frame period after their deadline (the loop is
  CPU-starved when this grows);
- CPU per pair: this process's CPU time / game wall time / pairs (100 % = one core);
- server CPU and TURN CPU: the signaling server's and the embedded TURN server's CPU over
  the same span (the TURN server relays every DataChannel packet, since play is relay-only);
- agree: games whose comparison report is ``agree`` and complete / games.

    python benchmarks/peer_pairs.py                      # 1 2 4 8
    python benchmarks/peer_pairs.py --levels 1 2 4 8 16 --steps 600

The machine is shared (2 cores here): treat the numbers as an order of magnitude.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from interactive_gym_p2p.peer.actions import RandomActions  # noqa: E402
from interactive_gym_p2p.peer.runner import quiet_lost_link_errors, run_peer  # noqa: E402
from _cli_server import free_port, start_cli_server, stop_server  # noqa: E402  (benchmarks/ is sys.path[0] when run as a script)

EXPERIMENT = '''
from interactive_gym.scenes.stager import Stager
from interactive_gym.scenes.static_scene import EndScene, StartScene
from interactive_gym_p2p import P2PGymScene
from interactive_gym_p2p.examples import gem_rush

STEPS = {steps}
game = (P2PGymScene().scene(scene_id="gems")
        .pyodide(environment_initialization_code=gem_rush.environment_initialization_code(STEPS))
        .gameplay(default_action=0, action_mapping=gem_rush.ACTION_MAPPING, num_episodes=1, max_steps=STEPS)
        .p2p(players=2, fps=30, ice_transport_policy="relay", wait_timeout_s=600))
stager = Stager(scenes=[StartScene().scene(scene_id="start"), game, EndScene().scene(scene_id="end")])
'''


@dataclass
class Level:
    pairs: int
    completed: int
    fps: float
    stalled_pct: float
    late_pct: float
    cpu_per_pair_pct: float
    server_cpu_pct: float
    turn_cpu_pct: float
    agree: int
    wall_s: float


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process from /proc (clock ticks -> s)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def start_server(workdir: Path, port: int, turn_port: int) -> subprocess.Popen:
    return start_cli_server(workdir, port, secrets.token_hex(32), [
        "--data-dir", str(workdir / f"data-{port}"), "--turn", "embedded", "--turn-port", str(turn_port)])


async def run_level(url: str, pairs: int, timeout_s: float) -> tuple[list, float, float]:
    quiet_lost_link_errors(asyncio.get_running_loop())
    t_cpu, t_wall = time.process_time(), time.monotonic()
    results = await asyncio.gather(*(
        run_peer(url, subject_id=f"bench{i:04d}", actions=RandomActions(seed=i, n_actions=9, hold=5), timeout_s=timeout_s)
        for i in range(2 * pairs)), return_exceptions=True)
    return list(results), time.process_time() - t_cpu, time.monotonic() - t_wall


def measure(workdir: Path, pairs: int, timeout_s: float) -> Level:
    port, turn_port = free_port(), free_port()
    proc = start_server(workdir, port, turn_port)
    try:
        pids = [proc.pid, *children(proc.pid)]
        before = {p: cpu_seconds(p) for p in pids}
        results, cpu_s, wall_s = asyncio.run(run_level(f"http://127.0.0.1:{port}", pairs, timeout_s))
        after = {p: cpu_seconds(p) for p in pids}
    finally:
        stop_server(proc)
    server_cpu = after[proc.pid] - before[proc.pid]
    turn_cpu = sum(after[p] - before[p] for p in pids[1:])
    games = [g for r in results if not isinstance(r, BaseException) for g in r.games]
    done = [g for g in games if g.error is None and g.game_over_reason == "completed"]
    ticks = [g.ticks for g in done if g.ticks.ticks]
    span = max((t.ended - t.started for t in ticks), default=wall_s) or wall_s
    agree = 0
    data = workdir / f"data-{port}" / "exports" / "games"
    for folder in data.glob("*"):
        report = folder / "comparison.json"
        if report.exists():
            doc = json.loads(report.read_text())
            agree += bool(doc.get("agree") and doc.get("complete"))
    outcomes: dict[str, int] = {}
    for r in results:
        key = f"exception: {r}" if isinstance(r, BaseException) else "; ".join(
            (g.error or str(g.game_over_reason)) for g in r.games) or "no game"
        outcomes[key[:200]] = outcomes.get(key[:200], 0) + 1
    print(f"    {pairs} pair(s) outcomes: {outcomes}", file=sys.stderr)
    return Level(
        pairs=pairs,
        completed=len(done) // 2,
        fps=sum(t.fps for t in ticks) / len(ticks) if ticks else 0.0,
        stalled_pct=100 * sum(t.stalled_ticks for t in ticks) / max(1, sum(t.ticks for t in ticks)),
        late_pct=100 * sum(t.late_ticks for t in ticks) / max(1, sum(t.ticks for t in ticks)),
        cpu_per_pair_pct=100 * cpu_s / wall_s / pairs,
        server_cpu_pct=100 * server_cpu / span,
        turn_cpu_pct=100 * turn_cpu / span,
        agree=agree,
        wall_s=wall_s,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--steps", type=int, default=300, help="frames of the one episode (300 = 10 s at 30 fps)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per peer run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    levels: list[Level] = []
    with tempfile.TemporaryDirectory(prefix="p2p-peer-pairs-") as tmp:
        workdir = Path(tmp)
        (workdir / "experiment.py").write_text(EXPERIMENT.format(steps=args.steps))
        for pairs in args.levels:
            levels.append(measure(workdir, pairs, args.timeout))
            print(f"  {pairs} pair(s): done", file=sys.stderr, flush=True)
    print(f"\nPython peer pairs, Gem Rush at 30 fps, {args.steps} frames, relay-only via the embedded TURN server; "
          f"{os.cpu_count()} CPUs shared by peers, server and TURN")
    header = (f"{'pairs':>5} {'completed':>9} {'fps':>6} {'stalled %':>9} {'late %':>7} {'CPU/pair %':>10} "
              f"{'server CPU %':>12} {'TURN CPU %':>10} {'agree':>5} {'wall s':>7}")
    print(header)
    print("-" * len(header))
    for lv in levels:
        print(f"{lv.pairs:>5} {lv.completed:>9} {lv.fps:>6.1f} {lv.stalled_pct:>9.1f} {lv.late_pct:>7.1f} "
              f"{lv.cpu_per_pair_pct:>10.1f} {lv.server_cpu_pct:>12.1f} {lv.turn_cpu_pct:>10.1f} {lv.agree:>5} {lv.wall_s:>7.1f}")
    if args.json:
        print(json.dumps([lv.__dict__ for lv in levels]))
    return 0 if all(lv.completed == lv.pairs for lv in levels) else 1


if __name__ == "__main__":
    sys.exit(main())
