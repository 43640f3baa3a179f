"""Waiting rooms and matchmaking, as steps of :class:`~.core.Signaling` (a mixin).

A FIFO room holds a scene's waiters oldest first. After every change (a join, an RTT sample,
a probe's verdict, a requeue, the sweep) the scene's matcher (``matchmaking.matchers``) is
asked for the next group: the group becomes a game at once, or, with probing on, first opens
a short WebRTC probe between its members (``probe`` ... ``probe_result``) and becomes a game
only when every pair's measured RTT is within ``max_p2p_rtt_ms``. Waiters in a probe or
awaiting a bot are *reserved*: still in the room, not matchable. Pairs that failed together
(a probe over the limit or without a connection, a game whose connection failed) are
remembered per slot (``MatchHistory``) and never grouped again.

At a waiter's deadline the scene's waiting-room policy applies: leave (``wait_timeout``),
fill the empty seats with bots the server starts (``BotFill``: the bots join like any
participant and are grouped with the reserved waiters), or start a smaller game when
``min_players`` are waiting. Every decision goes into the step's decision log.
"""

from __future__ import annotations

import logging
import random
import statistics
from typing import TYPE_CHECKING, Any, Callable

from ..matchmaking.bots import BotRequest
from ..matchmaking.matchers import Candidate, Decision, FifoMatcher, Matcher, MatchView, make_matcher
from ..scene_settings import SignalingRules
from .messages import ConnectionFailure, ProbeReport, Signal
from .records import (
    RTT_SAMPLES,
    BotFill,
    Game,
    MatchHistory,
    Probe,
    ProbeMember,
    Result,
    Seat,
    SeatState,
    Slot,
    SlotGame,
    SlotOutcome,
    Waiter,
)
from .step import Step

if TYPE_CHECKING:  # pragma: no cover
    from .store import SignalingStore

logger = logging.getLogger(__name__)

BOT_SUBJECT_PREFIX = "bot-"


def fifo_room(scene_id: str) -> str:
    return f"fifo:{scene_id}"


def group_room(scene_id: str, group_id: str) -> str:
    return f"group:{scene_id}:{group_id}"


def room_scene(room: str) -> str:
    return room.split(":")[1]


