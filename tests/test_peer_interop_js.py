"""The Python session against the JS session (static/js/session.js), on the same virtual clock.

1. Twins: a whole game in the Python simulator gives records EQUAL (every row, hash, counter
   and time) to the same game in the JS simulator (tests/js/support/sim.mjs) for the same seed.
2. Mixed: one JS session (node, tests/js/support/py_bridge.mjs) plays against Python sessions
   over the simulated network, with seeded delay, jitter and loss: identical confirmed rows and
   hashes frame for frame, both records become exports (validation.js buildExport for the JS
   one, peer/export.py build_export for the Python one) that pass the export schema and that
   the server's comparison calls "agree". An injected desync on the JS side is reported by the
   Python peers at exactly its frame.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from interactive_gym_p2p.peer.export import build_export
from interactive_gym_p2p.peer.session import P2PSession
from interactive_gym_p2p.peer.settings import make_settings
from interactive_gym_p2p.peer.sim import EPOCH_MS, SIMULATED_PATH, Game, confirmed_rows
from interactive_gym_p2p.peer.sim_envs import CounterEnv
from interactive_gym_p2p.validation.compare import compare_exports
from interactive_gym_p2p.validation.schema import validate_export

from peer_checks import assert_agreement
from peer_js_bridge import ROOT, JsSession, node_path

IMPAIRED = {"delay_ms": 60, "jitter_ms": 20, "loss": 0.1, "duplicate": 0.05, "reorder": 0.05}


def camel_link(link: dict[str, Any]) -> dict[str, Any]:
    names = {"delay_ms": "delayMs", "jitter_ms": "jitterMs", "reorder_ms": "reorderMs"}
    return {names.get(k, k): v for k, v in link.items()}


def js_sim(n: int, seed: int, settings: dict[str, Any], link: dict[str, Any], env: dict[str, Any],
           noise_salt_by_player: list[int] | None = None, input: str = "default",
           script: list[list[Any]] | None = None,
           player_settings: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    per_player = None
    if player_settings:
        per_player = [{k: v for k, v in make_settings({**settings, **o}).to_camel().items()} for o in player_settings]
    cfg = {"numPlayers": n, "seed": seed, "settings": make_settings(settings).to_camel(), "link": camel_link(link),
           "playerSettings": per_player,
           "env": {"kind": "counter", **env}, "noiseSaltByPlayer": noise_salt_by_player, "input": input,
           "script": script or []}
    out = subprocess.run([node_path(), "tests/js/support/sim_records.mjs", json.dumps(cfg)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["records"]


def counter(n: int, env: dict[str, Any], salt: int = 0) -> CounterEnv:
    return CounterEnv(n, env.get("minSteps", 40), env.get("maxSteps", 120), env.get("noiseAt"), salt,
                      env.get("reportSteps", False))


@pytest.mark.parametrize("n,seed,link,env", [
    (2, 7, IMPAIRED, {"minSteps": 150, "maxSteps": 400, "reportSteps": True}),
    (3, 8, {"delay_ms": 100, "jitter_ms": 40, "loss": 0.2, "duplicate": 0.05, "reorder": 0.1}, {}),
    (2, 9, IMPAIRED, {"minSteps": 200, "maxSteps": 300, "noiseAt": 77}),
])
def test_a_python_game_equals_the_same_js_game_record_for_record(n, seed, link, env):
    settings = {"max_episodes": 3}
    g = Game(num_players=n, seed=seed, settings=settings, link=link,
             make_env=lambda p: counter(n, env, p + 1))
    g.run_to_end(600000)
    py = json.loads(json.dumps([s.record() for s in g.sessions]))
    js = js_sim(n, seed, settings, link, env, [p + 1 for p in range(n)])
    for p in range(n):
        assert confirmed_rows(py[p]) == confirmed_rows(js[p]), f"peer {p}: confirmed rows differ"
        assert py[p] == js[p], f"peer {p}: records differ"
    if "noiseAt" in env:
        assert py[0]["desyncs"][0]["frame"] == env["noiseAt"]


def nonzero_input(p: int, tick: int, prng: Any, last: dict[int, int], s: Any) -> int:
    """Actions 1..4, never the default action (sim_records.mjs 'nonzero')."""
    if prng.float() < 0.2:
        last[p] = 1 + prng.int(4)
    return last.get(p, 1)


def play_script(g: Game, script: list[list[Any]]) -> None:
    for t, op, a, b, both in script:
        g.run(t)
        if op == "kill":
            g.kill(a)
        elif op == "block":
            g.block(a, b, both)
        elif op == "unblock":
            g.unblock(a, b, both)
        elif op == "close":
            g.sessions[a].close()
        elif op == "hide":
            g.sessions[a].set_hidden(True)
        elif op == "show":
            g.sessions[a].set_hidden(False)
        elif op == "exclude":
            g.sessions[a].exclude("test", b)
        elif op == "reload":
            g.reload(a, b, both, nonce=1000 + a)
        elif op == "away":
            g.sessions[a].peer_away(b)


@pytest.mark.parametrize("policy,script", [
    ("default_action", [[4000, "block", 2, 0, True], [4400, "kill", 2, None, None]]),
    ("default_action", [[3000, "kill", 2, None, None]]),
    ("end", [[3000, "kill", 2, None, None]]),
    ("end", [[3000, "block", 0, 1, True], [4500, "unblock", 0, 1, True]]),
    ("end", [[2000, "close", 1, None, None]]),
], ids=["relay-different-knowledge", "relay", "end", "outage", "bye-left"])
def test_disconnects_give_equal_records_in_both_engines(policy, script):
    """Silence, BYE, relays and the default-action agreement: the same wire in both languages."""
    env = {"minSteps": 200, "maxSteps": 300, "reportSteps": True}
    link = {"delay_ms": 30, "jitter_ms": 10, "loss": 0.05}
    settings = {"max_episodes": 4, "disconnect_policy": policy}
    g = Game(num_players=3, seed=4, settings=settings, link=link, make_env=lambda p: counter(3, env),
             input=nonzero_input)
    play_script(g, script)
    g.run_to_end(600000)
    py = json.loads(json.dumps([s.record() for s in g.sessions]))
    js = js_sim(3, 4, settings, link, env, input="nonzero", script=script)
    for p in range(3):
        assert py[p] == js[p], f"peer {p}: records differ"
    if policy == "default_action" and script[-1][1] == "kill":
        assert py[0]["default_action_from"] == py[1]["default_action_from"] != {}


@pytest.mark.parametrize("settings,script", [
    ({"countdown_frames": 90, "hidden_action": 7}, [[1500, "block", 0, 1, False], [2700, "unblock", 0, 1, False],
                                                     [5000, "hide", 1, None, None], [9000, "show", 1, None, None]]),
    ({"countdown_frames": 60, "max_hidden_ms": 3000, "hidden_policy": "end", "disconnect_policy": "default_action"},
     [[4000, "hide", 2, None, None]]),
    ({"max_hidden_ms": 3000, "hidden_policy": "default_action"}, [[4000, "hide", 2, None, None]]),
    ({}, [[3000, "exclude", 1, "default_action", None]]),
], ids=["countdown-and-hidden", "hidden-too-long-end", "hidden-too-long-play-on", "excluded-play-on"])
def test_countdown_hidden_and_exclusion_give_equal_records_in_both_engines(settings, script):
    """The lined-up countdown, hidden intervals and both exclusion policies: the same wire and
    the same records in both languages."""
    env = {"minSteps": 200, "maxSteps": 300}
    link = {"delay_ms": 40, "jitter_ms": 10, "loss": 0.05}
    settings = {"max_episodes": 3, **settings}
    g = Game(num_players=3, seed=6, settings=settings, link=link, make_env=lambda p: counter(3, env),
             input=nonzero_input)
    play_script(g, script)
    g.run_to_end(600000)
    py = json.loads(json.dumps([s.record() for s in g.sessions]))
    js = js_sim(3, 6, settings, link, env, input="nonzero", script=script)
    for p in range(3):
        assert py[p] == js[p], f"peer {p}: records differ"
    hidden = {p for _, op, p, _, _ in script if op == "hide"}
    for p in hidden:
        assert py[p]["hidden_intervals"], f"peer {p}: no hidden interval"
    if settings.get("hidden_policy") == "default_action" or script[-1][1] == "exclude":
        gone = 2 if hidden else 1
        assert py[gone]["game_over_reason"] == "excluded"
        rest = [p for p in range(3) if p != gone]
        assert all(py[p]["game_over_reason"] == "completed" for p in rest)
        assert py[rest[0]]["default_action_from"] == py[rest[1]]["default_action_from"] != {}
    elif "max_hidden_ms" in settings:
        assert py[2]["game_over_reason"] == "excluded"
        assert {py[0]["game_over_reason"], py[1]["game_over_reason"]} == {"peer_excluded"}


@pytest.mark.parametrize("n,settings,script", [
    (2, {}, [[6000, "reload", 0, 2500, True]]),
    (2, {"reset_freeze_frames": 15}, [[14000, "reload", 1, 1800, False], [14300, "away", 0, 1, None]]),
    (3, {"countdown_frames": 60}, [[1200, "reload", 2, 900, True]]),
    (3, {}, [[5000, "reload", 1, 3000, True]]),
    (2, {"away_timeout_ms": 2000}, [[5000, "reload", 0, 8000, True]]),
], ids=["reload", "silent-reload-between-episodes", "reload-in-countdown", "three-players", "away-too-long"])
def test_rejoin_after_a_reload_gives_equal_records_in_both_engines(n, settings, script):
    """A page reload: BYE(away) or the server's word, the catch-up transfer over the lossy
    link, the re-simulation and the live game after it: the same wire and the same records."""
    env = {"minSteps": 150, "maxSteps": 240, "reportSteps": True}
    link = {"delay_ms": 40, "jitter_ms": 10, "loss": 0.05}
    settings = {"max_episodes": 3, "input_delay": 2, **settings}
    g = Game(num_players=n, seed=11, settings=settings, link=link, make_env=lambda p: counter(n, env),
             input=nonzero_input)
    play_script(g, script)
    g.run_to_end(600000)
    py = json.loads(json.dumps([s.record() for s in g.sessions]))
    js = js_sim(n, 11, settings, link, env, input="nonzero", script=script)
    for p in range(n):
        assert py[p] == js[p], f"peer {p}: records differ"
    reloaded = script[0][2]
    if "away_timeout_ms" in settings:
        assert py[1 - reloaded]["game_over_reason"] == "disconnected"
        return
    assert all(r["game_over_reason"] == "completed" for r in py), [r["game_over_reason"] for r in py]
    assert len(py[reloaded]["rejoins"]) == 1
    for p in range(1, n):
        assert confirmed_rows(py[p]) == confirmed_rows(py[0])



def test_a_rejoin_late_in_a_long_game_gives_equal_records_in_both_engines():
    """A reload past frame 4096 (the input queues' size): the rejoined session's queues start at
    the end of the game; it sends only the inputs it still holds and the game ends normally."""
    env = {"minSteps": 2200, "maxSteps": 2200}
    link = {"delay_ms": 30, "loss": 0.05}
    settings = {"max_episodes": 2, "input_delay": 2}
    script = [[141000, "reload", 0, 2000, True]]  # about frame 4230
    g = Game(num_players=2, seed=17, settings=settings, link=link, make_env=lambda p: counter(2, env))
    play_script(g, script)
    g.run_to_end(600000)
    py = json.loads(json.dumps([s.record() for s in g.sessions]))
    assert all(r["game_over_reason"] == "completed" for r in py), [r["game_over_reason"] for r in py]
    assert py[0]["rejoins"][0]["frames"] > 4096, py[0]["rejoins"]
    assert confirmed_rows(py[0]) == confirmed_rows(py[1])
    js = js_sim(2, 17, settings, link, env, script=script)
    for p in range(2):
        assert py[p] == js[p], f"peer {p}: records differ"

@pytest.mark.parametrize("delays", [[0, 0], [0, 3], [2, 1], ["auto", "auto"], ["auto", 3]],
                         ids=["0-0", "0-3", "2-1", "auto-auto", "auto-3"])
def test_per_player_input_delays_give_equal_records_in_both_engines(delays):
    """Each player's delay, the EPISODE_READY exchange and the 'auto' probe: the same wire."""
    env = {"minSteps": 150, "maxSteps": 300}
    link = {"delay_ms": 50, "loss": 0.05}
    settings = {"max_episodes": 3}
    per_player = [{"input_delay": d} for d in delays]
    g = Game(num_players=2, seed=13, settings=settings, link=link, make_env=lambda p: counter(2, env),
             player_settings=per_player)
    g.run_to_end(600000)
    records = assert_agreement(g)
    want = [0 if d == "auto" else d for d in delays]  # 'auto' at 100 ms RTT and 30 fps: 0
    assert all(e["input_delays"] == want for r in records for e in r["episodes"])
    py = json.loads(json.dumps(records))
    js = js_sim(2, 13, settings, link, env, player_settings=per_player)
    for p in range(2):
        assert py[p] == js[p], f"peer {p}: records differ"


class MixedGame:
    """A Game where the seats in ``js_seats`` are JS sessions run by node."""

    def __init__(self, n: int, js_seats: set[int], seed: int, link: dict[str, Any], settings: dict[str, Any],
                 env: dict[str, Any], noise_seat: int | None = None, input: Any = None,
                 player_settings: list[dict[str, Any]] | None = None) -> None:
        self.js: dict[int, JsSession] = {}

        def env_options(p: int) -> dict[str, Any]:
            o = {k: v for k, v in env.items() if k != "noiseAt"}
            if noise_seat == p:
                o.update(noiseAt=env["noiseAt"], noiseSalt=1)
            return o

        def make_session(**kw: Any) -> Any:
            p = kw["local_player"]
            if p in js_seats:
                s = JsSession(env_options={"kind": "counter", **env_options(p)}, epoch_ms=EPOCH_MS, **kw)
                self.js[p] = s
                return s
            return P2PSession(**kw)

        def make_env(p: int) -> CounterEnv:
            o = env_options(p)
            return CounterEnv(n, o.get("minSteps", 40), o.get("maxSteps", 120), o.get("noiseAt"), o.get("noiseSalt", 0))

        self.game = Game(num_players=n, seed=seed, settings=settings, link=link, make_env=make_env,
                         make_session=make_session, input=input, player_settings=player_settings)

    def close(self) -> None:
        for s in self.js.values():
            s.exit()


def export_of(game: MixedGame, p: int, record: dict[str, Any], builder: JsSession | None) -> dict[str, Any]:
    g = game.game
    ids = {"game_id": "interop-1", "scene_id": "sim", "subject_id": f"s{p}", "player_index": p,
           "peers": [{"player_index": q, "subject_id": f"s{q}"} for q in range(g.num_players) if q != p]}
    settings = {"p2p": dict(g.settings), "validation": {"hash_interval": 1}, "impairment": None}
    now_ms = EPOCH_MS + g.clock.now()
    if builder is not None:
        return builder.build_export(record, ids, settings, now_ms)
    return json.loads(json.dumps(build_export(record, ids, settings, None, now_ms)))


@pytest.mark.parametrize("link", [{}, IMPAIRED, {"delay_ms": 150, "jitter_ms": 30, "loss": 0.15}],
                         ids=["clean", "impaired", "lossy-150ms"])
def test_one_js_session_and_one_python_session_agree_frame_for_frame(link):
    env = {"minSteps": 150, "maxSteps": 400}
    settings = {"max_episodes": 4}
    mixed = MixedGame(2, {1}, 11, link, settings, env)
    try:
        g = mixed.game
        g.run_to_end(600000)
        assert [s.state for s in g.sessions] == ["closed", "closed"]
        records = assert_agreement(g)
        assert sum(len(e["frames"]) for e in records[0]["episodes"]) >= 600
        docs = {0: export_of(mixed, 0, records[0], None), 1: export_of(mixed, 1, records[1], mixed.js[1])}
        for doc in docs.values():
            validate_export(doc)
            validate_export(doc, reference=True)
            assert doc["stats"]["path"] == SIMULATED_PATH
        assert compare_exports(docs)["status"] == "agree"
        assert [r[:2] for e in docs[0]["episodes"] for r in e["frames"]] == \
            [r[:2] for e in docs[1]["episodes"] for r in e["frames"]]
        # The twins are exact: the mixed game is the very game the JS simulator plays alone.
        js = js_sim(2, 11, settings, link, env)
        assert json.loads(json.dumps(records)) == js
    finally:
        mixed.close()


def test_a_js_session_and_a_python_session_with_different_input_delays_agree():
    env = {"minSteps": 150, "maxSteps": 300}
    link = {"delay_ms": 50, "loss": 0.05}
    mixed = MixedGame(2, {1}, 14, link, {"max_episodes": 3}, env, player_settings=[{"input_delay": 0}, {"input_delay": 3}])
    try:
        g = mixed.game
        g.run_to_end(600000)
        records = assert_agreement(g)
        docs = {0: export_of(mixed, 0, records[0], None), 1: export_of(mixed, 1, records[1], mixed.js[1])}
        for doc in docs.values():
            validate_export(doc)
            assert [e["input_delays"] for e in doc["episodes"]] == [[0, 3]] * 3
        assert compare_exports(docs)["status"] == "agree"
    finally:
        mixed.close()


def test_a_desync_in_the_js_peer_is_reported_by_the_python_peers_at_exactly_its_frame():
    env = {"minSteps": 200, "maxSteps": 300, "noiseAt": 91}
    mixed = MixedGame(3, {2}, 12, IMPAIRED, {"max_episodes": 2}, env, noise_seat=2)
    try:
        g = mixed.game
        g.run_to_end(600000)
        records = [s.record() for s in g.sessions]
        for p in (0, 1):
            r = records[p]
            assert r["game_over_reason"] == "completed"
            assert r["desyncs"][0]["frame"] == 91 and r["desyncs"][0]["peer_index"] == 2
            assert {d["peer_index"] for d in r["desyncs"]} == {2}
            assert r["verified_frame"] == 90
        assert records[2]["desyncs"][0]["frame"] == 91
        assert confirmed_rows(records[0]) == confirmed_rows(records[1])
        docs = {p: export_of(mixed, p, records[p], mixed.js.get(p)) for p in range(3)}
        for doc in docs.values():
            validate_export(doc)
        report = compare_exports(docs)
        assert report["status"] == "diverged"
        assert report["first_divergent_frame"] == 91 and report["divergence"]["kind"] == "hash"
        # The JS and Python state dumps of that frame differ exactly in the injected field.
        assert report["divergence"]["state_diff"] is not None
    finally:
        mixed.close()


def test_a_js_peer_and_a_python_peer_agree_on_the_default_action_frame_of_a_lost_player():
    env = {"minSteps": 200, "maxSteps": 300}
    link = {"delay_ms": 30, "jitter_ms": 10, "loss": 0.05}
    settings = {"max_episodes": 4, "disconnect_policy": "default_action"}
    script = [[4000, "block", 2, 0, True], [4400, "kill", 2, None, None]]
    mixed = MixedGame(3, {1}, 4, link, settings, env, input=nonzero_input)
    try:
        g = mixed.game
        play_script(g, script)
        g.run_to_end(600000)
        records = json.loads(json.dumps([s.record() for s in g.sessions]))
        r0, r1 = records[0], records[1]
        assert r0["game_over_reason"] == r1["game_over_reason"] == "completed"
        assert r0["default_action_from"] == r1["default_action_from"] and "2" in r0["default_action_from"]
        assert confirmed_rows(r0) == confirmed_rows(r1)
        assert any(name == "default_action" for name, _ in mixed.js[1].events)
        assert records == js_sim(3, 4, settings, link, env, input="nonzero", script=script)
    finally:
        mixed.close()
