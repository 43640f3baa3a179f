"""Matchmaking without sockets: matchers on hand-made views, condition assignment and its
ledger, scene settings, and signaling's matching steps (RTT samples, probes, re-pairing after
a failed connection, lobby-timeout policies, the decision log) on a hand-moved clock."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from interactive_gym_p2p.matchmaking.conditions import Completion, JsonlLedger, choose_condition
from interactive_gym_p2p.matchmaking.matchers import (
    Candidate,
    CallableMatcher,
    FifoMatcher,
    LatencyFifoMatcher,
    MatchView,
    estimate_rtt_ms,
)
from interactive_gym_p2p.matchmaking.settings import Condition
from interactive_gym_p2p.scene_settings import SceneConfigError, SignalingRules
from interactive_gym_p2p.signaling import Signaling, Slot
from interactive_gym_p2p.signaling.messages import (
    ConnectionFailure,
    GameRef,
    ProbeReport,
    Refusal,
    parse_connection_failed,
    parse_probe_result,
    parse_signal,
)
from interactive_gym_p2p.signaling.limits import SignalingLimits
from interactive_gym_p2p.validation.tokens import UploadTokens

from server_harness import make_scene
from store_backends import new_store, signaling_store  # noqa: F401  (every test runs on both stores)
from test_signaling import Clock, Wire


def cand(key: str, rtt: float | None, waited: float = 10.0, excluded: tuple[str, ...] = ()) -> Candidate:
    return Candidate(key=key, subject_id=key, waited_s=waited, server_rtt_ms=rtt, excluded=frozenset(excluded))


def view(*cands: Candidate, players: int = 2, limit: int | None = None) -> MatchView:
    return MatchView("game", players, tuple(cands), limit, len(cands))


# ---------------------------------------------------------------------- matchers


def test_fifo_takes_the_oldest_allowed() -> None:
    m = FifoMatcher()
    assert m.decide(view(cand("a", 10), cand("b", 300), cand("c", 5))).group == ("a", "b")
    # a and b failed together before: a goes with c
    assert m.decide(view(cand("a", 10, excluded=("b",)), cand("b", 300), cand("c", 5))).group == ("a", "c")
    d = m.decide(view(cand("a", 1, excluded=("b",)), cand("b", 1)))
    assert d.group is None and "failed together" in d.reason
    assert m.decide(view(cand("a", 1))).group is None
    # three players: greedy in arrival order, every pair allowed
    three = view(cand("a", 1), cand("b", 1, excluded=("a",)), cand("c", 1), cand("d", 1), players=3)
    assert m.decide(three).group == ("a", "c", "d")


def test_latency_fifo_prefers_the_lowest_estimate_within_the_limit() -> None:
    m = LatencyFifoMatcher(rtt_wait_s=2)
    # a is oldest; c is the closest partner (a+c = 40 ms), b is far (a+b = 310 ms)
    v = view(cand("a", 20, 30), cand("b", 290, 20), cand("c", 20, 10), limit=150)
    d = m.decide(v)
    assert d.group == ("a", "c") and "40 ms" in d.reason
    weighed = {(w.a, w.b): w for w in d.weighed}
    assert weighed[("a", "b")].estimated_ms == 310 and not weighed[("a", "b")].within_limit
    # nobody within the limit for a: the next oldest anchors (no head-of-line blocking)
    v = view(cand("a", 400, 30), cand("b", 20, 20), cand("c", 30, 10), limit=150)
    assert m.decide(v).group == ("b", "c")
    # no limit: still the closest partner
    assert m.decide(view(cand("a", 20, 30), cand("b", 290, 20), cand("c", 20, 10))).group == ("a", "c")
    # with probing only the lower bound (difference of server RTTs) rules a pair out: two
    # participants far from the server (sum 240 ms) may be close to each other; the probe decides
    far = (cand("a", 120, 30), cand("b", 120, 20), cand("c", 10, 10))
    # a~c: at least 110 ms apart (over 100 + 5 of slack), a~b: anywhere from 0 to 240 ms
    assert m.decide(MatchView("game", 2, far, 100, 3, probing=True, slack_ms=5)).group == ("a", "b")
    assert m.decide(MatchView("game", 2, far, 100, 3)).group is None  # without a probe the sum must be within
    # with 20 ms of slack a~c (sum 130) may still be under the limit: the lower sum goes first
    assert m.decide(MatchView("game", 2, far, 100, 3, probing=True, slack_ms=20)).group == ("a", "c")
    # nobody compatible at all: hold, with the pairs weighed
    d = m.decide(view(cand("a", 200, 30), cand("b", 200, 20), limit=150))
    assert d.group is None and "within 150 ms" in d.reason and len(d.weighed) == 2


def test_latency_fifo_waits_for_a_newcomers_measurement() -> None:
    m = LatencyFifoMatcher(rtt_wait_s=2)
    fresh = cand("b", None, waited=0.5)
    d = m.decide(view(cand("a", 20, 30), fresh, limit=150))
    assert d.group is None and "being measured" in d.reason
    # after rtt_wait_s an unmeasured waiter counts as compatible (estimate unknown)
    d = m.decide(view(cand("a", 20, 30), cand("b", None, waited=2.5), limit=150))
    assert d.group == ("a", "b") and "unknown" in d.reason


def test_estimate_is_the_sum_of_server_rtts() -> None:
    assert estimate_rtt_ms(cand("a", 12.5), cand("b", 30)) == 42.5
    assert estimate_rtt_ms(cand("a", None), cand("b", 30)) is None


def test_callable_matcher_is_checked() -> None:
    v = view(cand("a", 1), cand("b", 1, excluded=("a",)), cand("c", 1))
    assert CallableMatcher(lambda v: ["a", "c"]).decide(v).group == ("a", "c")
    assert CallableMatcher(lambda v: None).decide(v).group is None
    for bad, why in ((["a", "b"], "must not play together"), (["a", "zz"], "unknown"), (["a"], "needs 2"),
                     (["a", "a"], "duplicate"), ("ab", "list of candidate keys")):
        d = CallableMatcher(lambda v, bad=bad: bad).decide(v)
        assert d.group is None and why in d.reason, (bad, d.reason)
    d = CallableMatcher(lambda v: 1 / 0).decide(v)
    assert d.group is None and "ZeroDivisionError" in d.reason


# ---------------------------------------------------------------------- conditions


def test_choose_condition_balances_completed_plus_running() -> None:
    conds = (Condition("A"), Condition("B"), Condition("C", target=2))
    rng = random.Random(0)
    chosen, why = choose_condition(conds, {"A": 3, "B": 3, "C": 1}, {"A": 0, "B": 0, "C": 1}, rng)
    assert chosen.name in ("A", "B") and "A=3+0" in why  # C's 1 completed + 1 running reach its target
    chosen, _ = choose_condition(conds, {"A": 3, "B": 3, "C": 1}, {}, rng)
    assert chosen.name == "C"
    chosen, _ = choose_condition(conds, {"A": 3, "B": 4, "C": 2}, {}, rng)
    assert chosen.name == "A"  # C reached its target
    chosen, why = choose_condition((Condition("A", target=1), Condition("B", target=1)), {"A": 1, "B": 1}, {}, rng)
    assert "reached its target" in why
    # ties are broken at random, not by declared order
    picks = {choose_condition(conds[:2], {}, {}, random.Random(seed))[0].name for seed in range(20)}
    assert picks == {"A", "B"}


def test_jsonl_ledger_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "m" / "conditions.jsonl"
    ledger = JsonlLedger(path)
    assert ledger.load() == {}
    ledger.record(Completion("game", "A", "g1", "t"))
    ledger.record(Completion("game", "A", "g1", "t"))  # the same game twice counts once
    ledger.record(Completion("game", "B", "g2", "t"))
    ledger.record(Completion("other", "A", "g3", "t"))
    with path.open("a") as f:
        f.write('{"torn": \n')  # a crash mid-line loses only that line
    again = JsonlLedger(path)
    assert again.load() == {"game": {"A": 1, "B": 1}, "other": {"A": 1}}
    again.record(Completion("game", "A", "g1", "t"))
    assert JsonlLedger(path).load()["game"] == {"A": 1, "B": 1}


def test_scene_settings_are_checked() -> None:
    scene = make_scene()
    scene.matchmaking(matcher="latency_fifo", max_p2p_rtt_ms=150)
    assert scene.matchmaking_settings.probing is True
    assert scene.matchmaking(probe=False).matchmaking_settings.probing is False
    with pytest.raises(SceneConfigError, match=r"matchmaking\(matcher\)"):
        scene.matchmaking(matcher="nearest")
    with pytest.raises(SceneConfigError, match=r"matchmaking\(max_p2p_rtt_ms\)"):
        scene.matchmaking(max_p2p_rtt_ms=0)
    scene.matchmaking(matcher=lambda v: None)
    with pytest.raises(SceneConfigError, match=r"waiting_room\(on_timeout\)"):
        scene.waiting_room(on_timeout="wait")
    with pytest.raises(SceneConfigError, match="bot_actions"):
        scene.waiting_room(bot_actions="policy:nocolon")
    scene.waiting_room(on_timeout="start_with_fewer", min_players=2)
    with pytest.raises(SceneConfigError, match="3 or more"):
        scene.check()
    three = make_scene(players=3).waiting_room(on_timeout="start_with_fewer", min_players=2)
    three.check()
    with pytest.raises(SceneConfigError, match=r"min_players"):
        make_scene(players=3).waiting_room(on_timeout="start_with_fewer").check()


def test_conditions_are_checked_and_applied() -> None:
    scene = make_scene().conditions({"fast": {"p2p": {"input_delay": 1}, "target": 5}, "slow": {"p2p": {"input_delay": 6}}})
    rules = scene.signaling_rules()
    assert [c.name for c in rules.conditions] == ["fast", "slow"]
    assert rules.settings_for("fast")["p2p"]["input_delay"] == 1
    assert rules.settings_for("slow")["p2p"]["input_delay"] == 6
    assert rules.settings_for(None)["p2p"]["input_delay"] == scene.p2p_settings.input_delay  # the scene's own
    with pytest.raises(SceneConfigError, match="cannot change"):
        make_scene().conditions({"a": {"p2p": {"players": 3}}, "b": {}})
    with pytest.raises(SceneConfigError, match="at least two"):
        make_scene().conditions({"a": {}})
    with pytest.raises(SceneConfigError, match="plain identifier"):
        make_scene().conditions({"a b": {}, "c": {}})
    with pytest.raises(SceneConfigError, match="greater than disconnect_notify_ms"):
        make_scene().conditions({"a": {"p2p": {"disconnect_timeout_ms": 500}}, "b": {}})
    with pytest.raises(SceneConfigError, match="input_delay"):
        make_scene().conditions({"a": {"p2p": {"input_delay": 99}}, "b": {}})
    # conditions are checked again when the scene's p2p settings change under them
    with pytest.raises(SceneConfigError):
        make_scene().conditions({"a": {"p2p": {"disconnect_notify_ms": 4000}}, "b": {}}).p2p(disconnect_timeout_ms=3000)


def test_parsers() -> None:
    limits = SignalingLimits()
    sig = parse_signal({"probe_id": "p1", "to": 1, "kind": "offer", "data": {"type": "offer", "sdp": "v=0"}}, limits,
                       event="probe_signal", id_field="probe_id")
    assert not isinstance(sig, Refusal) and sig.game_id == "p1"
    bad = parse_signal({"game_id": "p1", "to": 1, "kind": "offer", "data": {}}, limits, event="probe_signal", id_field="probe_id")
    assert isinstance(bad, Refusal) and bad.message.startswith("probe_signal:")
    report = parse_probe_result({"probe_id": "p1", "rtt_ms": {"1": [10, 12.5]}, "path": {"kind": "relay", "x": 1}, "error": None})
    assert report == ProbeReport("p1", {1: [10.0, 12.5]}, {"kind": "relay", "protocol": None, "local_candidate_type": None,
                                                          "remote_candidate_type": None}, None)
    for payload in ({"probe_id": "p1", "rtt_ms": {"x": [1]}}, {"probe_id": "p1", "rtt_ms": {"1": [-1]}},
                    {"probe_id": "p1", "rtt_ms": {"1": [True]}}, {"probe_id": "../p", "rtt_ms": {}}):
        assert isinstance(parse_probe_result(payload), Refusal), payload
    assert parse_connection_failed({"game_id": "g", "code": "connect_timeout", "detail": "x"}) == ConnectionFailure("g", "connect_timeout", "x")
    assert isinstance(parse_connection_failed({"game_id": "g", "code": ""}), Refusal)


# ---------------------------------------------------------------------- signaling steps


def make(*scene_rules: SignalingRules) -> tuple[Signaling, Wire, Clock, list[dict[str, Any]]]:
    wire, clock = Wire(), Clock()
    signaling = Signaling({r.scene_id: r for r in scene_rules}, store=new_store(), transport=wire, clock=clock,
                          upload_tokens=UploadTokens(b"k" * 32), rng=random.Random(7))
    log: list[dict[str, Any]] = []
    original = signaling._run

    def run(body: Any) -> Any:
        result = original(body)
        log.extend(result.decisions)
        return result

    signaling._run = run  # type: ignore[method-assign]
    return signaling, wire, clock, log


def join(signaling: Signaling, sid: str, subject: str, scene: str = "game", rtt: float | None = None) -> dict[str, Any]:
    assert signaling.connect(sid, Slot(subject, scene, 1)).ack["ok"]
    result = signaling.join(sid)
    if rtt is not None:
        signaling.rtt_sample(sid, rtt)
    return result.ack


def events(log: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in log if e["event"] == name]


def test_latency_aware_waits_for_a_compatible_partner() -> None:
    rules = make_scene().matchmaking(matcher="latency_fifo", max_p2p_rtt_ms=150, probe=False).signaling_rules()
    signaling, wire, clock, log = make(rules)
    join(signaling, "s-far", "far", rtt=200)
    clock.now += 5
    join(signaling, "s-a", "a", rtt=40)
    assert not wire.to("s-far", "game_ready") and not wire.to("s-a", "game_ready")
    first, hold = events(log, "hold")
    assert "being measured" in first["reason"]  # a joined before its first RTT sample
    assert hold["pairs"][0]["estimated_ms"] == 240 and hold["pairs"][0]["within_limit"] is False
    assert {c["subject_id"]: c["server_rtt_ms"] for c in hold["candidates"]} == {"far": 200, "a": 40}
    join(signaling, "s-b", "b", rtt=50)
    [ready_a] = wire.to("s-a", "game_ready")
    assert wire.to("s-b", "game_ready")[0]["game_id"] == ready_a["game_id"]
    [match] = events(log, "match")
    assert match["matcher"] == "latency_fifo" and {p["subject_id"] for p in match["players"]} == {"a", "b"}
    assert match["pairs"] == [{"a": "a", "b": "b", "estimated_ms": 90.0}] and match["probe"] is None
    assert all(e["t"].endswith("Z") for e in log)
    snap = signaling.snapshot()
    [room] = snap["waiting"]
    assert room["waiters"][0]["subject_id"] == "far" and room["waiters"][0]["rtt_ms"] == 200
    assert snap["games"][0]["match"]["estimated_rtt_ms"] == 90.0


def _probe_payloads(wire: Wire, *sids: str) -> list[dict[str, Any]]:
    return [wire.to(sid, "probe")[-1] for sid in sids]


def test_probe_accepts_or_rejects_by_measured_rtt() -> None:
    rules = make_scene().matchmaking(max_p2p_rtt_ms=100).signaling_rules()
    signaling, wire, clock, log = make(rules)
    join(signaling, "s1", "a", rtt=20)
    join(signaling, "s2", "b", rtt=20)
    p1, p2 = _probe_payloads(wire, "s1", "s2")
    assert p1["probe_id"] == p2["probe_id"] and {p1["player_index"], p2["player_index"]} == {0, 1}
    assert p1["pings"] == 5 and p1["timeout_s"] == 10 and p1["connections"][0]["role"] in ("offer", "answer")
    assert wire.to("s1", "waiting")[-1]["state"] == "probing"
    pid = p1["probe_id"]
    # signaling between the probe's members only
    offer = parse_signal({"probe_id": pid, "to": p2["player_index"], "kind": "offer", "data": {"type": "offer", "sdp": "v"}},
                         SignalingLimits(), event="probe_signal", id_field="probe_id")
    assert signaling.probe_signal("s1", offer).ack == {"ok": True}  # type: ignore[arg-type]
    assert wire.to("s2", "probe_signal")[0]["from"] == p1["player_index"]
    assert signaling.probe_signal("s3", offer).ack["error"]["code"] == "not_in_probe"  # type: ignore[arg-type]
    # measured 150 ms > 100 ms: rejected, the pair is never proposed again
    signaling.probe_result("s1", ProbeReport(pid, {p2["player_index"]: [150, 160, 140]}, {"kind": "relay"}, None))
    assert not wire.to("s1", "probe_end")
    signaling.probe_result("s2", ProbeReport(pid, {p1["player_index"]: [150]}, None, None))
    assert wire.to("s1", "probe_end")[0]["outcome"] == "rejected" and not wire.to("s1", "game_ready")
    [rejected] = events(log, "probe_rejected")
    # FIFO probes at once: b's first server RTT had not arrived, so there is no estimate
    assert rejected["pairs"][0]["probed_ms"] == 150 and rejected["pairs"][0]["estimated_ms"] is None
    assert "150 ms > 100 ms" in rejected["reason"]
    # a third waiter: probed with a, accepted
    join(signaling, "s3", "c", rtt=10)
    probes = wire.to("s3", "probe")
    assert probes and not wire.to("s2", "probe")[1:], "b is never probed with a again"
    q = probes[0]
    partner = "s1" if wire.to("s1", "probe")[-1]["probe_id"] == q["probe_id"] else "s2"
    mine, theirs = q["player_index"], 1 - q["player_index"]
    signaling.probe_result("s3", ProbeReport(q["probe_id"], {theirs: [30, 31]}, {"kind": "direct", "protocol": "udp"}, None))
    signaling.probe_result(partner, ProbeReport(q["probe_id"], {mine: [29]}, None, None))
    [ready] = wire.to("s3", "game_ready")
    assert wire.to(partner, "game_ready")[0]["game_id"] == ready["game_id"]
    [match] = events(log, "match")
    assert match["probe"]["rtt_ms"] == 30 and match["probe"]["path"]["kind"] == "direct"
    assert signaling.snapshot()["games"][0]["match"]["probed_rtt_ms"] == 30


def test_probe_timeout_and_a_member_leaving() -> None:
    rules = make_scene().matchmaking(max_p2p_rtt_ms=100, probe_timeout_s=5).signaling_rules()
    signaling, wire, clock, log = make(rules)
    join(signaling, "s1", "a", rtt=20)
    join(signaling, "s2", "b", rtt=20)
    clock.now += 5.1
    signaling.sweep()
    [rejected] = events(log, "probe_rejected")
    assert rejected["probe"]["timed_out"] and "no connection" in rejected["reason"]
    assert wire.to("s1", "probe_end")[0]["outcome"] == "rejected"
    # a member who leaves during a probe: no exclusion for the one who stays
    join(signaling, "s3", "c", rtt=20)
    pid = wire.to("s3", "probe")[0]["probe_id"]
    partner = "s1" if wire.to("s1", "probe")[-1]["probe_id"] == pid else "s2"
    signaling.disconnect(partner)
    assert events(log, "probe_rejected")[-1]["reason"].endswith("left (or reloaded) during the probe")
    late = signaling.probe_result("s3", ProbeReport(pid, {}, None, "connect_timeout"))
    assert late.ack == {"ok": True, "status": "closed"}


def test_connection_failure_puts_players_back_not_with_each_other() -> None:
    rules = make_scene().signaling_rules()
    signaling, wire, clock, log = make(rules)
    join(signaling, "s1", "a")
    join(signaling, "s2", "b")
    game = wire.to("s1", "game_ready")[0]
    result = signaling.connection_failed("s1", ConnectionFailure(game["game_id"], "connect_timeout", "no path"))
    assert result.ack == {"ok": True, "status": "requeued"}
    assert [e.outcome for e in result.ended] == ["connection_failed"]
    for sid in ("s1", "s2"):
        assert wire.to(sid, "requeued")[0]["requeued"] is True
        assert wire.to(sid, "waiting")[-1]["requeues"] == 1
    # the partner's own report arrives late: harmless
    assert signaling.connection_failed("s2", ConnectionFailure(game["game_id"], "ice_failed", "")).ack["status"] == "requeued"
    assert signaling.stats() == {"waiting": 2, "games": 0}
    join(signaling, "s3", "c")
    join(signaling, "s4", "d")
    games = {sid: wire.to(sid, "game_ready")[-1]["game_id"] for sid in ("s1", "s2", "s3", "s4")}
    assert games["s1"] != games["s2"] and games["s1"] != game["game_id"]
    assert {games["s3"], games["s4"]} == {games["s1"], games["s2"]}
    [requeue] = events(log, "requeue")
    assert [p["requeued"] for p in requeue["players"]] == [True, True]
    # the put-back players kept their place: a is matched before c and d pair up
    assert games["s1"] in (games["s3"], games["s4"])


def test_requeue_limit_and_opt_out() -> None:
    rules = make_scene().matchmaking(max_requeues=1).signaling_rules()
    signaling, wire, clock, log = make(rules)
    for sid, subject in (("s1", "a"), ("s2", "b")):
        join(signaling, sid, subject)
    g1 = wire.to("s1", "game_ready")[0]["game_id"]
    signaling.connection_failed("s1", ConnectionFailure(g1, "connect_timeout", ""))
    join(signaling, "s3", "c")
    g2 = wire.to("s1", "game_ready")[-1]["game_id"]
    assert g2 != g1
    over = signaling.connection_failed("s1", ConnectionFailure(g2, "connect_timeout", ""))
    assert over.ack == {"ok": True, "status": "ended"}
    # The participant with no partner left to try ends its study (docs/participants.md); c goes on.
    assert [(o.slot.subject_id, o.outcome, o.reason, o.game_id) for o in over.outcomes] == [("a", "connection_failed", "peer", g2)]
    assert wire.to("s1", "requeued")[-1]["requeued"] is False
    assert wire.to("s3", "requeued")[-1]["requeued"] is True
    assert join(signaling, "s1b", "a")["error"]["code"] == "game_over"

    off = make_scene("off").matchmaking(requeue_on_connection_failure=False).signaling_rules()
    signaling, wire, _, _ = make(off)
    join(signaling, "t1", "a", "off")
    join(signaling, "t2", "b", "off")
    g = wire.to("t1", "game_ready")[0]["game_id"]
    assert signaling.connection_failed("t1", ConnectionFailure(g, "ice_failed", "")).ack["status"] == "ended"
    assert wire.to("t2", "requeued")[0] == {"game_id": g, "requeued": False, "reason": "ice_failed",
                                            "message": "Could not connect to your partner. The game cannot take place."}


def test_conditions_balance_completed_games() -> None:
    rules = make_scene().conditions({"A": {"p2p": {"input_delay": 1}}, "B": {"p2p": {"input_delay": 5}}}).signaling_rules()
    signaling, wire, clock, log = make(rules)
    completions = []

    def play(tag: str, finish: bool) -> dict[str, Any]:
        join(signaling, f"{tag}1", f"{tag}a")
        join(signaling, f"{tag}2", f"{tag}b")
        ready = wire.to(f"{tag}1", "game_ready")[0]
        assert ready["settings"]["p2p"]["input_delay"] == {"A": 1, "B": 5}[ready["condition"]]
        assert [p.get("bot") for p in ready["players"]] == [False, False]
        return ready

    first = play("x", True)
    second = play("y", True)
    assert {first["condition"], second["condition"]} == {"A", "B"}, "running games count"
    # the first game ends incomplete: its condition gets the next game
    signaling.leave("x1", GameRef(first["game_id"]))
    signaling.leave("x2", GameRef(first["game_id"]))
    third = play("z", True)
    assert third["condition"] == first["condition"]
    for tag, ready in (("y", second), ("z", third)):
        for n in "12":
            completions += signaling.finished(f"{tag}{n}", GameRef(ready["game_id"])).completions
    assert sorted(c.condition for c in completions) == ["A", "B"]
    assert signaling.snapshot()["conditions"]["game"] == {
        "A": {"completed": 1, "running": 0, "target": None}, "B": {"completed": 1, "running": 0, "target": None}}
    assert events(log, "match")[0]["condition"] in ("A", "B")


def test_lobby_timeout_leave_and_bot_fill() -> None:
    leave = make_scene("leave", wait_timeout_s=30).signaling_rules()
    bot = make_scene("bot", wait_timeout_s=30).waiting_room(on_timeout="bot", bot_actions="script:1,2").signaling_rules()
    signaling, wire, clock, log = make(leave, bot)
    join(signaling, "h1", "a", "leave")
    join(signaling, "h2", "b", "bot")
    clock.now += 31
    result = signaling.sweep()
    assert wire.to("h1", "wait_timeout")[0]["reason"] == "no_match"
    # 'leave' ends the participant's study with lobby_timeout; the one kept for a bot goes on.
    assert [(o.slot.subject_id, o.outcome, o.reason) for o in result.outcomes] == [("a", "lobby_timeout", "no_match")]
    assert not wire.to("h2", "wait_timeout")
    [request] = result.bots
    assert request.scene_id == "bot" and request.actions == "script:1,2" and len(request.subject_ids) == 1
    assert wire.to("h2", "waiting")[-1]["state"] == "bot"
    [fill] = events(log, "bot_fill")
    assert fill["bots"] == list(request.subject_ids)
    # the bot arrives through the normal flow and is seated with the waiting participant
    bot_subject = request.subject_ids[0]
    assert join(signaling, "bot1", bot_subject, "bot")["status"] == "matched"
    ready = wire.to("h2", "game_ready")[0]
    assert wire.to("bot1", "game_ready")[0]["game_id"] == ready["game_id"]
    assert {p["subject_id"]: p["bot"] for p in ready["players"]} == {"b": False, bot_subject: True}
    assert events(log, "bot_match")[0]["matcher"] == "bot_fill"
    created = signaling.snapshot()["games"][0]
    assert [p["bot"] for p in created["seats"]].count(True) == 1


def test_bot_fill_that_never_arrives_and_a_failed_launch() -> None:
    bot = make_scene("bot", wait_timeout_s=10).waiting_room(on_timeout="bot", bot_start_timeout_s=20).signaling_rules()
    signaling, wire, clock, log = make(bot)
    join(signaling, "h1", "a", "bot")
    clock.now += 11
    [request] = signaling.sweep().bots
    clock.now += 21
    gave_up = signaling.sweep()
    assert wire.to("h1", "wait_timeout")[0]["reason"] == "bot_unavailable"
    assert [(o.slot.subject_id, o.outcome, o.reason) for o in gave_up.outcomes] == [("a", "lobby_timeout", "bot_unavailable")]
    assert events(log, "bot_fill_failed")[0]["reason"].startswith("the bots did not join")
    # a bot arriving late for a cancelled fill is told so (never seated as a human)
    assert join(signaling, "late", request.subject_ids[0], "bot")["error"]["code"] == "bot_not_needed"
    # a failed launch sends the waiter away at once
    signaling2, wire2, clock2, log2 = make(bot)
    join(signaling2, "h1", "a", "bot")
    clock2.now += 11
    [req] = signaling2.sweep().bots
    failed = signaling2.bot_launch_failed(req.fill_id, "no python")
    assert wire2.to("h1", "wait_timeout")[0]["reason"] == "bot_unavailable"
    assert [(o.outcome, o.reason) for o in failed.outcomes] == [("lobby_timeout", "bot_unavailable")]
    assert events(log2, "bot_fill_failed")[0]["reason"] == "no python"


def test_start_with_fewer_players() -> None:
    rules = make_scene(players=4, wait_timeout_s=30).waiting_room(on_timeout="start_with_fewer", min_players=3).signaling_rules()
    signaling, wire, clock, log = make(rules)
    join(signaling, "s1", "a")
    join(signaling, "s2", "b")
    clock.now += 31
    signaling.sweep()
    assert wire.to("s1", "wait_timeout") and wire.to("s2", "wait_timeout"), "2 < min_players: they leave"
    join(signaling, "s3", "c")
    clock.now += 10
    join(signaling, "s4", "d")
    join(signaling, "s5", "e")
    clock.now += 21
    signaling.sweep()
    [ready] = wire.to("s3", "game_ready")
    assert ready["num_players"] == 3 and sorted(p["player_index"] for p in ready["players"]) == [0, 1, 2]
    assert events(log, "start_with_fewer")[0]["reason"].startswith("lobby timeout: 3 of 4 players")


def test_rtt_samples_take_the_median() -> None:
    signaling, wire, clock, log = make(make_scene(players=3).signaling_rules())
    join(signaling, "s1", "a")
    for ms in (30, 500, 32, 31, 29, 28):
        signaling.rtt_sample("s1", ms)
    assert signaling.snapshot()["waiting"][0]["waiters"][0]["rtt_ms"] == 31
    assert signaling.waiting_sids() == ["s1"]
    signaling.rtt_sample("nobody", 5)  # an unknown socket is ignored


def test_decision_log_file(tmp_path: Path) -> None:
    from interactive_gym_p2p.matchmaking.decisions import JsonlDecisionLog

    log = JsonlDecisionLog(tmp_path / "d" / "decisions.jsonl")
    log.write([{"event": "match", "t": "x"}, {"event": "hold", "t": "y"}])
    log.write([])
    lines = (tmp_path / "d" / "decisions.jsonl").read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["match", "hold"]
    assert log.read()[1]["t"] == "y"


def test_fewer_players_view_of_the_env_adapter() -> None:
    from interactive_gym_p2p.examples import tug
    from interactive_gym_p2p.peer.env import InteractiveGymEnvAdapter, with_players

    env = InteractiveGymEnvAdapter.from_code(tug.environment_initialization_code(4, 10), 4, default_action=0)
    assert with_players(env, 4) is env
    three = with_players(env, 3)
    assert three.num_players == 3
    three.reset(7)
    three.step([tug.RIGHT, tug.RIGHT, tug.LEFT])  # agent 3 gets the default action (no push)
    assert env.canonical_state()["pushes"] == [1, 1, 1, 0]
    with pytest.raises(ValueError, match="cannot run"):
        with_players(env, 5)
    env.close()
