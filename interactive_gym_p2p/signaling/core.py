"""Signaling decisions: waiting rooms, games, seats, relaying, reconnects.

:class:`Signaling` knows nothing about Socket.IO. Each public method is one step: it takes
the store's transaction, decides, hands the resulting events to the transport (still inside
the transaction, so two steps' events never interleave: a peer cannot receive an offer
before the "game ready" that names its sender), and returns a :class:`Result` with the ack
and the games created or ended, for hooks the caller runs outside the transaction. The
participant outcomes a step gives are recorded (``record_outcome``) before its events go out.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import secrets
import sys
import time
from typing import Any, Callable, Mapping, Protocol

from ..matchmaking.conditions import Completion, choose_condition
from ..scene_settings import SignalingRules
from ..validation.tokens import UploadTokens
from .matching import Matching, group_room, room_scene
from .messages import GameRef, Relay, Signal
from .records import (
    Connection,
    Game,
    GameEnd,
    GameInfo,
    Group,
    Outbox,
    PlayerInfo,
    Result,
    Seat,
    SeatState,
    Slot,
    SlotGame,
    SlotOutcome,
    Waiter,
)
from .step import Step, utc_now
from .store import SignalingStore

logger = logging.getLogger(__name__)

MAX_PENDING_SIGNALS = 256
"""Signals kept for a seat not heard from yet (a browser trickles a few dozen candidates)."""

EXIT_AFTER_COMMIT_ENV = "IGP2P_TEST_HOOK_EXIT_AFTER_COMMIT"
"""TEST HOOK, never set in a deployment: a process whose step commits an event of this name
(e.g. ``game_ready``) exits at once, before emitting anything: a crash exactly between a
step's commit and its events (tests/test_cluster_processes.py)."""

IceServersProvider = Callable[[str], list[dict[str, Any]]]
OutcomeRecorder = Callable[[SlotOutcome], None]


def _exit_after_commit(event: str) -> None:
    sys.stderr.write(f"{EXIT_AFTER_COMMIT_ENV}: exiting after committing a step with a {event!r} event\n")
    sys.stderr.flush()
    os._exit(70)


def no_ice_servers(participant_id: str) -> list[dict[str, Any]]:
    """The default provider: no STUN/TURN at all (never a public server)."""
    return []


def default_upload_url(game_id: str, player_index: int) -> str:
    return f"/p2p/exports/{game_id}/{player_index}"


class Transport(Protocol):
    def emit(self, event: str, payload: Any, sid: str, event_id: str | None = None) -> None:
        """``event_id`` (several processes): the socket's holder delivers an id once."""


