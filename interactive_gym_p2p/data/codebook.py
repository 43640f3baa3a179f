"""The codebook: every column of every research table, with its type, unit and how it was
measured. The tables (:mod:`.tables`), the files (:mod:`.files`: CSV and Parquet types), the
loader (pandas dtypes) and ``docs/data.md`` all follow it; ``codebook.csv`` in a study zip is
this list. Columns whose names depend on the study are described by a pattern:
``recruitment.<NAME>`` (recruitment ids from the study link), ``info.<key>`` (the scene's
``record_info`` keys) and ``<scene_id>.<element_id>`` (answers of a static scene's form).
"""

from __future__ import annotations

from dataclasses import dataclass

TYPES = ("string", "int", "float", "bool")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    """string, int, float or bool (empty cell = missing)."""
    unit: str
    description: str


def _c(name: str, type_: str, unit: str, description: str) -> Column:
    assert type_ in TYPES
    return Column(name, type_, unit, description)


_GAME = [
    _c("game_id", "string", "", "the game (one match of players in a P2P scene)"),
    _c("scene_id", "string", "", "the P2P scene the game was played in"),
    _c("condition", "string", "", "the experimental condition of the game (matchmaking), empty when the scene has none"),
]
_PLAYER = [
    _c("player_index", "int", "", "the player's seat in the game, 0..n-1 (action and reward lists are in this order)"),
    _c("subject_id", "string", "", "the participant in that seat"),
    _c("bot", "bool", "", "the seat was played by a bot (the headless Python peer), not a person"),
    _c("ai_policy", "string", "", "an AI seat: the policy that chose the seat's actions inside every peer's step (docs/ai.md); no participant, no export, so subject_id is empty; empty for a person or bot"),
    _c("ai_host", "int", "", "a hosted seat (ai_policy is its .onnx file): the player whose page ran the model and sent the seat's actions as its inputs (docs/ai.md); empty for other seats"),
]
_EPISODE = _c("episode", "int", "", "episode number, from 0")
RECRUITMENT = _c("recruitment.<NAME>", "string", "", "a recruitment id of the participant from the study link (e.g. recruitment.PROLIFIC_PID); one column per id seen in the study. From the export's ids.recruitment; in participants from the participant record, else the exports")
INFO = _c("info.<key>", "string", "", "the value of a record_info key the environment reported for this player after this frame's step (numbers and true/false as such, lists and objects as JSON text; the loader makes an all-number column numeric)")
FORM = _c("<scene_id>.<element_id>", "string", "", "the participant's answer in a static scene's form (Interactive Gym's scene data), one column per form element")

