"""The console's aggregation in Redis, shared by every server process of a study (``--redis``).

A player's telemetry reaches the process that holds its socket; the console may be open on
any other. Layout (``P`` = ``igp2p:<experiment_id>:console:``), records as JSON::

    P lock                     the console's shared lock (its steps are short)
    P games         hash       game id -> GameTelemetry without the timelines
    P timelines     hash       "<game id>/<player index>" -> Timeline (written only when it changed)
    P finished      hash       game id -> FinishedGame
    P finished_tl   hash       game id -> GameTelemetry with timelines (the newest games only)
    P finished_order sorted set game id by end (a counter; the oldest are forgotten first)
    P settings      hash       "recruitment" -> {open, changed_at}

Timelines are kept apart from the newest report so that the live view (every two seconds)
reads one small record per game. The recruitment flag is also written to the data
directory's file, so a restart of every process (or of Redis) keeps it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cluster.records import RedisRecords
from .store import FinishedGame, GameTelemetry, InMemoryConsoleStore, Recruitment
from .timeline import Timeline

if TYPE_CHECKING:  # pragma: no cover
    import redis

GAMES, TIMELINES, FINISHED, FINISHED_TL, SETTINGS = "games", "timelines", "finished", "finished_tl", "settings"
ORDER = "finished_order"

TYPES: dict[str, Any] = {
    GAMES: GameTelemetry, TIMELINES: Timeline, FINISHED: FinishedGame, FINISHED_TL: GameTelemetry, SETTINGS: str,
}


class RedisConsoleStore(RedisRecords):
    """:class:`~.store.ConsoleStore` over Redis (see the module docstring)."""

    def __init__(self, client: "redis.Redis", prefix: str, recruitment_file: Path | None = None, keep_finished: int = 1000,
                 keep_finished_timelines: int = 100) -> None:
        super().__init__(client, prefix, TYPES)
        self.keep_finished = keep_finished
        self.keep_finished_timelines = keep_finished_timelines
        # Reads and writes the file only (the Redis copy is this store's own).
        self._file = InMemoryConsoleStore(recruitment_file=recruitment_file)

    # ------------------------------------------------------------------ games in progress

    def get_game(self, game_id: str, timelines: bool = True) -> GameTelemetry | None:
        game = self._get(GAMES, game_id)
        if game is not None and timelines:
            for index, player in game.players.items():
                timeline = self._get(TIMELINES, f"{game_id}/{index}")
                if timeline is not None:
                    player.timeline = timeline
        return game

    def put_game(self, game: GameTelemetry) -> None:
        bare = dataclasses.replace(
            game, players={i: dataclasses.replace(p, timeline=Timeline(p.timeline.max_points)) for i, p in game.players.items()}
        )
        self._put(GAMES, game.game_id, bare)
        for index, player in game.players.items():
            if len(player.timeline) or self._get(TIMELINES, f"{game.game_id}/{index}") is not None:
                self._put(TIMELINES, f"{game.game_id}/{index}", player.timeline)

    def delete_game(self, game_id: str) -> None:
        game = self._get(GAMES, game_id)
        if game is not None:
            for index in game.players:
                self._delete(TIMELINES, f"{game_id}/{index}")
        self._delete(GAMES, game_id)

    def game_ids(self) -> list[str]:
        return self._fields(GAMES)

    # ------------------------------------------------------------------ finished games

    def add_finished(self, finished: FinishedGame, telemetry: GameTelemetry | None) -> None:
        tx = self._writable()
        self._put(FINISHED, finished.game_id, finished)
        if telemetry is not None:
            self._put(FINISHED_TL, finished.game_id, telemetry)
        else:
            self._delete(FINISHED_TL, finished.game_id)
        order = self.prefix + ORDER
        # Ordered by a counter (wall clocks of two processes may disagree by a few ms).
        tx.ops.append(("zadd", order, finished.game_id, str(self.client.incr(self.prefix + "finished_seq"))))
        # Bounded, oldest first out (the lock is held: no other step changes the order meanwhile).
        newest = [finished.game_id] + [g for g in self.client.zrevrange(order, 0, -1) if g != finished.game_id]
        for gone in newest[self.keep_finished :]:
            self._delete(FINISHED, gone)
            self._delete(FINISHED_TL, gone)
            tx.ops.append(("zrem", order, gone, ""))
        with_timeline = set(self.client.hkeys(self.prefix + FINISHED_TL)) | ({finished.game_id} if telemetry else set())
        kept = [g for g in newest[: self.keep_finished] if g in with_timeline]
        for gone in kept[self.keep_finished_timelines :]:
            self._delete(FINISHED_TL, gone)

    def finished(self, limit: int) -> list[FinishedGame]:
        if limit <= 0:
            return []
        ids = self.client.zrevrange(self.prefix + ORDER, 0, limit - 1)
        return [f for f in (self._get(FINISHED, g) for g in ids) if f is not None]

    def finished_game(self, game_id: str) -> tuple[FinishedGame, GameTelemetry | None] | None:
        finished = self._get(FINISHED, game_id)
        if finished is None:
            return None
        return finished, self._get(FINISHED_TL, game_id)

    # ------------------------------------------------------------------ recruitment

    def get_recruitment(self) -> Recruitment:
        text = self._get(SETTINGS, "recruitment")
        if text is None:
            # First read of this study on this Redis: the file (a restart keeps the flag).
            return self._file.get_recruitment()
        data = json.loads(text)
        return Recruitment(bool(data["open"]), data.get("changed_at"))

    def set_recruitment(self, recruitment: Recruitment) -> None:
        self._put(SETTINGS, "recruitment", json.dumps(recruitment.to_json(), sort_keys=True))
        self._file.set_recruitment(recruitment)