class Signaling(Matching):
    """Matchmaking and relay for the P2P scenes of one experiment."""

    def __init__(
        self,
        rules: Mapping[str, SignalingRules],
        *,
        store: SignalingStore,
        transport: Transport,
        ice_servers: IceServersProvider = no_ice_servers,
        upload_tokens: UploadTokens | None = None,
        upload_url: Callable[[str, int], str] = default_upload_url,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        owner: str | None = None,
    ) -> None:
        self.rules = dict(rules)
        self.store = store
        self.transport = transport
        self.ice_servers = ice_servers
        self.upload_tokens = upload_tokens
        self.upload_url = upload_url
        self.clock = clock
        # CSPRNG: seeds, game ids and player indices must not be guessable or biased.
        self.rng = rng if rng is not None else secrets.SystemRandom()
        self._matchers: dict[str, Any] = {}
        self.owner = owner
        """This server process on the study's roll when several share a store (their steps'
        events then go through an outbox), else None."""
        self.exit_after_commit = os.environ.get(EXIT_AFTER_COMMIT_ENV) or None
        """TEST HOOK (see :data:`EXIT_AFTER_COMMIT_ENV`)."""
        self.record_outcome: OutcomeRecorder | None = None
        """Records a participant outcome a step gives (lobby timeout, dropped seat) after the
        step's commit and before its events go out, still under the step's lock: it must only
        record (never call back into signaling, nor take a lock held around signaling calls).
        The participant flow sets it to its ledger; everything else an outcome sets off runs
        in the caller's hooks after the step (``Result.outcomes``)."""

    # ------------------------------------------------------------------ plumbing

    def _run(self, body: Callable[[Step], Any]) -> Result:
        step = Step()
        with self.store.transaction():
            body(step)
            # Several processes: the step's events are committed with its state (an outbox),
            # so a process that dies before they all went out leaves them for the sweeping
            # process to re-deliver (disconnect_owner); each carries an id its socket's holder
            # delivers once.
            outbox = self._outbox(step)
            # The step's state is durable before anyone hears of it (a store shared by several
            # processes commits here), and so are the outcomes it gives participants: a page
            # that reacts to an event at once (reconnects, joins again) finds its outcome
            # recorded. Events still go out inside the lock, in order.
            self.store.commit()
            if self.exit_after_commit is not None and any(o.event == self.exit_after_commit for o in step.out):
                _exit_after_commit(self.exit_after_commit)
            self._record_outcomes(step.result.outcomes)
            for out in step.out:
                try:
                    if out.event_id is None:
                        self.transport.emit(out.event, out.payload, out.to)
                    else:
                        self.transport.emit(out.event, out.payload, out.to, event_id=out.event_id)
                except Exception:  # one dead socket must not stop the others' events
                    logger.exception("emitting %s to %s failed", out.event, out.to)
            if outbox is not None:
                self.store.delete_outbox(outbox.step_id)  # written with the lock's release
        return step.result

    def _outbox(self, step: Step) -> Outbox | None:
        if self.owner is None or not step.out:
            return None
        step_id = self._new_id()
        # A re-delivered event keeps its first id.
        step.out = [o if o.event_id is not None else dataclasses.replace(o, event_id=f"{step_id}.{i}")
                    for i, o in enumerate(step.out)]
        outbox = Outbox(step_id, self.owner, self._now(), list(step.out))
        self.store.put_outbox(outbox)
        return outbox

    def _record_outcomes(self, outcomes: list[SlotOutcome]) -> None:
        if self.record_outcome is None:
            return
        for outcome in outcomes:
            try:
                self.record_outcome(outcome)
            except Exception:  # the step's events still go out; the on_outcome hook tries again
                logger.exception("recording outcome %s of %s failed", outcome.outcome, outcome.slot.key())

    def _now(self) -> float:
        return self.clock()

    def _new_id(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    # ------------------------------------------------------------------ sockets

    def connect(self, sid: str, slot: Slot, owner: str | None = None) -> Result:
        """A socket showed a valid ticket for ``slot`` (``owner``: the server process holding it)."""

        def body(step: Step) -> None:
            if slot.scene_id not in self.rules:
                step.refuse("unknown_scene", f"scene {slot.scene_id!r} is not a P2P scene of this experiment")
                return
            self.store.put_connection(Connection(sid, slot, owner))

        return self._run(body)

    def disconnect(self, sid: str) -> Result:
        """A socket closed: leave the waiting room, or hold the seat for the grace period."""
        return self._run(lambda step: self._disconnect(step, sid))

    def disconnect_owner(self, owner: str) -> Result:
        """A server process died: every socket it held is closed (its participants reconnect
        through another process within their grace period and keep their seats)."""

        def body(step: Step) -> None:
            # Its last step's events first (committed, perhaps not all emitted): in their order,
            # before what its death sets off. An event its socket's holder already delivered is
            # dropped there (same id).
            boxes = sorted((b for b in self.store.outboxes() if b.owner == owner), key=lambda b: b.at)
            for box in boxes:
                logger.warning("server process %s is gone: re-delivering the %d event(s) of its step %s",
                               owner, len(box.events), box.step_id)
                step.out.extend(box.events)
                self.store.delete_outbox(box.step_id)
            sids = sorted(c.sid for c in self.store.connections() if c.owner == owner)
            if sids:
                logger.warning("server process %s is gone: %d signaling socket(s) closed", owner, len(sids))
            for sid in sids:
                self._disconnect(step, sid, lost=True)

        return self._run(body)

    def _disconnect(self, step: Step, sid: str, lost: bool = False) -> None:
        """``lost``: the socket went with its server process (the page did not leave): a
        waiting place is kept for the reconnect grace, as a seat is."""
        connection = self.store.get_connection(sid)
        self.store.delete_connection(sid)
        if connection is None:
            return
        slot = connection.slot
        room = self.store.get_waiting_room_of(slot) if lost else None
        if room is None or not self._keep_place(step, room, slot, sid, self.rules[room_scene(room)]):
            self._leave_waiting_room(step, slot, only_sid=sid)
        located = self._live_seat(slot)
        if located is None or located[1].sid != sid:
            return
        game, seat = located
        rules = self.rules[game.scene_id]
        if rules.reconnect_grace_s <= 0:
            self._depart(step, game, seat, SeatState.DROPPED, "disconnected")
            return
        seat.state = SeatState.INTERRUPTED
        seat.sid = None
        seat.grace_deadline = self._now() + rules.reconnect_grace_s
        self.store.put_game(game)
        self.store.set_slot_game(slot, SlotGame(game.game_id, seat.state))
        logger.info("game %s: player %d interrupted, seat held %.1f s", game.game_id, seat.player_index, rules.reconnect_grace_s)
        for other in game.seats:
            if other.state is SeatState.CONNECTED:
                step.send(
                    "peer_interrupted",
                    {"game_id": game.game_id, "player_index": seat.player_index, "grace_s": rules.reconnect_grace_s},
                    other.sid,
                )

    # ------------------------------------------------------------------ joining

    def join(self, sid: str, playing: str | None = None) -> Result:
        """Take a seat: rejoin the slot's live game, or wait to be matched. ``playing``: the
        game the page says it still plays (its socket reconnected; its WebRTC is up)."""

        def body(step: Step) -> None:
            connection = self.store.get_connection(sid)
            if connection is None:
                step.refuse("not_connected", "this socket has no valid signaling ticket")
                return
            slot = connection.slot
            rules = self.rules[slot.scene_id]
            record = self.store.get_slot_game(slot)
            if record is not None and record.state is not SeatState.REQUEUED:
                located = self._live_seat(slot)
                if located is not None:
                    self._rejoin(step, located[0], located[1], sid, rules, resumed=playing == located[0].game_id)
                else:
                    self._refuse_finished_slot(step, record, rules)
                return
            room = self.store.get_waiting_room_of(slot)
            if room is not None:
                self._rebind_waiter(step, room, slot, sid, rules)
                return
            fill = self._fill_of_bot(slot.subject_id)
            if fill is not None and fill.scene_id == slot.scene_id:
                self._bot_joins(step, fill, slot, sid)
                return
            group = self.store.get_group(slot.subject_id) if rules.wait_for_known_group else None
            if group is not None and len(group.subject_ids) == rules.players:
                deadline = self._now() + rules.group_wait_timeout_s
                self._enter_room(step, group_room(slot.scene_id, group.group_id), Waiter(slot, sid, self._now(), deadline), rules, group)
            else:
                if group is not None:
                    logger.info(
                        "subject %s: known group of %d does not fit %d players; FIFO matching",
                        slot.subject_id, len(group.subject_ids), rules.players,
                    )
                self._enter_fifo(step, slot, sid, rules)

        return self._run(body)

    def _refuse_finished_slot(self, step: Step, record: SlotGame, rules: SignalingRules) -> None:
        gid = record.game_id
        if record.state is SeatState.DROPPED:
            step.refuse(
                "seat_expired",
                f"you were away longer than the reconnect grace period ({rules.reconnect_grace_s:g} s); "
                f"game {gid} went on without you",
            )
        elif record.state is SeatState.LEFT:
            step.refuse("left_game", f"you left game {gid}; its seat cannot be taken again")
        elif record.state is SeatState.ENDED:
            step.refuse("game_over", f"game {gid} was ended because a peer left")
        elif record.state is SeatState.STOPPED:
            step.refuse("game_over", f"game {gid} was ended by the researcher")
        else:
            step.refuse("game_over", f"game {gid} is over")

    def _rebind_waiter(self, step: Step, room: str, slot: Slot, sid: str, rules: SignalingRules) -> None:
        waiters = self.store.get_waiting(room)
        probes = []
        back = False
        for waiter in waiters:
            if waiter.slot == slot and waiter.away_until is not None:
                waiter.away_until = None  # back within the grace: matchable again
                back = True
            if waiter.slot == slot and waiter.sid != sid:
                self._supersede(step, waiter.sid)
                waiter.sid = sid
                if waiter.reserved is not None and self.store.get_probe(waiter.reserved) is not None:
                    probes.append(waiter.reserved)
        self.store.set_waiting(room, waiters)
        step.result.pings.append(sid)
        for probe_id in probes:
            # The new page knows nothing of the probe the old one was running.
            self._abandon_probe(step, probe_id, slot.subject_id)
        if back and room.startswith("fifo:") and self._match_room(step, room, rules):
            located = self._live_seat(slot)
            if located is not None:
                step.result.ack = {"ok": True, "status": "matched", "game_id": located[0].game_id}
                return
        else:
            self._announce_waiting(step, room, self.store.get_waiting(room), rules)
        step.result.ack = {"ok": True, "status": "waiting"}

    def _enter_room(self, step: Step, room: str, waiter: Waiter, rules: SignalingRules, group: Group) -> None:
        """A known group's room: the game forms when every member is here."""
        self._insert_waiter(room, waiter)
        waiters = self.store.get_waiting(room)
        step.result.pings.append(waiter.sid)
        if not {w.slot.subject_id for w in waiters} >= set(group.subject_ids):
            self._announce_waiting(step, room, waiters, rules)
            step.result.ack = {"ok": True, "status": "waiting"}
            return
        batch, rest = waiters[: rules.players], waiters[rules.players :]
        self.store.set_waiting(room, rest)
        game = self._create_game(step, rules, batch, {"matcher": "known_group", "reason": f"group {group.group_id}"})
        step.decide({
            "event": "group_match", "scene_id": rules.scene_id, "game_id": game.game_id, "condition": game.condition,
            "reason": f"known group {group.group_id} from scene {group.source_scene_id}",
            "players": [self._player_entry(w) for w in batch],
        })
        step.result.ack = {"ok": True, "status": "matched", "game_id": game.game_id}

    def _supersede(self, step: Step, old_sid: str | None) -> None:
        if old_sid is None:
            return
        step.send("superseded", {"message": "a newer connection of this participant took over"}, old_sid)
        step.result.disconnect.append(old_sid)

    # ------------------------------------------------------------------ games

    def _create_game(self, step: Step, rules: SignalingRules, batch: list[Waiter], match: dict[str, Any]) -> Game:
        game_id = self._new_id()
        # A scene's fixed seed (environment(seed=...)) makes every game replay the same episodes.
        seed = self.rng.getrandbits(32) if rules.seed is None else rules.seed
        # The participants' seats (AI seats are nobody's): roles uniformly at random, as
        # Interactive Gym assigns them.
        indices = list(rules.human_seats)[: len(batch)] if rules.ai_seats else list(range(len(batch)))
        self.rng.shuffle(indices)
        seats = []
        for waiter, index in zip(batch, indices):
            token = None
            if rules.export and self.upload_tokens is not None:
                token = self.upload_tokens.issue(game_id, index, waiter.slot.subject_id)
            seats.append(Seat(index, waiter.slot, waiter.sid, SeatState.CONNECTED, None, token, bot=waiter.bot))
        seats.sort(key=lambda s: s.player_index)
        created_at = utc_now()
        condition = None
        if rules.conditions:
            chosen, why = choose_condition(
                rules.conditions, self.store.get_condition_counts(rules.scene_id), self._running_conditions(rules.scene_id), self.rng
            )
            condition = chosen.name
            match = {**match, "condition_reason": why}
        game = Game(game_id, rules.scene_id, seed, seats, created_at, condition, dict(match),
                    num_players=rules.seats if rules.ai_seats else None, ai_seats=tuple(rules.ai_seats))
        self.store.put_game(game)
        for seat in seats:
            self.store.set_slot_game(seat.slot, SlotGame(game_id, seat.state))
        for seat in seats:
            step.send("game_ready", self._ready_payload(game, seat, rules, rejoin=False), seat.sid)
        step.result.created.append(
            GameInfo(game_id, rules.scene_id, seed, tuple(self._player_infos(game, rules)), rules.settings_for(condition),
                     created_at, condition, ai_seats=tuple(game.ai_seats))
        )
        logger.info(
            "game %s created in scene %s%s: %s",
            game_id, rules.scene_id, "" if condition is None else f" (condition {condition})",
            ", ".join(f"{s.player_index}={s.slot.subject_id}{' (bot)' if s.bot else ''}" for s in seats),
        )
        return game

    def _running_conditions(self, scene_id: str) -> dict[str, int]:
        """Games in progress per condition (bot games left out: they never count)."""
        running: dict[str, int] = {}
        for game_id in self.store.game_ids():
            game = self.store.get_game(game_id)
            if game is not None and game.scene_id == scene_id and game.condition is not None and not game.has_bot:
                running[game.condition] = running.get(game.condition, 0) + 1
        return running

    def load_condition_counts(self, counts: dict[str, dict[str, int]]) -> None:
        """Completed games per scene and condition from the durable ledger (at start). A count
        the store already holds is never lowered (another process of the study may have
        counted a game the ledger file does not show yet)."""
        with self.store.transaction():
            for scene_id, per_condition in counts.items():
                if scene_id in self.rules:
                    held = self.store.get_condition_counts(scene_id)
                    merged = {c: max(n, held.get(c, 0)) for c, n in per_condition.items()}
                    merged.update({c: n for c, n in held.items() if c not in merged})
                    if merged != held:
                        self.store.set_condition_counts(scene_id, merged)

    def _player_infos(self, game: Game, rules: SignalingRules) -> list[PlayerInfo]:
        return [
            PlayerInfo(s.player_index, s.slot.subject_id, None if rules.agent_ids is None else rules.agent_ids[s.player_index], s.bot)
            for s in game.seats
        ]

    def _ice_servers_for(self, rules: SignalingRules, subject_id: str) -> list[dict[str, Any]]:
        if rules.turn is False:
            return []
        if rules.turn is not True:
            return [dict(server) for server in rules.turn]
        try:
            return list(self.ice_servers(subject_id))
        except Exception:
            logger.exception("ice_servers_provider failed for %s; sending no ICE servers", subject_id)
            return []

    def _ready_payload(self, game: Game, seat: Seat, rules: SignalingRules, rejoin: bool) -> dict[str, Any]:
        me = seat.player_index
        players = [
            {"player_index": p.player_index, "subject_id": p.subject_id, "agent_id": p.agent_id,
             "state": game.seat_at(p.player_index).state.value, "bot": p.bot}  # type: ignore[union-attr]
            for p in self._player_infos(game, rules)
        ]
        upload = None
        if seat.upload_token is not None:
            upload = {"url": self.upload_url(game.game_id, me), "token": seat.upload_token}
        return {
            "game_id": game.game_id,
            "scene_id": game.scene_id,
            "seed": game.seed,
            "player_index": me,
            "num_players": game.size,
            "players": players,
            # Seats no participant takes: every page's environment plays them (ai_policy.py).
            "ai_seats": [dict(a) for a in game.ai_seats],
            # Full mesh; for each pair the lower index makes the offer, so no glare.
            "connections": [
                {"peer_index": s.player_index, "role": "offer" if me < s.player_index else "answer"}
                for s in game.seats
                if s.player_index != me
            ],
            "ice_servers": self._ice_servers_for(rules, seat.slot.subject_id),
            "ice_transport_policy": rules.ice_transport_policy,
            "upload": upload,
            "settings": rules.settings_for(game.condition),
            "condition": game.condition,
            "rejoin": rejoin,
        }

    def _live_seat(self, slot: Slot) -> tuple[Game, Seat] | None:
        record = self.store.get_slot_game(slot)
        if record is None:
            return None
        game = self.store.get_game(record.game_id)
        seat = None if game is None else game.seat_of(slot)
        if game is None or seat is None or not seat.state.live:
            return None
        return game, seat

    def _rejoin(self, step: Step, game: Game, seat: Seat, sid: str, rules: SignalingRules, resumed: bool = False) -> None:
        """The slot's socket is back. ``resumed``: the same page, whose signaling socket
        reconnected while its WebRTC connections stayed up (the others renegotiate nothing);
        else a new page (a reload), which needs new connections."""
        new_socket = seat.sid != sid
        was_interrupted = seat.state is SeatState.INTERRUPTED
        # A page never heard from in this game did not play it: its game_ready went to a socket
        # that died with its server process (or it reloaded before its first signal). It takes
        # the seat as if matched now, gets the signals sent to it meanwhile, and the others keep
        # the connection attempt they started (a renegotiation would race their first offer).
        first_contact = new_socket and not resumed and not seat.heard and len(game.seats) > 1
        if new_socket:
            self._supersede(step, seat.sid)
        seat.sid = sid
        seat.state = SeatState.CONNECTED
        seat.grace_deadline = None
        pending, seat.pending = (seat.pending, []) if first_contact else ([], seat.pending)
        self.store.put_game(game)
        self.store.set_slot_game(seat.slot, SlotGame(game.game_id, seat.state))
        payload = self._ready_payload(game, seat, rules, rejoin=not first_contact)
        payload["resumed"] = resumed
        step.send("game_ready", payload, sid)
        for signal in pending:
            step.send("signal", {"game_id": game.game_id, **signal}, sid)
        if first_contact:
            logger.info("game %s: player %d took its seat (%d signal(s) replayed)", game.game_id, seat.player_index, len(pending))
            if was_interrupted:  # the others were told it was away: it is back, nothing to redo
                for other in game.seats:
                    if other is not seat and other.state is SeatState.CONNECTED:
                        step.send("peer_rejoined", {"game_id": game.game_id, "player_index": seat.player_index, "resumed": True},
                                  other.sid)
            step.result.ack = {"ok": True, "status": "matched", "game_id": game.game_id}
            return
        if new_socket:
            logger.info("game %s: player %d %s", game.game_id, seat.player_index,
                        "reconnected (its game went on)" if resumed else "rejoined")
        # A resumed page whose seat was still connected (its old socket not noticed gone yet)
        # was never reported away: the others hear nothing.
        if new_socket and (was_interrupted or not resumed):
            for other in game.seats:
                if other is not seat and other.state is SeatState.CONNECTED:
                    step.send("peer_rejoined", {"game_id": game.game_id, "player_index": seat.player_index, "resumed": resumed},
                              other.sid)
        step.result.ack = {"ok": True, "status": "rejoined", "game_id": game.game_id, "resumed": resumed}

    def _depart(self, step: Step, game: Game, seat: Seat, state: SeatState, reason: str) -> None:
        """A seat stops being live; tell the others and apply the disconnect policy."""
        seat.state = state
        seat.sid = None
        seat.grace_deadline = None
        self.store.set_slot_game(seat.slot, SlotGame(game.game_id, state))
        if state is SeatState.DROPPED:
            self.store.remove_from_group(seat.slot.subject_id)
        if state is SeatState.DROPPED and not seat.bot:
            step.result.outcomes.append(SlotOutcome(
                seat.slot, "connection_failed", "server",
                f"signaling connection lost for longer than the reconnect grace period in game {game.game_id}",
                game.game_id,
            ))
        if state is not SeatState.FINISHED:
            rules = self.rules[game.scene_id]
            remaining = game.live_seats()
            game_over = rules.disconnect_policy == "end" and bool(remaining)
            logger.info(
                "game %s: player %d %s (%s); policy %s%s",
                game.game_id, seat.player_index, state.value, reason, rules.disconnect_policy,
                ", game over" if game_over else "",
            )
            for other in remaining:
                if other.state is SeatState.CONNECTED:
                    step.send(
                        "peer_left",
                        {
                            "game_id": game.game_id,
                            "player_index": seat.player_index,
                            "reason": reason,
                            "policy": rules.disconnect_policy,
                            "game_over": game_over,
                        },
                        other.sid,
                    )
                if game_over:
                    other.state = SeatState.ENDED
                    other.sid = None
                    other.grace_deadline = None
                    self.store.set_slot_game(other.slot, SlotGame(game.game_id, other.state))
        self.store.put_game(game)
        self._close_if_done(step, game)

    def _close_if_done(self, step: Step, game: Game, ended_by: str | None = None) -> None:
        if game.live_seats():
            return
        finished = tuple(s.slot.subject_id for s in game.seats if s.state is SeatState.FINISHED)
        if len(finished) >= 2:
            # Interactive Gym's player groups: who played a game to its end together.
            self.store.put_group(Group(self._new_id(), finished, game.scene_id))
        self.store.delete_game(game.game_id)
        if len(finished) == len(game.seats):
            outcome = "completed"
        elif game.connection_failed:
            outcome = "connection_failed"
        else:
            outcome = "incomplete"
        if outcome == "completed" and game.condition is not None and not game.has_bot:
            self.store.add_condition_completion(game.scene_id, game.condition)
            step.result.completions.append(Completion(game.scene_id, game.condition, game.game_id, utc_now()))
        step.result.ended.append(
            GameEnd(game.game_id, game.scene_id, outcome, {s.player_index: s.state.value for s in game.seats}, ended_by,
                    game.condition)
        )
        logger.info("game %s closed: %s%s", game.game_id, outcome, f" (ended by the {ended_by})" if ended_by else "")

    # ------------------------------------------------------------------ research console

    def end_game(self, game_id: str, message: str) -> Result:
        """The researcher ends a game: every live seat is stopped and told (``game_ended``).

        The ack is ``{ok, game_id, players: [player_index, ...]}`` (the seats that were live),
        or ``not_found`` when no such game is in progress.
        """

        def body(step: Step) -> None:
            game = self.store.get_game(game_id)
            if game is None or not game.live_seats():
                step.refuse("not_found", f"no game {game_id!r} is in progress")
                return
            stopped = []
            for seat in game.live_seats():
                if seat.sid is not None and seat.state is SeatState.CONNECTED:
                    step.send("game_ended", {"game_id": game_id, "reason": "researcher", "message": message}, seat.sid)
                seat.state = SeatState.STOPPED
                seat.sid = None
                seat.grace_deadline = None
                self.store.set_slot_game(seat.slot, SlotGame(game_id, seat.state))
                stopped.append(seat.player_index)
            self.store.put_game(game)
            logger.info("game %s: ended by the researcher (players %s)", game_id, stopped)
            self._close_if_done(step, game, ended_by="researcher")
            step.result.ack = {"ok": True, "game_id": game_id, "players": stopped}

        return self._run(body)

    def member(self, sid: str, game_id: str) -> int | None:
        """The player index of ``sid`` in ``game_id`` when it is a live member, else None."""
        with self.store.reading():
            connection = self.store.get_connection(sid)
            if connection is None:
                return None
            located = self._live_seat(connection.slot)
            if located is None or located[0].game_id != game_id or located[1].sid != sid:
                return None
            return located[1].player_index

    def snapshot(self) -> dict[str, Any]:
        """Waiting rooms, games in progress and condition counts as plain values (the research
        console's view; docs/matchmaking.md).

        ``waiting``: ``[{room, scene_id, group, players_needed, waiters: [{subject_id,
        waited_s, remaining_s, rtt_ms, state, requeues, bot}]}]`` (``rtt_ms``: the waiter's
        median RTT to the server, None before the first sample; ``state``: waiting, probing or
        bot); ``games``: ``[{game_id, scene_id, created_at, condition, seats: [{player_index,
        subject_id, state, bot}], match}]`` (``match``: matcher, reason, estimated and probed
        RTT, path); ``conditions``: ``{scene_id: {condition: {completed, running, target}}}``.
        """
        with self.store.reading():
            now = self._now()
            rooms = []
            for room in sorted(self.store.waiting_rooms()):
                scene_id = room_scene(room)
                rules = self.rules.get(scene_id)
                waiters = []
                for w in self.store.get_waiting(room):
                    history = self.store.get_history(w.slot)
                    state = "waiting"
                    if w.reserved is not None:
                        state = "probing" if self.store.get_probe(w.reserved) is not None else "bot"
                    waiters.append({
                        "subject_id": w.slot.subject_id,
                        "waited_s": round(max(0.0, now - w.since), 3),
                        "remaining_s": round(max(0.0, w.deadline - now), 3),
                        "rtt_ms": None if w.server_rtt_ms is None else round(w.server_rtt_ms, 1),
                        "state": state,
                        "requeues": 0 if history is None else history.requeues,
                        "bot": w.bot,
                    })
                rooms.append({
                    "room": room,
                    "scene_id": scene_id,
                    "group": room.startswith("group:"),
                    "players_needed": rules.players if rules is not None else None,
                    "waiters": waiters,
                })
            games = []
            running: dict[str, dict[str, int]] = {}
            for game_id in self.store.game_ids():
                game = self.store.get_game(game_id)
                if game is None:
                    continue
                if game.condition is not None and not game.has_bot:
                    per_scene = running.setdefault(game.scene_id, {})
                    per_scene[game.condition] = per_scene.get(game.condition, 0) + 1
                games.append({
                    "game_id": game.game_id,
                    "scene_id": game.scene_id,
                    "created_at": game.created_at,
                    "condition": game.condition,
                    "seats": [
                        {"player_index": s.player_index, "subject_id": s.slot.subject_id, "state": s.state.value, "bot": s.bot}
                        for s in game.seats
                    ],
                    "match": dict(game.match),
                })
            conditions = {}
            for scene_id, rules in self.rules.items():
                if rules.conditions:
                    done = self.store.get_condition_counts(scene_id)
                    conditions[scene_id] = {
                        c.name: {"completed": done.get(c.name, 0), "running": running.get(scene_id, {}).get(c.name, 0),
                                 "target": c.target}
                        for c in rules.conditions
                    }
            return {"waiting": rooms, "games": games, "conditions": conditions}

    # ------------------------------------------------------------------ in-game messages

    def _seat_for(self, step: Step, sid: str, game_id: str, event: str) -> tuple[Game, Seat] | None:
        connection = self.store.get_connection(sid)
        if connection is None:
            step.refuse("not_connected", "this socket has no valid signaling ticket")
            return None
        located = self._live_seat(connection.slot)
        if located is None or located[0].game_id != game_id or located[1].sid != sid:
            logger.warning(
                "refused %s from %s (%s) to game %s: not a live member of that game",
                event, sid, connection.slot.key(), game_id,
            )
            step.refuse("not_in_game", f"{event}: this socket is not a live member of game {game_id}")
            return None
        game, seat = located
        if not seat.heard:
            seat.heard = True
            seat.pending = []
            self.store.put_game(game)
        return located

    def _target(self, step: Step, game: Game, seat: Seat, to: int, event: str) -> Seat | None:
        target = game.seat_at(to)
        if target is None or target is seat:
            logger.warning("refused %s in game %s from player %d to player %d: no such peer", event, game.game_id, seat.player_index, to)
            step.refuse("bad_target", f"{event}: game {game.game_id} has no other player {to}")
            return None
        if target.state is not SeatState.CONNECTED:
            step.refuse("peer_unavailable", f"{event}: player {to} is {target.state.value}")
            return None
        return target

    def signal(self, sid: str, message: Signal) -> Result:
        """Relay an SDP offer/answer or ICE candidate to one peer of the sender's game."""

        def body(step: Step) -> None:
            located = self._seat_for(step, sid, message.game_id, "signal")
            if located is None:
                return
            game, seat = located
            signal = {"from": seat.player_index, "kind": message.kind, "data": message.data}
            away = game.seat_at(message.to)
            if away is not None and away is not seat and away.state is SeatState.INTERRUPTED and not away.heard:
                # A seat whose page never had its game_ready (lost with its socket's server
                # process) takes it when it comes back, with the signals sent to it meanwhile.
                if len(away.pending) < MAX_PENDING_SIGNALS:
                    away.pending.append(signal)
                    self.store.put_game(game)
                return
            target = self._target(step, game, seat, message.to, "signal")
            if target is not None:
                if not target.heard and len(target.pending) < MAX_PENDING_SIGNALS:
                    # Its socket may be gone unnoticed (its server process died): kept for the next one.
                    target.pending.append(signal)
                    self.store.put_game(game)
                step.send("signal", {"game_id": game.game_id, **signal}, target.sid)

        return self._run(body)

    def relay(self, sid: str, message: Relay) -> Result:
        """Forward one binary protocol message to a peer (the fallback path without WebRTC)."""

        def body(step: Step) -> None:
            located = self._seat_for(step, sid, message.game_id, "relay")
            if located is None:
                return
            game, seat = located
            target = self._target(step, game, seat, message.to, "relay")
            if target is not None:
                step.send("relay", {"game_id": game.game_id, "from": seat.player_index, "data": message.data}, target.sid)

        return self._run(body)

    def finished(self, sid: str, ref: GameRef) -> Result:
        """The sender's game is over for it (its last episode ended)."""

        def body(step: Step) -> None:
            located = self._seat_for(step, sid, ref.game_id, "finished")
            if located is not None:
                self._depart(step, located[0], located[1], SeatState.FINISHED, "finished")

        return self._run(body)

    def leave(self, sid: str, ref: GameRef) -> Result:
        """The sender gives up its seat before the game is over."""

        def body(step: Step) -> None:
            located = self._seat_for(step, sid, ref.game_id, "leave")
            if located is not None:
                self._depart(step, located[0], located[1], SeatState.LEFT, "left")

        return self._run(body)

    def release(self, slot: Slot) -> Result:
        """The participant left the scene (Stager advanced): give up its place or seat."""

        def body(step: Step) -> None:
            self._leave_waiting_room(step, slot)
            located = self._live_seat(slot)
            if located is not None:
                self._depart(step, located[0], located[1], SeatState.LEFT, "left")

        return self._run(body)

    # ------------------------------------------------------------------ time

    def sweep(self) -> Result:
        """Expire probes, bot fills, waiting-room timeouts and reconnect grace periods that have passed."""

        now = self._now()
        with self.store.reading():
            # Without the lock: most sweeps find nothing due (several processes sweep).
            if not self.store.due(now) and not self._timed_rooms():
                return Result()

        def body(step: Step) -> None:
            now = self._now()
            due = self.store.due(now)
            self._sweep_matching(step, now, due)
            for member in due:
                kind, game_id = member.split(":", 1)
                if kind != "game":
                    continue
                game = self.store.get_game(game_id)
                if game is None:
                    continue
                for seat in game.seats:
                    if seat.state is SeatState.INTERRUPTED and seat.grace_deadline is not None and seat.grace_deadline <= now:
                        self._depart(step, game, seat, SeatState.DROPPED, "disconnected")

        return self._run(body)

    # ------------------------------------------------------------------ reads for the participant flow

    def slot_of(self, sid: str) -> Slot | None:
        """The slot a signaling socket's ticket names (None: no such socket)."""
        with self.store.transaction():
            connection = self.store.get_connection(sid)
            return None if connection is None else connection.slot

    def slot_states(self, slots: list[Slot]) -> dict[Slot, tuple[str, str] | None]:
        """For each slot: (game id, seat state) of its game, or None when it never had one."""
        with self.store.transaction():
            out: dict[Slot, tuple[str, str] | None] = {}
            for slot in slots:
                record = self.store.get_slot_game(slot)
                out[slot] = None if record is None else (record.game_id, record.state.value)
            return out

    def stats(self) -> dict[str, int]:
        with self.store.reading():
            waiting = sum(len(self.store.get_waiting(r)) for r in self.store.waiting_rooms())
            return {"waiting": waiting, "games": len(self.store.game_ids())}
