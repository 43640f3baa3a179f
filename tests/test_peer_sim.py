"""The Python session in the deterministic network simulator (interactive_gym_p2p/peer/sim.py):
2, 3 and 4 peers over seeded impaired links on a virtual clock (no sleeps). Mirrors the JS
simulations (tests/js/session_{network,desync,episodes,disconnect,timesync}.test.mjs)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from interactive_gym_p2p.hashing import state_hash
from interactive_gym_p2p.peer.prng import Prng
from interactive_gym_p2p.peer.session import episode_seed
from interactive_gym_p2p.peer.sim import EPOCH_MS, Game, confirmed_rows
from interactive_gym_p2p.peer.sim_envs import CounterEnv
from interactive_gym_p2p.protocol import Input, decode

from peer_checks import assert_agreement


def random_links(seed: int, n: int) -> tuple[int, Any]:
    """Same draws as randomLinks in tests/js/session_network.test.mjs."""
    p = Prng(seed)
    rtt = p.int(301)
    table: dict[tuple[int, int], dict[str, float]] = {}
    for a in range(n):
        for b in range(a + 1, n):
            share = 0.25 + 0.5 * p.float()
            common = {"jitter_ms": p.int(51), "loss": 0.3 * p.float(), "duplicate": 0.1 * p.float(),
                      "reorder": 0.1 * p.float()}
            table[(a, b)] = {**common, "delay_ms": rtt * share}
            table[(b, a)] = {**common, "delay_ms": rtt * (1 - share)}
    return rtt, lambda a, b: table[(a, b)]


@pytest.mark.parametrize("n,seed,fps", [(2, 101, 30), (2, 102, 60), (3, 201, 30), (3, 202, 60), (4, 301, 30)])
def test_n_players_over_impaired_links_confirm_identical_frames_and_hashes(n, seed, fps):
    rtt, link = random_links(seed, n)
    g = Game(num_players=n, seed=seed, make_env=lambda p: CounterEnv(n, 150, 400),
             settings={"fps": fps, "max_episodes": 5}, link=link)
    g.run_to_end(30 * 60 * 1000)
    label = f"[seed {seed}, rtt {rtt}]"
    assert [s.state for s in g.sessions] == ["closed"] * n, label
    records = assert_agreement(g, label=label)
    assert sum(len(e["frames"]) for e in records[0]["episodes"]) >= 750
    assert len(records[0]["episodes"]) == 5


def test_the_same_seed_replays_the_same_game_exactly():
    def run() -> list[Any]:
        _, link = random_links(7, 3)
        g = Game(num_players=3, seed=7, make_env=lambda p: CounterEnv(3), settings={"max_episodes": 3}, link=link)
        g.run_to_end(600000)
        return [(s.record()["episodes"], s.record()["stats"]) for s in g.sessions]

    assert run() == run()


def test_real_mispredictions_roll_back_within_the_window_and_still_agree():
    def inp(p, tick, prng, last, s):
        if prng.float() < 0.4:
            last[p] = prng.int(7) - 3
        return last.get(p, 0)

    g = Game(num_players=2, seed=55, make_env=lambda p: CounterEnv(2),
             settings={"fps": 60, "max_episodes": 6, "max_prediction_window": 6, "input_delay": 2},
             link={"delay_ms": 150, "jitter_ms": 30, "loss": 0.1}, input=inp)
    g.run_to_end(600000)
    for r in assert_agreement(g, window=6):
        st = r["stats"]
        assert st["rollbacks"] > 50 and st["max_rollback_depth"] == 6
        assert st["stalled_frames"] > 0 and st["mispredicted_frames"] > 0
        assert sum(st["rollback_depth_histogram"].values()) == st["rollbacks"]


NOISE_AT = 137


@pytest.mark.parametrize("n,link", [
    (2, {"delay_ms": 60, "jitter_ms": 20, "loss": 0.1, "duplicate": 0.05, "reorder": 0.05}),
    (3, {"delay_ms": 120, "jitter_ms": 40, "loss": 0.2, "duplicate": 0.05, "reorder": 0.1}),
    (4, {"delay_ms": 80, "jitter_ms": 30, "loss": 0.1, "duplicate": 0.05, "reorder": 0.05}),
])
def test_an_injected_desync_is_reported_by_every_peer_at_exactly_its_frame(n, link):
    g = Game(num_players=n, seed=40 + n, settings={"max_episodes": 2}, link=link,
             make_env=lambda p: CounterEnv(n, 300, 400, noise_at=NOISE_AT, noise_salt=p + 1))
    events: list[list[dict]] = [[] for _ in range(n)]
    for i, s in enumerate(g.sessions):
        s.on("desync", events[i].append)
    g.run_to_end(600000)
    records = [s.record() for s in g.sessions]
    for i, r in enumerate(records):
        assert r["game_over_reason"] == "completed", "the game goes on to the end"
        first = r["desyncs"][0]
        assert min(d["frame"] for d in r["desyncs"]) == NOISE_AT == first["frame"]
        assert first["episode"] == 0
        at_first = sorted(d["peer_index"] for d in r["desyncs"] if d["frame"] == NOISE_AT)
        assert at_first == [p for p in range(n) if p != i]
        for d in r["desyncs"]:
            if d["frame"] != NOISE_AT:
                continue
            assert d["local_hash"] != d["peer_hash"]
            assert records[d["peer_index"]]["episodes"][0]["frames"][NOISE_AT][2] == d["peer_hash"]
            assert r["episodes"][0]["frames"][NOISE_AT][2] == d["local_hash"]
            assert d["time"].startswith("2025-01-01T")
        assert first["state"]["t"] == NOISE_AT + 1 and first["state"]["noise"] != 0
        assert state_hash(first["state"]) == first["local_hash"]
        assert r["stats"]["hash_mismatches"] > 100
        assert r["verified_frame"] == NOISE_AT - 1
        assert min(d["frame"] for d in events[i]) == NOISE_AT, "the desync event fired"
        for f in range(NOISE_AT):
            assert r["episodes"][0]["frames"][f][2] == records[0]["episodes"][0]["frames"][f][2]


def test_a_desync_on_one_peer_only_the_others_agree_and_blame_only_that_peer():
    g = Game(num_players=3, seed=9, settings={"max_episodes": 1}, link={"delay_ms": 40, "loss": 0.05},
             make_env=lambda p: CounterEnv(3, 200, 250, noise_at=50 if p == 2 else None, noise_salt=7))
    g.run_to_end(600000)
    r0, r1, r2 = (s.record() for s in g.sessions)
    assert {d["peer_index"] for d in r0["desyncs"]} == {2} and {d["peer_index"] for d in r1["desyncs"]} == {2}
    assert r0["desyncs"][0]["frame"] == 50 and r2["desyncs"][0]["frame"] == 50
    assert confirmed_rows(r0) == confirmed_rows(r1)


class GuardTerminal:
    """Stepping again after a done step without a load/reset in between is an engine bug."""

    def __init__(self, env: Any, log: dict) -> None:
        self.env, self.log, self.num_players, self.at_terminal = env, log, env.num_players, False

    def reset(self, seed: int) -> None:
        self.log["resets"].append(seed)
        self.at_terminal = False
        self.env.reset(seed)

    def step(self, a: list[int]) -> bool:
        assert not self.at_terminal, "stepped past a terminal frame"
        done = self.env.step(a)
        self.at_terminal = done
        self.log["terminals"] += done
        return done

    def save(self) -> Any:
        return self.env.save()

    def load(self, s: Any) -> None:
        self.at_terminal = False
        self.env.load(s)

    def state_hash(self) -> str:
        return self.env.state_hash()

    def canonical_state(self) -> Any:
        return self.env.canonical_state()


def test_episodes_across_boundaries_same_end_frames_episode_seeds_game_global_frames():
    logs = [{"resets": [], "terminals": 0} for _ in range(3)]

    def inp(p, tick, prng, last, s):
        if prng.float() < 0.35:
            last[p] = prng.int(6)
        return last.get(p, 0)

    g = Game(num_players=3, seed=77, make_env=lambda p: GuardTerminal(CounterEnv(3, 30, 90), logs[p]),
             settings={"max_episodes": 8, "fps": 60}, input=inp,
             link={"delay_ms": 90, "jitter_ms": 30, "loss": 0.15, "duplicate": 0.05, "reorder": 0.05})
    starts: list[list] = [[] for _ in range(3)]
    for i, s in enumerate(g.sessions):
        s.on("episode_start", lambda e, i=i: starts[i].append((e["episode"], e["frame"])))
    g.run_to_end(600000)
    records = assert_agreement(g)
    eps = records[0]["episodes"]
    assert len(eps) == 8
    for e, ep in enumerate(eps):
        assert ep["episode"] == e and ep["seed"] == episode_seed(g.shared_seed, e)
        assert ep["last_confirmed_frame"] == ep["end_frame"] == ep["verified_frame"]
    for p in range(3):
        assert logs[p]["resets"] == [ep["seed"] for ep in eps]
        assert starts[p] == [(ep["episode"], ep["start_frame"]) for ep in eps]
    assert any(r["stats"]["stalled_at_terminal"] > 0 for r in records), "predicted terminals exercised"


class TerminalIfNine:
    """Done at step 20 iff player 1's action there is 9, else at step 60."""

    num_players = 2

    def reset(self, seed: int) -> None:
        self.s = {"t": 0, "seed": seed, "sum": 0}

    def step(self, a: list[int]) -> bool:
        s = self.s
        end = (s["t"] == 20 and a[1] == 9) or s["t"] >= 60
        s["sum"] += a[0] + 2 * a[1]
        s["t"] += 1
        return end

    def save(self) -> Any:
        return dict(self.s)

    def load(self, x: Any) -> None:
        self.s = dict(x)

    def state_hash(self) -> str:
        return state_hash(self.s)

    def canonical_state(self) -> Any:
        return dict(self.s)