COLUMNS: dict[str, list[Column]] = {
    "frames": _GAME + [
        _EPISODE,
        _c("frame", "int", "frame", "game-global frame number (frames do not restart per episode); one step of the environment"),
        _c("step", "int", "frame", "frame number inside the episode, from 0"),
        *_PLAYER,
        RECRUITMENT,
        _c("action", "int", "", "the player's confirmed action on this frame (what every peer simulated; never a prediction)"),
        _c("reward", "float", "", "the player's reward from this frame's step (the step that used the confirmed inputs); empty when the environment reported no rewards and none were derived"),
        _c("reward_source", "string", "", "recorded: from the export (the browser's confirmed step); derived: by replaying the confirmed actions in CPython (--replay); empty: unknown"),
        _c("terminated", "bool", "", "the player's terminated flag after this frame's step"),
        _c("truncated", "bool", "", "the player's truncated flag after this frame's step"),
        INFO,
        _c("hidden", "bool", "", "the player's page was hidden (tab in the background) when its input for this frame was taken: the action is the scene's hidden action, not the participant's; empty when the player's export does not say"),
        _c("verified", "bool", "", "every player's state hash of this frame (or a later one) agreed: the frame is proven identical on every peer"),
    ],
    "inputs": _GAME + _PLAYER + [
        _c("episode", "int", "", "the episode of the frame the key went into (empty when none)"),
        _c("key", "string", "", "the key (KeyboardEvent.key), only keys the scene's action mapping uses"),
        _c("event", "string", "", "down (pressed) or up (released); auto-repeat is not recorded"),
        _c("epoch_ms", "int", "ms since 1970-01-01 UTC", "wall-clock time of the key event"),
        _c("time", "string", "ISO 8601 UTC", "epoch_ms as text"),
        _c("t_ms", "float", "ms", "the event's own monotonic time (KeyboardEvent.timeStamp) since the game's first frame, 0.001 ms resolution; negative: before the game started"),
        _c("frame", "int", "frame", "the frame whose local input took the key (the next input the session took after the event: the frame on screen + 1 + the input delay when the game ran smoothly)"),
        _c("screen_frame", "int", "frame", "the newest frame drawn before the key event: what the participant was looking at"),
        _c("screen_predicted", "bool", "", "that frame was simulated with some player's input not yet confirmed (a prediction)"),
        _c("screen_corrected", "bool", "", "a rollback re-simulated that frame afterwards (an input at or before it had been predicted wrong): the participant saw a state that was later changed; empty when the frame was never confirmed"),
        _c("shown_ms", "float", "ms", "when the first frame at or after `frame` was drawn (same clock as t_ms)"),
        _c("display_lag_ms", "float", "ms", "shown_ms - t_ms: from the key to the first drawn frame that includes it"),
    ],
    "episodes": _GAME + [
        _EPISODE,
        *_PLAYER,
        _c("seed", "int", "", "the seed the environment was reset with for this episode"),
        _c("start_frame", "int", "frame", "game-global frame of the episode's first step"),
        _c("end_frame", "int", "frame", "last frame of the episode (empty: it did not finish)"),
        _c("length", "int", "frames", "confirmed frames of the episode"),
        _c("return", "float", "", "sum of the player's rewards over the episode's confirmed frames (empty: rewards unknown)"),
        _c("reward_source", "string", "", "recorded, derived or empty, as in frames"),
        _c("end_reason", "string", "", "terminated or truncated (the environment's flags), max_steps (the scene's cap), desync (a peer's environment ended it where this one did not), incomplete (the game ended first)"),
        _c("input_delay", "int", "frames", "the input delay the player used in this episode, as every peer agreed at its start (export episodes[].input_delays: fixed by the scene, or chosen per player from the network by input_delay='auto'); empty for a player gone before the episode started, or an older export"),
        _c("hidden_frames", "int", "frames", "frames of the episode whose input the player's hidden page took"),
        _c("verified_frame", "int", "frame", "the highest frame of the episode whose hash every player agreed on"),
    ],
    "events": _GAME + [
        _c("player_index", "int", "", "the player whose export (or record) reports the event"),
        _c("subject_id", "string", "", "that player's participant"),
        _c("kind", "string", "", "connection, desync, hidden, exclusion, divergence or outcome"),
        _c("event", "string", "", "connection: interrupted, resumed, disconnected, left, excluded (the peer was excluded), away (its page went away with its seat held), rejoined (it came back after a reload); desync: desync; hidden: hidden, visible; exclusion: excluded (this player, for staying hidden past max_hidden_s; other exclusions are outcome rows); divergence: diverged; outcome: the participant's outcome (completed, partner_left, excluded, ...)"),
        _c("time", "string", "ISO 8601 UTC", "when it happened (empty when unknown)"),
        _c("frame", "int", "frame", "the frame it happened at (empty when unknown)"),
        _c("peer_index", "int", "", "the other player concerned (connection, desync)"),
        _c("detail", "string", "JSON", "the rest of the event (hashes, reason, code, ...) as JSON text"),
    ],
    "players": _GAME + _PLAYER + [
        _c("uploaded", "bool", "", "the player's export reached the server"),
        _c("partial", "bool", "", "the export was written before the game ended"),
        _c("confirmed_frames", "int", "frames", "confirmed frames in the player's export"),
        _c("verified_frame", "int", "frame", "the highest frame every player's hashes agreed on (server comparison)"),
        _c("desyncs", "int", "", "hash mismatches the player saw"),
        _c("rtt_p50_ms", "float", "ms", "median round-trip time to the peers"),
        _c("rtt_p95_ms", "float", "ms", "95th percentile round-trip time"),
        _c("rollbacks", "int", "", "rollbacks the player's engine did"),
        _c("max_rollback_depth", "int", "frames", "the deepest rollback"),
        _c("stalled_frames", "int", "ticks", "ticks the engine could not advance (waiting for a peer)"),
        _c("path", "string", "", "the connection: direct, relay (TURN), fallback (server relay)"),
        _c("fps_achieved", "float", "frames/s", "frames advanced per second of wall time"),
        _c("started_at", "string", "ISO 8601 UTC", "when the game started for this player"),
        _c("ended_at", "string", "ISO 8601 UTC", "when it ended (or the export was written)"),
        _c("hidden_s", "float", "s", "total time the player's page was hidden"),
        _c("key_events", "int", "", "key events in the player's input log"),
        _c("keys_on_predicted", "float", "fraction", "share of key events made while a predicted frame was on screen"),
        _c("keys_on_corrected", "float", "fraction", "share of key events made while a frame that a rollback later changed was on screen"),
        _c("display_lag_mean_ms", "float", "ms", "mean display lag of the player's key presses (inputs.display_lag_ms, key down only)"),
        _c("display_lag_p95_ms", "float", "ms", "95th percentile of the same (nearest rank)"),
        _c("key_to_screen_p50_ms", "float", "ms", "median key-to-screen latency the browser measured (export stats.key_to_screen_ms: keydown to the display callback of the first frame including the input); empty when not measured (a Python peer, no key pressed, an older export)"),
        _c("key_to_screen_p95_ms", "float", "ms", "the same, 95th percentile"),
        _c("key_to_screen_samples", "int", "", "key presses behind those percentiles (0: none measured; empty: an older export)"),
        _c("rejoins", "int", "", "times the player's page was reloaded mid-game and rebuilt the game (export rejoins, docs/rollback.md); its rows were re-simulated and checked like anyone's; empty: an older export"),
    ],
    "participants": [
        _c("subject_id", "string", "", "the participant"),
        _c("bot", "bool", "", "a bot the server started to fill a seat (the headless Python peer), not a person: leave it out when counting participants"),
        RECRUITMENT,
        _c("games", "string", "", "the games the participant played, separated by ';'"),
        _c("conditions", "string", "", "the conditions of those games, separated by ';'"),
        _c("outcome", "string", "", "how the participant's study ended: completed, partner_left, lobby_timeout, connection_failed, excluded, study_full, error (empty: not recorded)"),
        _c("outcome_reason", "string", "", "why (e.g. screening, hidden, inactive for excluded)"),
        _c("completion_code", "string", "", "the completion code the participant was given"),
        _c("started_at", "string", "ISO 8601 UTC", "first connection"),
        _c("ended_at", "string", "ISO 8601 UTC", "when the outcome was recorded"),
        FORM,
    ],
}

TABLE_NAMES = ("frames", "inputs", "episodes", "events", "players", "participants")


def column_type(table: str, column: str) -> str:
    """The type of a (possibly dynamic) column; dynamic columns are strings."""
    for c in COLUMNS[table]:
        if c.name == column:
            return c.type
    return "string"


def codebook_rows() -> list[list[str]]:
    """``codebook.csv``: table, column, type, unit, description."""
    return [[t, c.name, c.type, c.unit, c.description] for t in TABLE_NAMES for c in COLUMNS[t]]
