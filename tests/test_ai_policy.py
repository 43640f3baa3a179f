"""AI seats in CPython: ai_policy.py (the decision inside the simulated step, seeded, kept in
the snapshot) driven by the Python peer's environment adapter and session, 2 humans + 1 AI
over impaired links, and a game with one human and no peer at all."""

from __future__ import annotations

from typing import Any

import pytest

from interactive_gym_p2p.ai_policy import AIPolicyError, AISeats, load_policy_module, seat_rng
from interactive_gym_p2p.examples import tug
from interactive_gym_p2p.peer.env import InteractiveGymEnvAdapter
from interactive_gym_p2p.peer.prng import Prng
from interactive_gym_p2p.peer.session import P2PSession, episode_seed
from interactive_gym_p2p.peer.sim import Game
from interactive_gym_p2p.validation.replay import replay_export

from peer_checks import assert_agreement

# Pushes toward the middle of the field, with a seeded random pause now and then; reads its
# observation ([x, t]) and keeps a counter of its own (get_state/set_state) to prove a policy's
# memory is rolled back too.
POLICY = """
calls = 0

def reset(context):
    global calls
    calls = 0

def act(observation, context):
    global calls
    calls += 1
    x, t = observation
    if context.rng.random() < 0.2:
        return 0
    return 2 if x < 240 else 1

def get_state():
    return calls

def set_state(state):
    global calls
    calls = state
"""


def make_adapter(max_steps: int, seats: list[list[Any]]) -> InteractiveGymEnvAdapter:
    return InteractiveGymEnvAdapter.from_code(
        tug.environment_initialization_code(num_players=3, max_steps=max_steps), num_players=3,
        ai={"seats": seats, "policies": {"middle": POLICY}})


def test_policy_seeds_and_actions_are_checked() -> None:
    assert seat_rng(7, 3, 1).random() == seat_rng(7, 3, 1).random()
    assert seat_rng(7, 3, 1).random() != seat_rng(7, 4, 1).random() != seat_rng(8, 3, 1).random()
    with pytest.raises(AIPolicyError, match="must define act"):
        load_policy_module("nothing", "x = 1\n")
    env = make_adapter(20, [[1, 1, "middle"]]).env
    bad = AISeats(env, [[1, 1, "bad"]], {"bad": "def act(o, c):\n    return 1.5\n"})
    with pytest.raises(AIPolicyError, match=r"AI policy 'bad' \(seat 1\) returned 1.5"):
        bad.reset(3, env.reset(seed=3))
    with pytest.raises(AIPolicyError, match="'ghost' has no code"):
        AISeats(env, [[1, 1, "ghost"]], {})


def test_adapter_applies_the_ai_action_and_rolls_its_choice_back() -> None:
    a = make_adapter(50, [[1, 1, "middle"]])
    a.reset(99)
    base = a.save()
    first = [a.step([2, 0, 0]).ai_actions for _ in range(10)]
    assert all(len(r) == 1 and r[0][0] == 1 for r in first)
    a.load(base)
    again = [a.step([2, 0, 0]).ai_actions for _ in range(10)]
    assert again == first, "the same state and inputs give the same AI actions after a rollback"
    assert a.ai is not None and a.ai.step == 10 and a.ai.modules["middle"].calls == 11
    a.load(base)
    other = [a.step([1, 0, 1]).ai_actions for _ in range(10)]
    assert other != first, "the AI reacts to the state: other human inputs, other choices"


def _replay_ai(record: dict[str, Any], seats: list[list[Any]]) -> int:
    """Replay the confirmed rows; each AI action is the policy's choice from the replayed state."""
    a = make_adapter(10**6, seats)
    checked = 0
    for ep in record["episodes"]:
        a.reset(ep["seed"])
        for row in ep["frames"]:
            for i, (seat, _agent, _name) in enumerate(a.ai.seats):  # type: ignore[union-attr]
                assert row[1][seat] == a.ai.next[i], (row[0], seat)  # type: ignore[union-attr]
                checked += 1
            a.step(row[1])
            assert a.state_hash() == row[2], row[0]
    return checked


def _rows(record: dict) -> list[tuple]:
    return [(r[0], tuple(r[1]), r[2]) for e in record["episodes"] for r in e["frames"]]