def test_a_predicted_terminal_that_turns_out_wrong_is_not_an_episode_end():
    logs = [{"resets": [], "terminals": 0} for _ in range(2)]
    g = Game(num_players=2, seed=3, make_env=lambda p: GuardTerminal(TerminalIfNine(), logs[p]),
             settings={"max_episodes": 1, "fps": 60}, link={"delay_ms": 150},
             input=lambda p, tick, prng, last, s: 9 if p == 1 and s.current_frame < 13 else 0)
    g.run_to_end(600000)
    records = assert_agreement(g)
    assert records[0]["episodes"][0]["end_frame"] == 60, "the real terminal, not the predicted one"
    assert records[0]["stats"]["stalled_at_terminal"] > 0
    assert logs[0]["terminals"] >= 2


def test_max_steps_per_episode_ends_episodes_and_max_episodes_ends_the_game():
    g = Game(num_players=2, seed=8, make_env=lambda p: CounterEnv(2, 10**9, 10**9),
             settings={"max_episodes": 4, "max_steps_per_episode": 50}, link={"delay_ms": 20, "loss": 0.05})
    over: list[str] = []
    for s in g.sessions:
        s.on("game_over", lambda e: over.append(e["reason"]))
    g.run_to_end(600000)
    records = assert_agreement(g)
    assert [(e["start_frame"], e["end_frame"]) for e in records[0]["episodes"]] == [(0, 49), (50, 99), (100, 149), (150, 199)]
    assert over == ["completed", "completed"]


