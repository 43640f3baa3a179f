"""The small pieces of the Python peer against their JS twins, run side by side in node:
prng.py (prng.js), impairment.py (impairment.js), stats.py (stats.js), settings.py
(settings.js) and time_sync.py (time_sync.js)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from interactive_gym_p2p.peer.impairment import Impairment, link_seed
from interactive_gym_p2p.peer.prng import Prng
from interactive_gym_p2p.peer.settings import SettingsError, from_game_settings, make_settings
from interactive_gym_p2p.peer.stats import histogram_object, iso_time, js_round, percentile, round3
from interactive_gym_p2p.peer.time_sync import TimeSync

ROOT = Path(__file__).resolve().parents[1]

NODE_SCRIPT = r"""
import { Prng } from './static/js/prng.js';
import { createImpairment } from './static/js/impairment.js';
import { percentile, round3, isoTime } from './static/js/stats.js';
import { DEFAULT_SETTINGS } from './static/js/settings.js';
import { linkSeed } from './static/js/transport.js';
const out = { prng: {}, impairment: [], round: [], iso: [], pct: [] };
for (const seed of [0, 1, 0xffffffff, 123456789]) {
  const p = new Prng(seed);
  const next = []; for (let i = 0; i < 200; i++) next.push(p.next());
  const floats = []; for (let i = 0; i < 50; i++) floats.push(p.float());
  const ints = []; for (const n of [1, 9, 1000, 2 ** 31 + 11, 2 ** 32, 3 ** 20]) for (let i = 0; i < 20; i++) ints.push(p.int(n));
  const fork = p.fork(); const forked = [fork.next(), fork.next()];
  out.prng[seed] = { next, floats, ints, forked };
}
for (const opts of [{ seed: 5, delayMs: 40, jitterMs: 25, loss: 0.2, duplicate: 0.1, reorder: 0.15, reorderMs: 30 },
                    { seed: 77, delayMs: 0, loss: 0.5 }]) {
  const imp = createImpairment(opts);
  for (let i = 0; i < 400; i++) imp.schedule(i * 7.5, 10 + (i % 13));
  out.impairment.push({ log: imp.log, counts: imp.counts });
}
for (const x of [0.49999999999999994, 2.5, -2.5, 1234.5675, 0.0005, 1e300, -0.4]) out.round.push([Math.round(x), round3(x)]);
out.roundJson = JSON.stringify([140, 139.9996, 29.5, 0.0004, -0.4, 1e300].map(round3));
for (const ms of [0, 1735689600000, 1735689600123.5, 1735689600999.6]) out.iso.push(isoTime(ms));
const vals = [5, 1, 4, 2, 3, 9.5, 7];
for (const q of [0, 0.5, 0.95, 1]) out.pct.push(percentile(vals, q));
out.defaults = DEFAULT_SETTINGS;
out.linkSeeds = [linkSeed(0, 0, 1), linkSeed(123, 3, 2), linkSeed(0xffffffff, 1, 0)];
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def js() -> dict:
    node = shutil.which("node")
    assert node, "node 20 is required: the Python pieces are compared with the JS ones"
    out = subprocess.run([node, "--input-type=module", "-e", NODE_SCRIPT], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("seed", [0, 1, 0xFFFFFFFF, 123456789])
def test_prng_streams_equal_the_js_prng(js, seed):
    want = js["prng"][str(seed)]
    p = Prng(seed)
    assert [p.next() for _ in range(200)] == want["next"]
    assert [p.float() for _ in range(50)] == want["floats"]
    assert [p.int(n) for n in (1, 9, 1000, 2**31 + 11, 2**32, 3**20) for _ in range(20)] == want["ints"]
    f = p.fork()
    assert [f.next(), f.next()] == want["forked"]


def test_impairment_schedules_equal_the_js_schedules(js):
    for opts, want in zip(
        [dict(seed=5, delay_ms=40, jitter_ms=25, loss=0.2, duplicate=0.1, reorder=0.15, reorder_ms=30),
         dict(seed=77, delay_ms=0, loss=0.5)], js["impairment"]):
        imp = Impairment(**opts)
        for i in range(400):
            imp.schedule(i * 7.5, 10 + (i % 13))
        assert imp.counts == want["counts"]
        assert imp.log == want["log"]
    assert [link_seed(0, 0, 1), link_seed(123, 3, 2), link_seed(0xFFFFFFFF, 1, 0)] == js["linkSeeds"]
    with pytest.raises(ValueError, match="impairment.loss"):
        Impairment(seed=1, loss=2)


def test_stats_helpers_round_and_format_like_js(js):
    xs = [0.49999999999999994, 2.5, -2.5, 1234.5675, 0.0005, 1e300, -0.4]
    assert [[js_round(x), round3(x)] for x in xs] == js["round"]
    # The export's JSON text reads the same: 140, not 140.0.
    assert json.dumps([round3(x) for x in (140.0, 139.9996, 29.5, 0.0004, -0.4, 1e300)], separators=(",", ":")) \
        == js["roundJson"]
    assert [iso_time(ms) for ms in (0, 1735689600000, 1735689600123.5, 1735689600999.6)] == js["iso"]
    assert [percentile([5, 1, 4, 2, 3, 9.5, 7], q) for q in (0, 0.5, 0.95, 1)] == js["pct"]
    assert percentile([], 0.5) is None and round3(None) is None
    assert histogram_object({10: 1, 2: 5, 1: 3}) == {"1": 3, "2": 5, "10": 1}


def test_settings_defaults_equal_the_js_defaults_and_errors_name_the_setting(js):
    assert make_settings().to_camel() == js["defaults"]
    with pytest.raises(SettingsError) as e:
        make_settings({"input_delay": 17})
    assert e.value.setting == "input_delay" and "[0, 16]" in str(e.value)
    with pytest.raises(SettingsError, match="unknown setting bogus"):
        make_settings({"bogus": 1})
    with pytest.raises(SettingsError, match="disconnect_timeout_ms"):
        make_settings({"disconnect_notify_ms": 800, "disconnect_timeout_ms": 800})
    with pytest.raises(SettingsError):
        make_settings({"fps": True})
    s = from_game_settings({"p2p": {"fps": 60, "prediction_window": 4, "num_episodes": 3, "default_action": 2},
                            "validation": {"hash_interval": 5, "state_dump_on_desync": False}}, max_steps=400)
    assert (s.fps, s.max_prediction_window, s.max_episodes, s.default_action, s.hash_interval,
            s.max_state_dumps, s.max_steps_per_episode) == (60, 4, 3, 2, 5, 0, 400)
    for never in (float("inf"), 1e12, 2.5, None):  # Interactive Gym's "no limit" values
        assert from_game_settings({"p2p": {}}, max_steps=never).max_steps_per_episode is None


def test_time_sync_meets_in_the_middle_and_waits_only_when_ahead():
    t = TimeSync(30)
    for _ in range(30):
        t.add_local(6)
    assert t.frame_advantage() is None and t.recommend_wait(10) == 0
    t.add_remote(-6)
    t.add_remote(-6)
    assert t.recommend_wait(10) == 0
    t.add_remote(-6)
    assert t.frame_advantage() == 6 and t.recommend_wait(10) == 6 and t.recommend_wait(4) == 4
    u = TimeSync(30)
    for _ in range(30):
        u.add_local(3 - 4)
    for _ in range(5):
        u.add_remote(3 + 4)
    assert u.recommend_wait(10) == 0, "the peer that is behind never waits"
    w = TimeSync(4, 1)
    for v in (10, 10, 10, 10, 2, 2, 2, 2):
        w.add_local(v)
    w.add_remote(0)
    assert w.frame_advantage() == 1
    w.clear()
    assert w.frame_advantage() is None


CLIENT_SETTINGS_SCRIPT = r"""
import { sessionSettings } from './static/js/client_game.js';
import { makeSettings } from './static/js/settings.js';
const cases = JSON.parse(process.argv[1]);
console.log(JSON.stringify(cases.map((c) => makeSettings(sessionSettings(c)))));
"""


def test_from_game_settings_maps_a_scene_like_the_browser_client():
    """The Python peer and the browser must run a scene with the same session settings."""
    base = {"fps": 60, "input_delay": 3, "prediction_window": 4, "input_redundancy": 6,
            "disconnect_notify_ms": 700, "disconnect_timeout_ms": 4000, "disconnect_policy": "default_action",
            "default_action": 2, "num_episodes": 3, "countdown_s": 2.5, "hidden_action": 4, "max_hidden_s": 12.5,
            "hidden_policy": "default_action"}
    cases = [
        {"settings": {"p2p": base, "validation": {"hash_interval": 5, "state_dump_on_desync": False}},
         "gameplay": {"max_steps": 400}},
        {"settings": {"p2p": {**base, "num_episodes": None}, "validation": {"hash_interval": 1}},
         "gameplay": {"max_steps": 1e12}},
        {"settings": {"p2p": {**base, "countdown_s": 0, "hidden_action": None, "max_hidden_s": None,
                              "hidden_policy": "end"}, "validation": {"hash_interval": 1}},
         "gameplay": {"max_steps": 100}},
        # The seat a reload keeps: waited for the grace plus the connection time (0: not held).
        {"settings": {"p2p": {**base, "reconnect_grace_s": 10, "connection_timeout_s": 12.5}, "validation": {}},
         "gameplay": {}},
        {"settings": {"p2p": {**base, "reconnect_grace_s": 0}, "validation": {}}, "gameplay": {}},
    ]
    out = subprocess.run([shutil.which("node") or "node", "--input-type=module", "-e", CLIENT_SETTINGS_SCRIPT,
                          json.dumps(cases)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    browser = json.loads(out.stdout)
    for case, want in zip(cases, browser):
        mine = from_game_settings(case["settings"], max_steps=case["gameplay"].get("max_steps"))
        assert mine.to_camel() == want
    first = from_game_settings(cases[0]["settings"])
    assert (first.countdown_frames, first.hidden_action, first.max_hidden_ms, first.hidden_policy) == (150, 4, 12500, "default_action")
    assert [b["awayTimeoutMs"] for b in browser] == [30000, 30000, 30000, 22500, 0]