def _ai_seat_game(seats: list, link: dict) -> Game:
    """Two humans (players 0 and 2) and the AI seat 1 in a 3-episode Tug game of 90 steps each."""
    return Game(num_players=3, seed=5, ai_seats=(1,), make_env=lambda p: make_adapter(90, seats),
                settings={"fps": 30, "max_episodes": 3, "input_delay": 0}, link=link,
                input=lambda p, tick, prng, last, s: (tick // 9 + p) % 3)


def test_two_humans_and_an_ai_seat_over_impaired_links_agree() -> None:
    seats = [[1, 1, "middle"]]
    g = _ai_seat_game(seats, {"delay_ms": 75, "jitter_ms": 20, "loss": 0.05})
    g.run_to_end(600_000)
    humans = [s for s in g.sessions if s is not None]
    assert len(humans) == 2 and all(s.state == "closed" for s in humans)
    records = [s.record() for s in humans]
    assert_agreement_rows = [_rows(rec) for rec in records]
    assert assert_agreement_rows[0] == assert_agreement_rows[1]
    for rec in records:
        assert rec["game_over_reason"] == "completed" and rec["desyncs"] == []
        assert rec["stats"]["rollbacks"] > 10
        assert _replay_ai(rec, seats) == 270
        assert all(ep["input_delays"][1] == 0 for ep in rec["episodes"])
    assert {r[1][1] for r in assert_agreement_rows[0]} == {0, 1, 2}
    # The export replays in CPython without the policy: the AI's actions are in the rows.
    from interactive_gym_p2p.peer.export import build_export

    doc = build_export(records[0], {"game_id": "g1", "scene_id": "s1", "subject_id": "a", "player_index": 0,
                                    "peers": [{"player_index": 2, "subject_id": "b"}],
                                    "ai_seats": [{"player_index": 1, "agent_id": 1, "policy": "middle", "kind": "python"}]},
                       {"p2p": {}, "validation": {}})
    result = replay_export(doc, lambda: tug.TugEnv(num_players=3, max_steps=90), shared_seed=g.shared_seed)
    assert result.ok and result.hashes_checked == 270, (result.problems, result.mismatch)


def test_a_reload_in_a_game_with_an_ai_seat_rejoins_and_agrees() -> None:
    """Player 0's page reloads at about frame 120: the catch-up document holds no inputs for the
    AI seat; the rejoiner's environment makes its actions again, with the same rows and hashes."""
    seats = [[1, 1, "middle"]]
    g = _ai_seat_game(seats, {"delay_ms": 40, "jitter_ms": 10, "loss": 0.05})
    g.run(4000)
    g.reload(0, down_ms=1500)
    g.run_to_end(600_000)
    records = [g.sessions[0].record(), g.sessions[2].record()]
    rows = [_rows(rec) for rec in records]
    assert rows[0] == rows[1] and len(rows[0]) == 270
    for rec in records:
        assert rec["game_over_reason"] == "completed" and rec["desyncs"] == []
        assert _replay_ai(rec, seats) == 270
    assert len(records[0]["rejoins"]) == 1 and records[0]["rejoins"][0]["frames"] >= 100, records[0]["rejoins"]

def test_one_human_and_an_ai_seat_play_alone() -> None:
    sent: list[Any] = []

    class Transport:
        def send(self, peer: int, data: bytes) -> None:
            sent.append((peer, data))

    t = [0.0]
    env = InteractiveGymEnvAdapter.from_code(tug.environment_initialization_code(num_players=2, max_steps=40), 2,
                                             ai={"seats": [[0, 0, "middle"]], "policies": {"middle": POLICY}})
    s = P2PSession(env, Transport(), local_player=1, num_players=2, shared_seed=77, ai_seats=[0],
                   settings={"max_episodes": 2}, now=lambda: t[0], wall_clock=lambda: 1e12 + t[0])
    s.start()
    for i in range(1000):
        if s.state == "closed":
            break
        s.tick(1 if i % 4 else 0)
        t[0] += 1000 / 30
    assert s.state == "closed" and sent == []
    rec = s.record()
    assert rec["game_over_reason"] == "completed" and [len(e["frames"]) for e in rec["episodes"]] == [40, 40]
    assert rec["episodes"][1]["seed"] == episode_seed(77, 1)
    assert rec["verified_frame"] == 79
    assert {r[1][0] for e in rec["episodes"] for r in e["frames"]} <= {0, 1, 2}