def test_peers_that_disagree_on_the_terminal_frame_record_it_and_do_not_wait_forever():
    g = Game(num_players=2, seed=12, make_env=lambda p: CounterEnv(2, 10**9, 100 if p == 0 else 110),
             settings={"max_episodes": 3}, link={"delay_ms": 40, "jitter_ms": 10, "loss": 0.05})
    mismatches: list[dict] = []
    for s in g.sessions:
        s.on("episode_mismatch", mismatches.append)
    g.run_to_end(600000)
    records = [s.record() for s in g.sessions]
    assert all(r["game_over_reason"] == "completed" for r in records)
    assert mismatches
    assert any(m["episode"] == 0 and m["peer_frame"] == 99 for m in records[1]["episode_end_mismatches"])


def _ms(iso: str) -> float:
    dt = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return round(dt.timestamp() * 1000) - EPOCH_MS


def env3(n: int = 3):
    return lambda p: CounterEnv(n, 200, 300)


def test_interrupted_after_notify_disconnected_after_timeout_policy_end_stops_the_game():
    g = Game(num_players=2, seed=1, make_env=env3(2), settings={"max_episodes": 50}, link={"delay_ms": 30})
    g.run(4000)
    killed_at = g.clock.now()
    frame_at_kill = g.sessions[0].current_frame
    g.kill(1)
    g.run_to_end(60000)
    r = g.sessions[0].record()
    ev = r["connection_events"]
    assert [(e["peer_index"], e["event"]) for e in ev] == [(1, "interrupted"), (1, "disconnected")]
    t_int, t_dis = _ms(ev[0]["time"]), _ms(ev[1]["time"])
    assert killed_at + 750 - 200 <= t_int <= killed_at + 750 + 100
    assert 5000 - 750 - 40 <= t_dis - t_int <= 5000 - 750 + 40
    assert frame_at_kill <= ev[0]["frame"] <= frame_at_kill + 10
    assert r["game_over_reason"] == "disconnected" and r["partial"] is False
    assert g.sessions[0].state == "closed"