def _r1(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class Matching:
    """The waiting-room half of Signaling (attributes below come from Signaling)."""

    rules: dict[str, SignalingRules]
    store: SignalingStore
    rng: random.Random
    _now: Callable[[], float]
    _new_id: Callable[[], str]
    _matchers: dict[str, Matcher]

    if TYPE_CHECKING:  # provided by Signaling

        def _run(self, body: Callable[[Step], Any]) -> Result: ...
        def _create_game(self, step: Step, rules: SignalingRules, batch: list[Waiter], match: dict[str, Any]) -> Game: ...
        def _close_if_done(self, step: Step, game: Game) -> None: ...
        def _ice_servers_for(self, rules: SignalingRules, subject_id: str) -> list[dict[str, Any]]: ...
        def _seat_for(self, step: Step, sid: str, game_id: str, event: str) -> tuple[Game, Seat] | None: ...
        def _live_seat(self, slot: Slot) -> tuple[Game, Seat] | None: ...

    # ------------------------------------------------------------------ rooms

    def _matcher(self, rules: SignalingRules) -> Matcher:
        matcher = self._matchers.get(rules.scene_id)
        if matcher is None:
            mm = rules.matchmaking
            matcher = self._matchers.setdefault(rules.scene_id, make_matcher(mm.matcher, mm.rtt_wait_s))
        return matcher

    def _history(self, slot: Slot) -> MatchHistory:
        history = self.store.get_history(slot)
        if history is None:
            history = MatchHistory(slot, self._now())
            self.store.put_history(history)
        return history

    def _insert_waiter(self, room: str, waiter: Waiter) -> None:
        """Into the room in order of first arrival (a waiter put back keeps its place)."""
        waiters = self.store.get_waiting(room)
        pos = len(waiters)
        while pos > 0 and waiters[pos - 1].since > waiter.since:
            pos -= 1
        waiters.insert(pos, waiter)
        self.store.set_waiting(room, waiters)

    def _enter_fifo(self, step: Step, slot: Slot, sid: str, rules: SignalingRules) -> None:
        history = self._history(slot)
        room = fifo_room(slot.scene_id)
        self._insert_waiter(room, Waiter(slot, sid, history.since, self._now() + rules.wait_timeout_s))
        if not isinstance(self._matcher(rules), FifoMatcher):
            # This matcher waits for the newcomer's RTT: measure it now. (FIFO does not look
            # at RTTs: the sweep measures its waiters for the console a moment later.)
            step.result.pings.append(sid)
        if not self._match_room(step, room, rules):
            self._announce_waiting(step, room, self.store.get_waiting(room), rules)
        located = self._live_seat(slot)
        if located is not None:
            step.result.ack = {"ok": True, "status": "matched", "game_id": located[0].game_id}
        else:
            step.result.ack = {"ok": True, "status": "waiting"}

    def _announce_waiting(self, step: Step, room: str, waiters: list[Waiter], rules: SignalingRules) -> None:
        now = self._now()
        fills = {w.reserved for w in waiters if w.reserved is not None}
        probes = {f for f in fills if self.store.get_probe(f) is not None}
        for waiter in waiters:
            state = "waiting"
            if waiter.reserved in probes:
                state = "probing"
            elif waiter.reserved is not None:
                state = "bot"
            history = self.store.get_history(waiter.slot)
            step.send(
                "waiting",
                {
                    "scene_id": rules.scene_id,
                    "players_needed": rules.players,
                    "players_waiting": len(waiters),
                    "remaining_s": round(max(0.0, waiter.deadline - now), 3),
                    "group": room.startswith("group:"),
                    "state": state,
                    "announce_bot": rules.waiting_room.announce_bot,
                    "rtt_ms": _r1(waiter.server_rtt_ms),
                    "requeues": 0 if history is None else history.requeues,
                },
                waiter.sid,
            )

    def _leave_waiting_room(self, step: Step, slot: Slot, only_sid: str | None = None) -> bool:
        room = self.store.get_waiting_room_of(slot)
        if room is None:
            return False
        waiters = self.store.get_waiting(room)
        gone = [w for w in waiters if w.slot == slot and (only_sid is None or w.sid == only_sid)]
        if not gone:
            return False
        keep = [w for w in waiters if w not in gone]
        self.store.set_waiting(room, keep)
        rules = self.rules[room_scene(room)]
        for waiter in gone:
            if waiter.reserved is not None:
                if self.store.get_probe(waiter.reserved) is not None:
                    self._abandon_probe(step, waiter.reserved, waiter.slot.subject_id)
                elif self.store.get_fill(waiter.reserved) is not None:
                    self._check_fill(step, waiter.reserved)
        if room.startswith("fifo:"):
            self._match_room(step, room, rules)
        self._announce_waiting(step, room, self.store.get_waiting(room), rules)
        return True

    # ------------------------------------------------------------------ matching

    def _view(self, rules: SignalingRules, waiters: list[Waiter], free: list[Waiter]) -> MatchView:
        now = self._now()
        candidates = []
        for w in free:
            history = self.store.get_history(w.slot)
            candidates.append(
                Candidate(
                    key=w.slot.key(),
                    subject_id=w.slot.subject_id,
                    waited_s=round(now - w.since, 3),
                    server_rtt_ms=w.server_rtt_ms,
                    excluded=frozenset(history.excluded) if history else frozenset(),
                    requeues=history.requeues if history else 0,
                )
            )
        mm = rules.matchmaking
        return MatchView(rules.scene_id, rules.players, tuple(candidates), mm.max_p2p_rtt_ms, len(waiters), mm.probing,
                         float(mm.rtt_slack_ms))

    def _match_room(self, step: Step, room: str, rules: SignalingRules) -> bool:
        """Form games (or start probes) while the matcher finds groups in this FIFO room;
        True when something changed (the room was announced)."""
        matcher = self._matcher(rules)
        changed = False
        while True:
            waiters = self.store.get_waiting(room)
            free = [w for w in waiters if w.matchable]
            if len(free) < rules.players:
                break
            view = self._view(rules, waiters, free)
            if rules.players == 1:
                # One participant per game (the other seats are AI seats): nobody to match with.
                decision = Decision((view.candidates[0].key,), "one participant per game (AI seats)")
            else:
                decision = matcher.decide(view)
            if decision.group is None:
                self._log_hold(step, room, rules, view, decision, matcher.name)
                break
            if self.store.get_hold(room) is not None:
                self.store.set_hold(room, None)
            by_key = {w.slot.key(): w for w in free}
            batch = [by_key[k] for k in decision.group]
            changed = True
            if rules.matchmaking.probing and len(batch) > 1:  # a one-participant game has no path to probe
                self._start_probe(step, room, rules, batch, decision, matcher.name)
            else:
                self._form(step, room, rules, batch, decision.reason, matcher.name, self._pairs(batch, decision), None)
        if changed:
            self._announce_waiting(step, room, self.store.get_waiting(room), rules)
        return changed

    def _log_hold(self, step: Step, room: str, rules: SignalingRules, view: MatchView, decision: Decision, name: str) -> None:
        # One entry per change of the room or the reason, not one per sweep.
        signature = decision.reason + "|" + ",".join(c.key for c in view.candidates)
        if self.store.get_hold(room) == signature:
            return
        self.store.set_hold(room, signature)
        step.decide({
            "event": "hold",
            "scene_id": rules.scene_id,
            "matcher": name,
            "reason": decision.reason,
            "max_p2p_rtt_ms": view.max_p2p_rtt_ms,
            "probing": view.probing,
            "waiting": view.waiting_total,
            "candidates": [self._candidate_entry(c) for c in view.candidates],
            "pairs": [p.to_dict() for p in decision.weighed],
        })

    @staticmethod
    def _candidate_entry(c: Candidate) -> dict[str, Any]:
        return {"subject_id": c.subject_id, "waited_s": round(c.waited_s, 1), "server_rtt_ms": _r1(c.server_rtt_ms),
                "requeues": c.requeues}

    def _player_entry(self, w: Waiter) -> dict[str, Any]:
        history = self.store.get_history(w.slot)
        return {
            "subject_id": w.slot.subject_id,
            "waited_s": round(self._now() - w.since, 1),
            "server_rtt_ms": _r1(w.server_rtt_ms),
            "requeues": 0 if history is None else history.requeues,
            "bot": w.bot,
        }

    @staticmethod
    def _pairs(batch: list[Waiter], decision: Decision | None = None) -> list[dict[str, Any]]:
        """Every pair of a group with its estimated RTT (and the matcher's view of it)."""
        out = []
        for i, a in enumerate(batch):
            for b in batch[i + 1 :]:
                est = None
                if a.server_rtt_ms is not None and b.server_rtt_ms is not None:
                    est = a.server_rtt_ms + b.server_rtt_ms
                out.append({"a": a.slot.subject_id, "b": b.slot.subject_id, "estimated_ms": _r1(est)})
        return out

    def _form(
        self,
        step: Step,
        room: str,
        rules: SignalingRules,
        batch: list[Waiter],
        reason: str,
        matcher: str,
        pairs: list[dict[str, Any]],
        probe: dict[str, Any] | None,
        event: str = "match",
    ) -> Game:
        """Take ``batch`` out of the room and make it a game."""
        slots = {w.slot for w in batch}
        waiting = len(self.store.get_waiting(room))
        self.store.set_waiting(room, [w for w in self.store.get_waiting(room) if w.slot not in slots])
        estimates = [p["estimated_ms"] for p in pairs if p.get("estimated_ms") is not None]
        match = {
            "matcher": matcher,
            "reason": reason,
            "estimated_rtt_ms": _r1(max(estimates)) if estimates else None,
            "probed_rtt_ms": None if probe is None else probe.get("rtt_ms"),
            "path": None if probe is None else probe.get("path"),
        }
        players = [self._player_entry(w) for w in batch]
        game = self._create_game(step, rules, batch, match)
        step.decide({
            "event": event,
            "scene_id": rules.scene_id,
            "matcher": matcher,
            "game_id": game.game_id,
            "condition": game.condition,
            "reason": reason,
            "max_p2p_rtt_ms": rules.matchmaking.max_p2p_rtt_ms,
            "waiting": waiting,
            "players": players,
            "pairs": pairs,
            "probe": probe,
        })
        return game

    # ------------------------------------------------------------------ server RTT

    def rtt_sample(self, sid: str, rtt_ms: float) -> Result:
        """One RTT measured on a waiting participant's signaling socket."""

        def body(step: Step) -> None:
            connection = self.store.get_connection(sid)
            if connection is None:
                return
            room = self.store.get_waiting_room_of(connection.slot)
            if room is None:
                return
            waiters = self.store.get_waiting(room)
            for w in waiters:
                if w.sid == sid:
                    w.rtt_samples = (w.rtt_samples + [round(float(rtt_ms), 2)])[-RTT_SAMPLES:]
            self.store.set_waiting(room, waiters)
            rules = self.rules[room_scene(room)]
            if room.startswith("fifo:") and not isinstance(self._matcher(rules), FifoMatcher):
                self._match_room(step, room, rules)  # FIFO does not look at RTTs

        return self._run(body)

    def waiting_sids(self) -> list[str]:
        """Signaling sockets of everyone in a waiting room (their server RTT is measured)."""
        with self.store.reading():
            return [w.sid for room in self.store.waiting_rooms() for w in self.store.get_waiting(room)]

    # ------------------------------------------------------------------ probes

    def _start_probe(self, step: Step, room: str, rules: SignalingRules, batch: list[Waiter], decision: Decision, matcher: str) -> None:
        mm = rules.matchmaking
        now = self._now()
        probe_id = self._new_id()
        members = [ProbeMember(i, w.slot, w.sid) for i, w in enumerate(batch)]
        estimated = {}
        for i, a in enumerate(batch):
            for j in range(i + 1, len(batch)):
                b = batch[j]
                est = None if a.server_rtt_ms is None or b.server_rtt_ms is None else a.server_rtt_ms + b.server_rtt_ms
                estimated[f"{i}-{j}"] = _r1(est)
        self.store.put_probe(Probe(probe_id, rules.scene_id, room, members, now, now + mm.probe_timeout_s, estimated, decision.reason))
        slots = {w.slot for w in batch}
        waiters = self.store.get_waiting(room)
        for w in waiters:
            if w.slot in slots:
                w.reserved = probe_id
        self.store.set_waiting(room, waiters)
        n = len(members)
        for m in members:
            step.send(
                "probe",
                {
                    "probe_id": probe_id,
                    "scene_id": rules.scene_id,
                    "player_index": m.index,
                    "num_players": n,
                    "connections": [
                        {"peer_index": j, "role": "offer" if m.index < j else "answer"} for j in range(n) if j != m.index
                    ],
                    "ice_servers": self._ice_servers_for(rules, m.slot.subject_id),
                    "ice_transport_policy": rules.ice_transport_policy,
                    "impairment": rules.settings.get("impairment"),
                    "pings": mm.probe_pings,
                    "timeout_s": mm.probe_timeout_s,
                },
                m.sid,
            )
        step.decide({
            "event": "probe_start",
            "scene_id": rules.scene_id,
            "matcher": matcher,
            "probe_id": probe_id,
            "reason": decision.reason,
            "max_p2p_rtt_ms": mm.max_p2p_rtt_ms,
            "players": [self._player_entry(w) for w in batch],
            "pairs": self._pairs(batch),
        })

    def probe_signal(self, sid: str, message: Signal) -> Result:
        """Relay a probe's SDP/ICE message to another member (``message.game_id`` is the probe id)."""

        def body(step: Step) -> None:
            probe = self.store.get_probe(message.game_id)
            member = None if probe is None else probe.member_of(sid)
            if probe is None or member is None:
                step.refuse("not_in_probe", f"probe_signal: this socket is not in probe {message.game_id}")
                return
            target = next((m for m in probe.members if m.index == message.to), None)
            if target is None or target is member:
                step.refuse("bad_target", f"probe_signal: probe {probe.probe_id} has no other member {message.to}")
                return
            step.send(
                "probe_signal",
                {"probe_id": probe.probe_id, "from": member.index, "kind": message.kind, "data": message.data},
                target.sid,
            )

        return self._run(body)

    def probe_result(self, sid: str, report: ProbeReport) -> Result:
        """A member's measurements; the probe is judged once every member has reported."""

        def body(step: Step) -> None:
            probe = self.store.get_probe(report.probe_id)
            member = None if probe is None else probe.member_of(sid)
            if probe is None or member is None:
                # Judged already (timed out, or a member left): nothing to add.
                step.result.ack = {"ok": True, "status": "closed"}
                return
            member.report = {"rtt_ms": {str(k): v for k, v in report.rtt_ms.items()}, "path": report.path, "error": report.error}
            self.store.put_probe(probe)
            if all(m.report is not None for m in probe.members):
                self._judge_probe(step, probe, timed_out=False)

        return self._run(body)

    def _judge_probe(self, step: Step, probe: Probe, timed_out: bool, abandoned_by: str | None = None) -> None:
        rules = self.rules[probe.scene_id]
        limit = rules.matchmaking.max_p2p_rtt_ms
        self.store.delete_probe(probe.probe_id)
        pairs = []
        for i, a in enumerate(probe.members):
            for b in probe.members[i + 1 :]:
                samples = list((a.report or {}).get("rtt_ms", {}).get(str(b.index), []))
                samples += list((b.report or {}).get("rtt_ms", {}).get(str(a.index), []))
                measured = statistics.median(samples) if samples else None
                ok = measured is not None and (limit is None or measured <= limit)
                pairs.append({
                    "a": a.slot.subject_id, "b": b.slot.subject_id, "a_index": a.index, "b_index": b.index,
                    "estimated_ms": probe.estimated_ms.get(f"{a.index}-{b.index}"),
                    "probed_ms": _r1(measured), "samples": len(samples), "within_limit": ok,
                })
        waiters = self.store.get_waiting(probe.room)
        present = {w.slot: w for w in waiters if w.reserved == probe.probe_id}
        for w in waiters:
            if w.reserved == probe.probe_id:
                w.reserved = None
        self.store.set_waiting(probe.room, waiters)
        complete = len(present) == len(probe.members) and abandoned_by is None
        accepted = complete and all(p["within_limit"] for p in pairs)
        for m in probe.members:
            step.send("probe_end", {"probe_id": probe.probe_id, "outcome": "matched" if accepted else "rejected"}, m.sid)
        measured_all = [p["probed_ms"] for p in pairs if p["probed_ms"] is not None]
        paths = [m.report.get("path") for m in probe.members if m.report and m.report.get("path")]
        summary = {
            "probe_id": probe.probe_id,
            "rtt_ms": max(measured_all) if len(measured_all) == len(pairs) and pairs else None,
            "path": paths[0] if paths else None,
            "timed_out": timed_out,
            "errors": [m.report.get("error") for m in probe.members if m.report and m.report.get("error")],
            "duration_s": round(self._now() - probe.started, 3),
        }
        if accepted:
            batch = [present[m.slot] for m in probe.members]
            self._form(step, probe.room, rules, batch, probe.reason, self._matcher(rules).name, pairs, summary)
        else:
            if not complete:
                why = f"{abandoned_by or 'a member'} left (or reloaded) during the probe"
            else:
                bad = [p for p in pairs if not p["within_limit"]]
                for p in bad:
                    self._exclude(probe.members[p["a_index"]].slot, probe.members[p["b_index"]].slot)
                why = "; ".join(
                    f"{p['a']}~{p['b']}: "
                    + ("no connection" if p["probed_ms"] is None else f"{p['probed_ms']:.0f} ms > {limit} ms")
                    for p in bad
                )
            step.decide({
                "event": "probe_rejected",
                "scene_id": rules.scene_id,
                "probe_id": probe.probe_id,
                "reason": why,
                "max_p2p_rtt_ms": limit,
                "players": [self._player_entry(w) for w in present.values()],
                "pairs": pairs,
                "probe": summary,
            })
            self._match_room(step, probe.room, rules)
        self._announce_waiting(step, probe.room, self.store.get_waiting(probe.room), rules)

    def _abandon_probe(self, step: Step, probe_id: str, who: str) -> None:
        probe = self.store.get_probe(probe_id)
        if probe is None:
            return
        logger.info("probe %s abandoned: %s left the waiting room", probe_id, who)
        self._judge_probe(step, probe, timed_out=False, abandoned_by=who)

    def _exclude(self, a: Slot, b: Slot) -> None:
        for me, other in ((a, b), (b, a)):
            history = self._history(me)
            if other.subject_id not in history.excluded:
                history.excluded.append(other.subject_id)
                self.store.put_history(history)

    # ------------------------------------------------------------------ re-pairing

    def connection_failed(self, sid: str, failure: ConnectionFailure) -> Result:
        """The sender's WebRTC connection to its game's peers failed before the game started."""

        def body(step: Step) -> None:
            connection = self.store.get_connection(sid)
            if connection is not None:
                record = self.store.get_slot_game(connection.slot)
                if record is not None and record.game_id == failure.game_id and record.state in (SeatState.REQUEUED, SeatState.ENDED):
                    # A peer reported it first: this seat was already handled.
                    status = "requeued" if record.state is SeatState.REQUEUED else "ended"
                    step.result.ack = {"ok": True, "status": status}
                    return
            located = self._seat_for(step, sid, failure.game_id, "connection_failed")
            if located is None:
                return
            game, seat = located
            status = self._fail_connection(step, game, seat, failure)
            step.result.ack = {"ok": True, "status": status}

        return self._run(body)

    def _fail_connection(self, step: Step, game: Game, reporter: Seat, failure: ConnectionFailure) -> str:
        rules = self.rules[game.scene_id]
        mm = rules.matchmaking
        game.connection_failed = True
        now = self._now()
        put_back: list[tuple[Seat, str, MatchHistory]] = []
        players = []
        live = game.live_seats()
        for seat in live:
            for other in game.seats:
                if other is not seat:
                    self._exclude(seat.slot, other.slot)
            history = self._history(seat.slot)
            sid = seat.sid
            again = (
                mm.requeue_on_connection_failure
                and not seat.bot
                and seat.state is SeatState.CONNECTED
                and sid is not None
                and history.requeues < mm.max_requeues
            )
            if again:
                history.requeues += 1
                self.store.put_history(history)
                seat.state = SeatState.REQUEUED
                put_back.append((seat, sid, history))  # type: ignore[arg-type]
            else:
                seat.state = SeatState.ENDED
            seat.sid = None
            seat.grace_deadline = None
            self.store.set_slot_game(seat.slot, SlotGame(game.game_id, seat.state))
            players.append({"subject_id": seat.slot.subject_id, "player_index": seat.player_index, "bot": seat.bot,
                            "requeued": again, "requeues": history.requeues})
            if again:
                message = "Could not connect to your partner; looking for another partner..."
            elif not mm.requeue_on_connection_failure:
                message = "Could not connect to your partner. The game cannot take place."
            else:
                message = f"Could not connect to a partner ({history.requeues} attempts). The game cannot take place."
            step.send(
                "requeued",
                {"game_id": game.game_id, "requeued": again, "reason": failure.code, "message": message},
                sid,
            )
            if not again and not seat.bot:
                # No partner left to try: the participant's study ends (docs/participants.md).
                step.result.outcomes.append(SlotOutcome(
                    seat.slot, "connection_failed", "peer", f"{failure.code}: {failure.detail}"[:300], game.game_id))
        self.store.put_game(game)
        self._close_if_done(step, game)
        step.decide({
            "event": "requeue",
            "scene_id": game.scene_id,
            "game_id": game.game_id,
            "condition": game.condition,
            "reason": f"player {reporter.player_index} reported {failure.code}: {failure.detail}"[:300],
            "players": players,
        })
        room = fifo_room(game.scene_id)
        for seat, sid, history in put_back:
            self._insert_waiter(room, Waiter(seat.slot, sid, history.since, now + rules.wait_timeout_s))
            step.result.pings.append(sid)
        if put_back:
            self._match_room(step, room, rules)
            self._announce_waiting(step, room, self.store.get_waiting(room), rules)
        return "requeued" if reporter.state is SeatState.REQUEUED else "ended"

    # ------------------------------------------------------------------ timeouts and bots

    def _fill_of_bot(self, subject_id: str) -> BotFill | None:
        if not subject_id.startswith(BOT_SUBJECT_PREFIX):
            return None
        for fill_id in self.store.fill_ids():
            fill = self.store.get_fill(fill_id)
            if fill is not None and subject_id in fill.bots:
                return fill
        return None

    def _bot_joins(self, step: Step, fill: BotFill, slot: Slot, sid: str) -> None:
        if fill.cancelled:
            step.refuse("bot_not_needed", f"bot fill {fill.fill_id} was given up; this bot is not needed")
            return
        waiters = self.store.get_waiting(fill.room)
        if any(w.slot == slot for w in waiters):
            for w in waiters:
                if w.slot == slot:
                    w.sid = sid
            self.store.set_waiting(fill.room, waiters)
        else:
            self._insert_waiter(fill.room, Waiter(slot, sid, self._now(), fill.deadline, reserved=fill.fill_id, bot=True))
        step.result.ack = {"ok": True, "status": "waiting"}
        self._check_fill(step, fill.fill_id)
        located = self._live_seat(slot)
        if located is not None:
            step.result.ack = {"ok": True, "status": "matched", "game_id": located[0].game_id}

    def _check_fill(self, step: Step, fill_id: str) -> None:
        """Form the fill's game once every bot is here; cancel it when its humans are gone."""
        fill = self.store.get_fill(fill_id)
        if fill is None or fill.cancelled:
            return
        rules = self.rules[fill.scene_id]
        members = [w for w in self.store.get_waiting(fill.room) if w.reserved == fill_id]
        humans = [w for w in members if not w.bot]
        bots = [w for w in members if w.bot]
        if not humans:
            self._cancel_fill(step, fill, "every waiting participant of the fill left")
            return
        if len(bots) < len(fill.bots):
            return
        self.store.delete_fill(fill_id)
        batch = humans + bots
        self._form(step, fill.room, rules, batch, f"lobby timeout: {len(bots)} bot(s) fill the empty seats", "bot_fill",
                   self._pairs(batch), None, event="bot_match")

    def _cancel_fill(self, step: Step, fill: BotFill, why: str) -> None:
        rules = self.rules[fill.scene_id]
        fill.cancelled = True
        self.store.put_fill(fill)
        waiters = self.store.get_waiting(fill.room)
        members = [w for w in waiters if w.reserved == fill.fill_id]
        self.store.set_waiting(fill.room, [w for w in waiters if w.reserved != fill.fill_id])
        now = self._now()
        for w in members:
            message = "no other participant could be matched with you, and no computer partner could be started"
            step.send(
                "wait_timeout",
                {
                    "scene_id": rules.scene_id,
                    "reason": "bot_unavailable",
                    "message": message,
                    "waited_s": round(now - w.since, 3),
                    "redirect_url": rules.timeout_redirect_url,
                },
                w.sid,
            )
            if not w.bot:
                step.result.outcomes.append(SlotOutcome(
                    w.slot, "lobby_timeout", "bot_unavailable", message, None, rules.timeout_redirect_url))
        step.decide({
            "event": "bot_fill_failed",
            "scene_id": rules.scene_id,
            "fill_id": fill.fill_id,
            "reason": why,
            "players": [self._player_entry(w) for w in members],
        })

    def _start_fill(self, step: Step, room: str, rules: SignalingRules, first: Waiter) -> None:
        wr = rules.waiting_room
        waiters = self.store.get_waiting(room)
        free = [w for w in waiters if w.matchable and w.slot != first.slot]
        view = self._view(rules, waiters, [first, *free])
        by_key = view.by_key()
        chosen = [by_key[first.slot.key()]]
        for c in view.candidates[1:]:
            if len(chosen) >= rules.players - 1:
                break
            if all(view.allowed(m, c) and view.within_limit(m, c) for m in chosen):
                chosen.append(c)
        keys = {c.key for c in chosen}
        humans = [w for w in waiters if w.slot.key() in keys]
        fill_id = self._new_id()
        bots = [f"{BOT_SUBJECT_PREFIX}{fill_id}-{i}" for i in range(rules.players - len(humans))]
        deadline = self._now() + wr.bot_start_timeout_s
        self.store.put_fill(BotFill(fill_id, rules.scene_id, room, [h.slot for h in humans], bots, deadline))
        for w in waiters:
            if w.slot.key() in keys:
                w.reserved = fill_id
                w.deadline = deadline
        self.store.set_waiting(room, waiters)
        step.result.bots.append(BotRequest(fill_id, rules.scene_id, tuple(bots), wr.bot_actions, self.rng.getrandbits(31)))
        step.decide({
            "event": "bot_fill",
            "scene_id": rules.scene_id,
            "fill_id": fill_id,
            "reason": f"{first.slot.subject_id} waited {self._now() - first.since:.0f} s; policy bot",
            "players": [self._player_entry(w) for w in humans],
            "bots": bots,
            "actions": wr.bot_actions,
        })

    def bot_launch_failed(self, fill_id: str, why: str) -> Result:
        """The server could not start a fill's bots: its waiters leave after all."""

        def body(step: Step) -> None:
            fill = self.store.get_fill(fill_id)
            if fill is not None and not fill.cancelled:
                self._cancel_fill(step, fill, why)
                self._announce_waiting(step, fill.room, self.store.get_waiting(fill.room), self.rules[fill.scene_id])

        return self._run(body)

    def _start_smaller(self, step: Step, room: str, rules: SignalingRules, first: Waiter) -> bool:
        waiters = self.store.get_waiting(room)
        free = [w for w in waiters if w.matchable and w.slot != first.slot]
        view = self._view(rules, waiters, [first, *free])
        chosen = [view.candidates[0]]
        for c in view.candidates[1:]:
            if len(chosen) >= rules.players:
                break
            if all(view.allowed(m, c) and view.within_limit(m, c) for m in chosen):
                chosen.append(c)
        minimum = rules.waiting_room.min_players or rules.players
        if len(chosen) < minimum:
            return False
        keys = [c.key for c in chosen]
        by_key = {w.slot.key(): w for w in waiters}
        batch = [by_key[k] for k in keys]
        self._form(step, room, rules, batch, f"lobby timeout: {len(batch)} of {rules.players} players (minimum {minimum})",
                   "start_with_fewer", self._pairs(batch), None, event="start_with_fewer")
        return True

    def _expire_room(self, step: Step, room: str, now: float) -> None:
        rules = self.rules[room_scene(room)]
        group = room.startswith("group:")
        policy = "leave" if group else rules.waiting_room.on_timeout
        for waiter in [w for w in self.store.get_waiting(room) if w.away_until is not None and w.away_until <= now]:
            self._never_back(step, room, rules, waiter)
        while True:
            waiters = self.store.get_waiting(room)
            expired = [w for w in waiters if w.deadline <= now and w.matchable]
            if not expired:
                break
            first = expired[0]
            if policy == "bot":
                self._start_fill(step, room, rules, first)
                continue
            if policy == "start_with_fewer" and self._start_smaller(step, room, rules, first):
                continue
            self._time_out(step, room, rules, first, group, policy)
        self._announce_waiting(step, room, self.store.get_waiting(room), rules)

    def _keep_place(self, step: Step, room: str, slot: Slot, sid: str, rules: SignalingRules) -> bool:
        """A waiter's socket was lost with its server process: keep its place (out of
        matching) for the scene's reconnect grace. False: nothing kept (no grace, or the
        waiter is held by a probe or a fill, which go on without it)."""
        waiters = self.store.get_waiting(room)
        kept = [w for w in waiters if w.slot == slot and w.sid == sid and not w.bot and w.reserved is None]
        if rules.reconnect_grace_s <= 0 or not kept:
            return False
        for waiter in kept:
            waiter.away_until = self._now() + rules.reconnect_grace_s
        self.store.set_waiting(room, waiters)
        logger.info("subject %s: connection lost with its server process; waiting place kept %.1f s",
                    slot.subject_id, rules.reconnect_grace_s)
        return True

    def _never_back(self, step: Step, room: str, rules: SignalingRules, waiter: Waiter) -> None:
        self.store.set_waiting(room, [w for w in self.store.get_waiting(room) if w.slot != waiter.slot])
        detail = (f"connection lost while waiting (its server process died) and not back within the reconnect "
                  f"grace period ({rules.reconnect_grace_s:g} s)")
        logger.info("subject %s left the waiting room: %s", waiter.slot.subject_id, detail)
        step.result.outcomes.append(SlotOutcome(waiter.slot, "connection_failed", "server", detail, None))

    def _time_out(self, step: Step, room: str, rules: SignalingRules, waiter: Waiter, group: bool, policy: str) -> None:
        self.store.set_waiting(room, [w for w in self.store.get_waiting(room) if w.slot != waiter.slot])
        waited = self._now() - waiter.since
        message = (
            f"your group members from the previous game did not all arrive within {waited:.0f} s"
            if group
            else f"no other participant could be matched with you within {waited:.0f} s"
        )
        step.send(
            "wait_timeout",
            {
                "scene_id": rules.scene_id,
                "reason": "group" if group else "no_match",
                "message": message,
                "waited_s": round(waited, 3),
                "redirect_url": rules.timeout_redirect_url,
            },
            waiter.sid,
        )
        step.result.outcomes.append(SlotOutcome(
            waiter.slot, "lobby_timeout", "group" if group else "no_match", message, None, rules.timeout_redirect_url))
        step.decide({
            "event": "timeout",
            "scene_id": rules.scene_id,
            "policy": policy,
            "reason": "group" if group else "no_match",
            "players": [self._player_entry(waiter)],
        })

    def _timed_rooms(self) -> list[str]:
        """FIFO rooms whose matcher can change its mind with time (rtt_wait_s, a researcher's
        matcher): asked again at every sweep. FIFO itself cannot."""
        timed = [scene_id for scene_id, rules in self.rules.items() if not isinstance(self._matcher(rules), FifoMatcher)]
        if not timed:
            return []
        rooms = set(self.store.waiting_rooms())
        return [fifo_room(scene_id) for scene_id in timed if fifo_room(scene_id) in rooms]

    def _sweep_matching(self, step: Step, now: float, due: list[str]) -> None:
        """Probes, bot fills and waiting rooms whose deadline passed (``due``: the store's
        deadline index), and the rooms of matchers that weigh time."""
        for member in due:
            kind, key = member.split(":", 1)
            if kind == "probe":
                probe = self.store.get_probe(key)
                if probe is not None and probe.deadline <= now:
                    self._judge_probe(step, probe, timed_out=True)
            elif kind == "fill":
                fill = self.store.get_fill(key)
                if fill is not None and not fill.cancelled and fill.deadline <= now:
                    rules = self.rules[fill.scene_id]
                    self._cancel_fill(step, fill, f"the bots did not join within {rules.waiting_room.bot_start_timeout_s:g} s")
                    self._announce_waiting(step, fill.room, self.store.get_waiting(fill.room), rules)
        timed = self._timed_rooms()
        rooms = timed + [m.split(":", 1)[1] for m in due if m.startswith("room:") and m.split(":", 1)[1] not in timed]
        for room in rooms:
            rules = self.rules.get(room_scene(room))
            if rules is None:
                continue
            if room in timed:
                self._match_room(step, room, rules)
            if any((w.deadline <= now and w.matchable) or (w.away_until is not None and w.away_until <= now)
                   for w in self.store.get_waiting(room)):
                self._expire_room(step, room, now)