def test_policy_end_with_3_players_the_remaining_peers_end_the_game_too():
    g = Game(num_players=3, seed=2, make_env=env3(), settings={"max_episodes": 50}, link={"delay_ms": 40, "loss": 0.1})
    g.run(3000)
    g.kill(2)
    g.run_to_end(60000)
    r0, r1 = g.sessions[0].record(), g.sessions[1].record()
    for r in (r0, r1):
        assert r["game_over_reason"] in ("disconnected", "peer_ended")
        assert any(e["peer_index"] == 2 for e in r["connection_events"])
    a, b = confirmed_rows(r0), confirmed_rows(r1)
    n = min(len(a), len(b))
    assert n > 50 and a[:n] == b[:n]


def _default_action_game(seed: int, link: dict, before,
                         settings: dict | None = None) -> tuple[Game, list[list[dict]], list[list[dict]]]:
    def inp(p, tick, prng, last, s):
        if prng.float() < 0.2:
            last[p] = 1 + prng.int(4)
        return last.get(p, 1)

    g = Game(num_players=3, seed=seed, make_env=env3(), link=link, input=inp,
             settings={"max_episodes": 4, "disconnect_policy": "default_action", "default_action": 0, **(settings or {})})
    decided: list[list[dict]] = [[], [], []]
    declared: list[list[dict]] = [[], [], []]
    for i, s in enumerate(g.sessions):
        s.on("default_action", decided[i].append)
        s.on("disconnect_agreement", declared[i].append)
    before(g)
    g.run_to_end(600000)
    return g, decided, declared


def _assert_default_agreement(g: Game, decided: list[list[dict]], min_rows2: int | None = 50) -> int:
    r0, r1, r2 = (s.record() for s in g.sessions)
    for r in (r0, r1):
        assert r["game_over_reason"] == "completed" and r["desyncs"] == [] and len(r["episodes"]) == 4
    assert len(decided[0]) == 1 and decided[0] == decided[1], "both remaining peers agreed"
    d = decided[0][0]["frame"]
    assert r0["default_action_from"] == {"2": d}
    rows0 = confirmed_rows(r0)
    assert rows0 == confirmed_rows(r1)
    frames = [row for e in r0["episodes"] for row in e["frames"]]
    for f, actions, _ in frames:
        if f >= 2:
            assert (actions[2] != 0) if f < d else (actions[2] == 0), f"frame {f}, D={d}"
    if min_rows2 is not None:
        rows2 = confirmed_rows(r2)
        assert len(rows2) > min_rows2 and rows2 == rows0[:len(rows2)]
    assert r0["verified_frame"] == frames[-1][0]
    return d


def test_policy_default_action_the_remaining_peers_agree_on_the_frame_and_play_on():
    def before(g: Game) -> None:
        g.run(5000)
        g.kill(2)

    g, decided, _ = _default_action_game(3, {"delay_ms": 50, "jitter_ms": 20, "loss": 0.1, "duplicate": 0.02,
                                              "reorder": 0.05}, before)
    _assert_default_agreement(g, decided)


def test_policy_default_action_peers_that_heard_different_amounts_still_agree():
    def before(g: Game) -> None:
        g.run(4000)
        g.block(2, 0, both=True)
        g.run(4400)
        g.kill(2)

    g, decided, declared = _default_action_game(4, {"delay_ms": 30, "jitter_ms": 10, "loss": 0.05}, before)
    d = _assert_default_agreement(g, decided)
    assert declared[0][0]["known_frame"] < declared[1][0]["known_frame"], "player 1 knew more"
    assert d == declared[1][0]["known_frame"] + 1


def test_policy_default_action_with_input_delay_0_a_player_lost_before_any_input_arrived_is_agreed_from_frame_1():
    # Once this needed input_delay >= 1: nobody holds a sampled input of player 2, but frame 0
    # of every player is the default action, so every peer announces K = 0 and D = 1.
    def before(g: Game) -> None:
        inner = g.sessions[2].transport

        class NoInputs:
            def send(self, to: int, data: bytes) -> None:
                if not isinstance(decode(data), Input):
                    inner.send(to, data)

        g.sessions[2].transport = NoInputs()
        g.run(1500)
        g.kill(2)

    g, decided, _ = _default_action_game(9, {"delay_ms": 10, "loss": 0.05}, before, {"input_delay": 0})
    # Player 2's own confirmed frames used its inputs, which nobody got: it played alone.
    assert _assert_default_agreement(g, decided, None) == 1
    for s in g.sessions[:2]:
        assert s.record()["episodes"][0]["input_delays"] == [0, 0, 0]


def test_policy_default_action_with_2_players_the_survivor_plays_on_alone():
    g = Game(num_players=2, seed=6, make_env=env3(2), settings={"max_episodes": 3, "disconnect_policy": "default_action"},
             link={"delay_ms": 20})
    g.run(3000)
    g.kill(1)
    g.run_to_end(600000)
    r = g.sessions[0].record()
    assert r["game_over_reason"] == "completed" and len(r["episodes"]) == 3
    assert r["default_action_from"]["1"] > 0


def test_bye_left_is_reported_at_once():
    g = Game(num_players=2, seed=7, make_env=env3(2), settings={"max_episodes": 50}, link={"delay_ms": 25})
    g.run(2000)
    g.sessions[1].close()
    t = g.clock.now()
    g.run_to_end(60000)
    r = g.sessions[0].record()
    assert [e["event"] for e in r["connection_events"]] == ["left"]
    assert _ms(r["connection_events"][0]["time"]) - t < 100
    assert r["game_over_reason"] == "disconnected"
    assert g.sessions[1].record()["game_over_reason"] == "closed"


def test_a_short_outage_interrupted_then_resumed_and_the_game_completes_in_agreement():
    g = Game(num_players=2, seed=8, make_env=env3(2), settings={"max_episodes": 3}, link={"delay_ms": 25})
    g.run(3000)
    g.block(0, 1, both=True)
    g.run(4500)
    g.unblock(0, 1, both=True)
    g.run_to_end(600000)
    for s in g.sessions:
        r = s.record()
        assert [e["event"] for e in r["connection_events"]] == ["interrupted", "resumed"]
        assert r["game_over_reason"] == "completed" and r["stats"]["stalled_frames"] > 20
    assert confirmed_rows(g.sessions[0].record()) == confirmed_rows(g.sessions[1].record())


def _long_env(p: int) -> CounterEnv:
    return CounterEnv(2, 10**9, 10**9)


def test_a_late_joiner_converges_without_long_stalls():
    g = Game(num_players=2, seed=21, make_env=_long_env, settings={"fps": 30, "max_steps_per_episode": 900, "max_episodes": 1},
             start_at=[0, 500], link={"delay_ms": 40, "jitter_ms": 10})
    g.run(15000)
    for s in g.sessions:
        adv = s.peer_info()[0]["frame_advantage"]
        assert adv is not None and abs(adv) <= 1, f"advantage {adv}"
    assert abs(g.sessions[0].current_frame - g.sessions[1].current_frame) <= 2
    g.run_to_end(600000)
    assert_agreement(g)
    assert all(r.max_stall_run <= 3 for r in g.results)


def test_a_peer_whose_clock_runs_slow_the_faster_one_waits_instead_of_running_away():
    g = Game(num_players=2, seed=23, make_env=_long_env,
             settings={"fps": 30, "max_steps_per_episode": 1200, "max_episodes": 1, "input_delay": 2},
             tick_period_ms=[1000 / 30, 1000 / 28.5], link={"delay_ms": 60, "jitter_ms": 10})
    g.run_to_end(600000)
    assert_agreement(g)
    r0, r1 = (s.record()["stats"] for s in g.sessions)
    assert r0["timesync_wait_frames"] > 30, "the fast peer waited"
    assert r1["timesync_wait_frames"] == 0, "the slow peer never waits"
    assert all(r.max_stall_run <= 3 for r in g.results)
    assert r0["stalled_frames"] + r1["stalled_frames"] < 20


@pytest.mark.parametrize("freeze", [0, 45])
def test_reset_freeze_frames_same_pause_and_start_frame_on_every_peer(freeze):
    """As session_episodes.test.mjs: the transition holds exactly reset_freeze_frames ticks (on
    the peer whose READY came last), every peer starts the next episode at end + 1, and the env
    shows the confirmed end frame meanwhile."""
    g = Game(num_players=2, seed=19, make_env=lambda p: CounterEnv(2, 60, 120),
             settings={"max_episodes": 4, "fps": 30, "reset_freeze_frames": freeze},
             link={"delay_ms": 45, "jitter_ms": 15, "loss": 0.08, "duplicate": 0.02, "reorder": 0.03})
    marks: list[dict[str, list[Any]]] = [{"ends": [], "starts": []} for _ in range(2)]
    for i, s in enumerate(g.sessions):
        s.on("episode_end", lambda e, s=s, m=marks[i]: m["ends"].append((s.tick_count, e["frame"], s.env.state_hash())))
        s.on("episode_start", lambda e, s=s, m=marks[i]: m["starts"].append((s.tick_count, e["frame"])))
    g.run_to_end(600000)
    records = assert_agreement(g)
    eps = records[0]["episodes"]
    for e in range(3):
        pauses = []
        for m in marks:
            end_tick, end_frame, end_hash = m["ends"][e]
            start_tick, start_frame = m["starts"][e + 1]
            assert start_frame == end_frame + 1 == eps[e + 1]["start_frame"]
            assert end_hash == eps[e]["frames"][-1][2]
            pauses.append(start_tick - end_tick - 1)
        if freeze:
            assert min(pauses) == freeze, pauses
        else:
            assert min(pauses) <= 3, pauses
